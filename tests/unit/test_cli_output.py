"""How `kubectl access` prints requests: tables, -o json|yaml, and `show`."""

from __future__ import annotations

import json

import yaml

from gatepass.cli.output import (
    REQUEST_COLUMNS,
    access_text,
    as_list,
    dump,
    requests_table,
    show_request,
    table,
    utc,
)

from .cli_fakes import request_obj, review


def test_tables_align_columns_three_spaces_apart_without_trailing_blanks():
    assert table(("A", "LONGER"), [["xxxx", "y"], ["z", ""]]) == "A      LONGER\nxxxx   y\nz\n"


def test_times_are_utc():
    assert utc("2026-11-24T10:30:00+01:00") == "2026-11-24 09:30:00"
    assert utc(None) == "" and utc("") == "" and utc("garbage") == ""


def test_the_request_table_has_the_seed_columns():
    approved = request_obj("b", "Approved", expiresAt="2026-11-24T10:31:00Z")
    wide = request_obj("c", None, namespaces=(), policy=None)
    lines = requests_table([request_obj("a"), approved, wide]).splitlines()
    assert REQUEST_COLUMNS == ("ID", "USER", "ROLES", "NAMESPACES", "CREATED (UTC)", "STATUS", "EXPIRES (UTC)")
    assert lines[0].startswith("ID   USER   ROLES   NAMESPACES       CREATED (UTC)         STATUS     EXPIRES (UTC)")
    assert lines[1].split() == ["a", "bob", "dba", "payments", "2026-11-24", "09:30:00", "Pending"]
    assert lines[2].split() == ["b", "bob", "dba", "payments", "2026-11-24", "09:30:00", "Approved",
                                "2026-11-24", "10:31:00"]
    assert lines[3].split() == ["c", "bob", "dba", "(cluster-wide)", "2026-11-24", "09:30:00", "Pending"]


def test_json_and_yaml_are_the_real_objects_without_managed_fields():
    obj = request_obj()
    for text in (dump(obj, "json"), dump(obj, "yaml")):
        loaded = json.loads(text) if text.startswith("{") else yaml.safe_load(text)
        assert loaded["spec"] == obj["spec"] and loaded["status"] == obj["status"]
        assert "managedFields" not in loaded["metadata"]
        assert loaded["metadata"]["name"] == obj["metadata"]["name"]
    assert "managedFields" in obj["metadata"]  # the caller's object is left alone


def test_several_objects_are_a_v1_list():
    listed = json.loads(dump(as_list([request_obj("a"), request_obj("b")]), "json"))
    assert listed["apiVersion"] == "v1" and listed["kind"] == "List"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["a", "b"]
    assert all("managedFields" not in i["metadata"] for i in listed["items"])


def test_show_says_who_what_why_until_when_and_who_said_what():
    obj = request_obj(state="Approved", granted=True, grantedAt="2026-11-24T09:31:00Z",
                      expiresAt="2026-11-24T10:31:00Z",
                      reviews=[review("alice", reason="proceed with caution"), review("ivan", reason="ok")])
    text = show_request(obj)
    for line in ("Name:                bob-dba-x7k2q",
                 "User:                bob (groups developers)",
                 "Roles:               dba",
                 "Namespaces:          payments",
                 "Reason:              ticket #123",
                 "Suggested reviewers: alice, ivan",
                 "Created:             2026-11-24 09:30:00 UTC",
                 "Policy:              demo-dba",
                 "Status:              Approved",
                 "Access:              granted 2026-11-24 09:31:00 UTC, expires 2026-11-24 10:31:00 UTC",
                 "Approvals (2):",
                 "  alice      2026-11-24 09:31:00   proceed with caution",
                 "  ivan       2026-11-24 09:31:00   ok",
                 "Denials (0):  <none>"):
        assert line in text.splitlines(), line


def test_show_a_denied_request():
    text = show_request(request_obj(state="Denied", reviews=[review("ivan", "Deny", "not now")]))
    assert "Approvals (0):  <none>" in text
    assert "Denials (1):" in text and "  ivan       2026-11-24 09:31:00   not now" in text


def test_show_a_pending_request_says_when_it_expires():
    text = show_request(request_obj(requestExpiresAt="2026-11-24T10:30:00Z"))
    assert "Request expires:     2026-11-24 10:30:00 UTC" in text
    assert "Access:              1h once approved" in text


def test_show_a_request_nobody_governs_says_why_it_was_denied():
    obj = request_obj(state="Denied", conditions=[{"type": "Denied", "status": "True", "reason": "NoPolicy",
                                                   "message": "No AccessPolicy allows this request any more"}])
    assert "Denied because:      No AccessPolicy allows this request any more" in show_request(obj)


def test_access_across_the_lifecycle():
    assert access_text(request_obj()) == "1h once approved"
    scheduled = request_obj()
    scheduled["spec"]["startTime"] = "2026-11-24T12:00:00Z"
    assert access_text(scheduled) == "1h once approved, not before 2026-11-24 12:00:00 UTC"
    waiting = request_obj(state="Approved", granted=False, grantedAt="2026-11-24T12:00:00Z",
                          expiresAt="2026-11-24T13:00:00Z")
    assert access_text(waiting) == "starts 2026-11-24 12:00:00 UTC, expires 2026-11-24 13:00:00 UTC"
    expired = request_obj(state="Expired", grantedAt="2026-11-24T12:00:00Z", expiresAt="2026-11-24T13:00:00Z")
    assert access_text(expired) == "2026-11-24 12:00:00 UTC to 2026-11-24 13:00:00 UTC"
    revoked = request_obj(state="Revoked", grantedAt="2026-11-24T12:00:00Z", expiresAt="2026-11-24T13:00:00Z",
                          conditions=[{"type": "Revoked", "status": "True", "reason": "Revoked", "message": "",
                                       "lastTransitionTime": "2026-11-24T12:10:00Z"}])
    assert access_text(revoked) == "granted 2026-11-24 12:00:00 UTC, revoked 2026-11-24 12:10:00 UTC"
    assert access_text(request_obj(state="Denied")) == "<none>"


def test_show_says_which_reviews_came_from_slack_or_a_rule():
    slack = {**review("alice", reason="from Slack by @alice"), "via": "Slack"}
    rule = {**review("gatepass:rules", reason="rule short-oncall: on call", groups=()), "via": "Rule"}
    text = show_request(request_obj(state="Approved", reviews=[slack, rule]))
    assert "alice (via Slack)" in text
    assert "gatepass:rules (via Rule)" in text
    plain = show_request(request_obj(state="Denied", reviews=[review("ivan", "Deny", "not now")]))
    assert "(via" not in plain


def test_wide_adds_the_policy_the_counts_and_the_reason():
    from gatepass.cli.output import WIDE_COLUMNS

    denied = request_obj("d", "Denied", reviews=[review("ivan", "Deny", "use the replica")])
    lines = requests_table([request_obj("a"), denied], wide=True).splitlines()
    assert WIDE_COLUMNS == ("POLICY", "APPROVALS", "DENIALS", "REASON")
    assert lines[0].split()[-4:] == ["POLICY", "APPROVALS", "DENIALS", "REASON"]
    assert lines[0].startswith(requests_table([request_obj("a")]).splitlines()[0].rstrip())
    a, d = (line.split() for line in lines[1:])
    assert a[:7] == ["a", "bob", "dba", "payments", "2026-11-24", "09:30:00", "Pending"]
    assert d[-5:] == ["demo-dba", "0", "1", "ticket", "#123"]


def test_name_lines_are_kubectls():
    from gatepass.cli.output import name_lines

    assert name_lines([request_obj("a"), request_obj("b")]) == \
        "accessrequest.gatepass.dev/a\naccessrequest.gatepass.dev/b\n"
    assert name_lines([]) == ""


def test_show_says_what_carries_a_grant_with_its_own_credential_and_how_to_log_in():
    from gatepass.cli import output
    from .cli_fakes import request_obj

    cert = request_obj("bob-dba-7xk2q", "Approved", granted=True, expiresAt="2026-11-24T10:31:00Z",
                       credential={"mode": "certificate", "group": "gatepass:grant:6d1c"})
    assert "Credential:          certificate for group gatepass:grant:6d1c (log in with: kubectl access login " \
           "bob-dba-7xk2q)\n" in output.show_request(cert)
    token = request_obj("bob-dba-7xk2q", "Revoked", granted=False, expiresAt="2026-11-24T10:31:00Z",
                        credential={"mode": "token", "namespace": "gatepass-credentials",
                                    "serviceAccount": "gatepass-grant-0a1b", "secret": "gatepass-grant-0a1b"})
    assert output.credential_text(token) == "token of ServiceAccount gatepass-credentials/gatepass-grant-0a1b"
    assert output.credential_text(request_obj("bob-dba-7xk2q", "Approved", granted=True)) == ""
    assert "Credential" not in output.show_request(request_obj("bob-dba-7xk2q", "Approved", granted=True))
