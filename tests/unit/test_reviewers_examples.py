"""The example reviewers' rules: tickets for contractors, registered devices for admin, on-call wiring."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from gatepass.reviewers import Abstain, Approve, Deny, ReviewRequest

from .reviewer_fakes import request_obj

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "reviewers"


def load(name: str, monkeypatch: pytest.MonkeyPatch | None = None, **env: str):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location(f"example_reviewer_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tickets():
    return load("tickets")


@pytest.fixture(scope="module")
def devices():
    return load("devices")


class Open:
    def __init__(self, *tickets: str) -> None:
        self.tickets = set(tickets)

    def is_open(self, ticket: str) -> bool:
        return ticket in self.tickets


def carol(reason: str, groups=("contractors",), **spec) -> ReviewRequest:
    return ReviewRequest.from_body(request_obj(user="carol", groups=groups, reason=reason, **spec))


# -- tickets --------------------------------------------------------------------------

@pytest.mark.parametrize("reason, result", [
    ("PAY-123: refunds stuck", Approve("ticket PAY-123 is open")),
    ("see OPS-1 and PAY-123", Approve("ticket PAY-123 is open")),
    ("debugging", Deny("a contractor's reason must cite an open ticket (e.g. PAY-123)")),
    ("ticket #123", Deny("a contractor's reason must cite an open ticket (e.g. PAY-123)")),
    ("pay-123", Deny("a contractor's reason must cite an open ticket (e.g. PAY-123)")),
    ("PAY-999", Deny("ticket PAY-999 is not open")),
    ("PAY-998, PAY-999, PAY-998", Deny("tickets PAY-998, PAY-999 are not open")),
])
def test_contractors_need_an_open_ticket(tickets, reason, result):
    assert tickets.ticket_reviewer(Open("PAY-123"))(carol(reason)) == result


def test_others_are_left_to_the_other_reviewers(tickets):
    review = tickets.ticket_reviewer(Open())
    assert review(carol("debugging", groups=("developers",))) == Abstain()
    assert tickets.ticket_reviewer(Open(), groups=["vendors"])(carol("x", groups=("vendors",))).decision == "Deny"


def test_ticket_files(tickets, tmp_path: Path):
    path = tmp_path / "open.yaml"
    for content in ("[PAY-123]", "open: [PAY-123]", json.dumps({"PAY-123": "Open", "PAY-7": "closed"})):
        path.write_text(content)
        lookup = tickets.FileTickets(path)
        assert lookup.is_open("PAY-123") and not lookup.is_open("PAY-7")
    path.write_text("just text")
    with pytest.raises(ValueError, match="list of open ticket IDs"):
        tickets.FileTickets(path).is_open("PAY-123")
    with pytest.raises(FileNotFoundError):
        tickets.FileTickets(tmp_path / "absent.yaml").is_open("PAY-123")
    shipped = tickets.FileTickets(EXAMPLES / "open-tickets.yaml")
    assert shipped.is_open("PAY-123")


def test_tickets_in(tickets):
    assert tickets.tickets_in("PAY-123, OPS-7 and again PAY-123; not A-1 nor x-PAY-12y") == ["PAY-123", "OPS-7"]


# -- devices --------------------------------------------------------------------------

class Registry:
    def __init__(self, **owners: str) -> None:
        self.owners = owners

    def owner(self, device: str) -> str | None:
        return self.owners.get(device)


def admin(user: str = "bob", device: str | None = None, roles=("admin",)) -> ReviewRequest:
    labels = {"gatepass.dev/device": device} if device else {}
    return ReviewRequest.from_body(request_obj(user=user, groups=("developers",), roles=roles, labels=labels))


@pytest.mark.parametrize("request_, result", [
    (admin(device="laptop-1"), Approve("device laptop-1 is registered to bob")),
    (admin(device="laptop-1", roles=("dba", "admin")), Approve("device laptop-1 is registered to bob")),
    (admin(), Deny("admin is granted only to a registered device: label the request gatepass.dev/device=<device id>")),
    (admin(device="laptop-9"), Deny("device laptop-9 is not registered")),
    (admin(user="carol", device="laptop-1"), Deny("device laptop-1 is not registered to carol")),
    (admin(roles=("dba",)), Abstain()),
])
def test_admin_only_from_a_registered_device(devices, request_, result):
    assert devices.device_reviewer(Registry(**{"laptop-1": "bob"}))(request_) == result


def test_device_file(devices):
    registry = devices.FileDevices(EXAMPLES / "devices.yaml")
    assert registry.owner("laptop-91ad") == "dave" and registry.owner("nope") is None


# -- on-call wiring ----------------------------------------------------------------------

def test_oncall_example_reads_its_configuration(monkeypatch, tmp_path: Path):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    example = load("oncall", monkeypatch, PAGERDUTY_TOKEN_FILE=str(token), PAGERDUTY_ESCALATION_POLICY="PEP1",
                   PAGERDUTY_USERS=str(EXAMPLES / "pagerduty-users.yaml"), PAGERDUTY_API_URL="http://127.0.0.1:9/")
    pagerduty = example.pagerduty
    assert pagerduty.api_url == "http://127.0.0.1:9"
    assert pagerduty.username("dave@example.com") == "dave"
    assert pagerduty.username("alice@example.com") is None  # with a mapping, unmapped emails stand for nobody
    assert pagerduty.services["payments"].escalation_policy_ids == ("PEP1",)
    assert "Token token=s3cret" in pagerduty._headers.values()
    # Only dba for up to an hour is for on-call approval; the rest is left to people, without asking PagerDuty.
    assert example.review(admin(roles=("admin",))) == Abstain("on-call approval does not cover admin")


def test_oncall_example_without_a_mapping_takes_emails_as_usernames(monkeypatch):
    for key in ("PAGERDUTY_USERS", "PAGERDUTY_TOKEN_FILE"):
        monkeypatch.delenv(key, raising=False)
    example = load("oncall", monkeypatch, PAGERDUTY_TOKEN="s3cret", PAGERDUTY_ESCALATION_POLICY="PEP1")
    assert example.pagerduty.username("alice@example.com") == "alice@example.com"


# -- the example policies ------------------------------------------------------------------

def test_example_policies_are_valid_and_name_the_bots():
    import yaml

    from gatepass.api.accesspolicy import AccessPolicy
    from gatepass.api.parsing import parse_object

    documents = list(yaml.safe_load_all((EXAMPLES / "policy.yaml").read_text()))
    assert {d["metadata"]["name"] for d in documents} == {"contractors-dba", "break-glass-oncall"}
    for document in documents:
        policy = parse_object(AccessPolicy, document)
        assert {"review-bot", "system:serviceaccount:gatepass-reviewers:review-bot"} <= set(policy.spec.reviewers.users)
        assert policy.metadata.name < "demo-dba"  # tried before the demo's policy, which would govern first
