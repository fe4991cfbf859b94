"""On-call break-glass: approve `dba` in payments for whoever PagerDuty says is on call for it.

The requester must be on call, at the first escalation level, on the
payments escalation policy; the request must ask only for ``dba`` and for at
most an hour. Anything else is left to the other reviewers (this reviewer
never denies). Configuration comes from the environment:

    PAGERDUTY_TOKEN               a read-only REST API token (or PAGERDUTY_TOKEN_FILE, a file holding it)
    PAGERDUTY_ESCALATION_POLICY   the payments escalation policy's ID (e.g. P1ABCDE)
    PAGERDUTY_USERS               optional: a YAML file mapping PagerDuty emails to Kubernetes usernames
                                  (the safer choice: an email it does not map stands for nobody);
                                  without it, a PagerDuty user's email is their Kubernetes username
    PAGERDUTY_API_URL             optional: https://api.pagerduty.com (default), https://api.eu.pagerduty.com

    gatepass-reviewer examples/reviewers/oncall.py:review --context review-bot
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from gatepass.reviewers.oncall import PAGERDUTY_API, PagerDutyOnCall, PagerDutyService, oncall_reviewer


def _token() -> str:
    path = os.environ.get("PAGERDUTY_TOKEN_FILE")
    return Path(path).read_text().strip() if path else os.environ.get("PAGERDUTY_TOKEN", "")


def _users() -> dict[str, str] | None:
    path = os.environ.get("PAGERDUTY_USERS")
    return dict(yaml.safe_load(Path(path).read_text()) or {}) if path else None


pagerduty = PagerDutyOnCall(
    _token(),
    services={"payments": PagerDutyService(escalation_policy_ids=(os.environ["PAGERDUTY_ESCALATION_POLICY"],))},
    users=_users(),
    api_url=os.environ.get("PAGERDUTY_API_URL", PAGERDUTY_API),
)

review = oncall_reviewer(pagerduty, service="payments", roles=["dba"], max_duration="1h")
