"""Policy rules: CEL expressions in an AccessPolicy that approve or deny requests without a human."""

from __future__ import annotations

import json

import pytest

from .helpers import (can_i, get, policy_body, refused, request_manifest, review_manifest, unique, wait_for,
                      wait_state)

pytestmark = pytest.mark.e2e

OPERATOR = "system:serviceaccount:gatepass-system:gatepass-operator"
SHORT_ONCALL = {"name": "short-oncall", "decision": "Approve",
                "expression": "request.duration <= duration('1h') && 'oncall' in user.groups",
                "reason": "on call, for an hour at most"}
NO_PROD = {"name": "no-prod", "decision": "Deny",
           "expression": "has(request.labels.env) && request.labels.env == 'prod'",
           "reason": "production access goes through the change board"}


def policy_manifest(name: str, role: str, namespace: str, rules: list[dict]) -> str:
    return json.dumps(policy_body(name, role, (namespace,), maxDuration="8h", rules=rules))


@pytest.fixture
def ruled(gatepass, namespace):
    """A policy of its own offering a role of its own in a fresh namespace, so that no other
    test's requests fall under it; yields a function that files a request under it."""
    policy, role = unique("t-rules"), unique("oncall")
    gatepass.kubectl("apply", "-f", "-", input=policy_manifest(policy, role, namespace, [NO_PROD, SHORT_ONCALL]))

    def request(user: str, duration: str, labels: dict | None = None) -> str:
        name = unique(f"{user}-rule")
        manifest = json.loads(request_manifest(name, roles=[role], namespaces=[namespace], duration=duration))
        if labels:
            manifest["metadata"]["labels"] = labels
        gatepass.kubectl("apply", "-f", "-", user=user, input=json.dumps(manifest))
        return name

    try:
        yield request, policy, namespace
    finally:
        gatepass.kubectl("delete", "accesspolicy", policy, check=False)


def test_a_short_request_from_someone_on_call_is_approved_by_the_rule(gatepass, ruled):
    request, policy, namespace = ruled
    long = request("dave", "4h")
    short = request("dave", "30m")

    body = wait_state(gatepass, short, "Approved")
    [review] = body["status"]["reviews"]
    assert (review["reviewer"], review["via"], review["decision"], review["review"], review["submitter"]) == (
        "gatepass:rules", "Rule", "Approve", f"{short}-rule", OPERATOR)
    assert review["reason"] == "rule short-oncall: on call, for an hour at most"
    assert any(c["type"] == "Approved" and c["message"] == "Approved by gatepass:rules"
               for c in body["status"]["conditions"])
    stored = get(gatepass, "accessreview", f"{short}-rule")
    assert stored["spec"]["rule"] == "short-oncall"
    assert stored["spec"]["reviewer"] == {"username": "gatepass:rules", "uid": "", "groups": []}
    wait_for(lambda: can_i(gatepass, "dave", namespace=namespace) == "yes", what="dave's access")

    # Four hours is more than the rule allows: the request waits for its reviewers, who still decide.
    assert wait_state(gatepass, long, "Pending")["status"]["reviews"] == []
    assert gatepass.kubectl("get", "accessreview", f"{long}-rule", check=False).returncode != 0
    gatepass.kubectl("annotate", "accessrequest", long, "gatepass.dev/approve=fine", user="alice")
    assert [r["reviewer"] for r in wait_state(gatepass, long, "Approved")["status"]["reviews"]] == ["alice"]

    for name in (short, long):
        gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/revoke=done", user="dave")
    wait_for(lambda: can_i(gatepass, "dave", namespace=namespace) == "no", what="dave's access to end")


def test_a_deny_rule_denies_before_any_approve_rule(gatepass, ruled):
    request, policy, namespace = ruled
    name = request("dave", "30m", labels={"env": "prod"})  # short-oncall holds too
    body = wait_state(gatepass, name, "Denied")
    [review] = body["status"]["reviews"]
    assert (review["reviewer"], review["via"], review["decision"]) == ("gatepass:rules", "Rule", "Deny")
    assert review["reason"] == "rule no-prod: production access goes through the change board"
    assert any(c["type"] == "Denied" and c["message"] == "Denied by gatepass:rules"
               for c in body["status"]["conditions"])
    assert can_i(gatepass, "dave", namespace=namespace) == "no"


def test_a_request_no_rule_covers_is_left_to_the_reviewers(gatepass, ruled):
    request, policy, namespace = ruled
    name = request("bob", "30m")  # bob is not on call
    wait_state(gatepass, name, "Pending")
    gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/deny=not now", user="ivan")
    body = wait_state(gatepass, name, "Denied")
    assert [(r["reviewer"], r["via"]) for r in body["status"]["reviews"]] == [("ivan", "annotation")]


def test_a_rule_that_fails_is_reported_and_approves_nothing(gatepass, namespace):
    policy, role = unique("t-rules"), unique("oncall")
    broken = {"name": "risky", "decision": "Deny", "expression": "request.labels['risk'] == 'high'"}
    gatepass.kubectl("apply", "-f", "-", input=policy_manifest(policy, role, namespace, [broken, SHORT_ONCALL]))
    try:
        name = unique("dave-rule")
        gatepass.kubectl("apply", "-f", "-", user="dave", input=request_manifest(
            name, roles=[role], namespaces=[namespace], duration="30m"))

        def warnings() -> list[str]:
            out = json.loads(gatepass.kubectl("get", "events", "-n", "default", "--field-selector",
                                              f"involvedObject.name={name},reason=RuleFailed", "-o", "json").stdout)
            return sorted(event["message"] for event in out["items"])

        messages = wait_for(lambda: len(warnings()) == 2 and warnings(), what="the RuleFailed events")
        assert messages == [
            f"Rule risky of AccessPolicy {policy} counts as not holding: no such key: risk",
            f"Rule short-oncall of AccessPolicy {policy} holds but was not applied while a Deny rule cannot be "
            "evaluated; the request waits for its reviewers",
        ]
        assert get(gatepass, "accessrequest", name)["status"]["state"] == "Pending"
    finally:
        gatepass.kubectl("delete", "accesspolicy", policy, check=False)


@pytest.mark.parametrize("expression, error", [
    ("request.duration <= duration('1h') &&& 'oncall' in user.groups",
     "rule short-oncall: syntax error at line 1, column 38: unexpected '&'"),
    ("'oncall' in usr.groups", "rule short-oncall: undeclared reference to 'usr' (the variables are request and user)"),
    ("user.username", "rule short-oncall: the expression must give a bool: it gave a string, not a bool"),
    # Costly: 256 namespaces make 65,536 evaluations of the inner body. Refused before any evaluation.
    ("request.namespaces.all(a, request.namespaces.all(b, a == b || a != b))",
     "rule short-oncall: all() within all(): comprehensions may not be nested or chained"),
    ("[" + ",".join(["1"] * 300) + "].exists(x, x == size(request.roles))",
     "rule short-oncall: a list literal of 300 elements; at most 64 are allowed"),
])
def test_a_bad_expression_is_refused_at_admission(gatepass, expression, error):
    policy = unique("t-badrule")
    rule = {**SHORT_ONCALL, "expression": expression}
    result = gatepass.kubectl("apply", "-f", "-", check=False,
                              input=policy_manifest(policy, "oncall", "payments", [rule]))
    message = refused(result)
    assert f"invalid AccessPolicy: {error}" in message
    assert len(message.splitlines()) == 1
    assert gatepass.kubectl("get", "accesspolicy", policy, check=False).returncode != 0


def test_only_the_operator_may_file_a_rule_review(gatepass, ruled):
    request, policy, namespace = ruled
    name = request("bob", "30m")
    wait_state(gatepass, name, "Pending")
    for user in ("alice", "admin"):
        result = gatepass.kubectl("apply", "-f", "-", user=user, check=False,
                                  input=review_manifest(unique("forged"), name, rule="short-oncall"))
        assert f"spec.rule may be set only by the Gatepass operator, not by {user}" in refused(result)
    body = get(gatepass, "accessrequest", name)
    assert (body["status"]["state"], body["status"]["reviews"]) == ("Pending", [])


# ------------------------------------------------- nothing the requester sets approves
# Approve rules that read what the requester sets, each reached a different way.
SELF_APPROVALS = [
    ("has(request.labels.ticket) && request.labels.ticket.startsWith('INC-')", "request.labels"),  # the report's
    ("request['labels']['ticket'] == 'INC-0'", "request.labels"),
    ("request.labels.exists(k, k == 'ticket')", "request.labels"),
    ("request.reason.startsWith('INC-')", "request.reason"),
    ("request.name.startsWith('inc-')", "request.name"),
    ("'alice' in request.reviewers", "request.reviewers"),
    ("string(request).contains('INC-')", "request as a whole"),
    ("dyn(request).labels.ticket == 'INC-0'", "request as a whole"),
    ("[request].exists(r, r.reason == 'INC-0')", "request as a whole"),
    ("request.exists(f, f == 'labels')", "request.exists() (over all its fields)"),
]


@pytest.mark.parametrize("expression, read", SELF_APPROVALS)
def test_an_approve_rule_that_reads_what_the_requester_sets_is_refused(gatepass, expression, read):
    policy = unique("t-selfrule")
    rule = {"name": "ticket", "decision": "Approve", "expression": expression}
    result = gatepass.kubectl("apply", "-f", "-", check=False,
                              input=policy_manifest(policy, "oncall", "payments", [rule]))
    message = refused(result)
    assert f"invalid AccessPolicy: rule ticket: an Approve rule may not read {read}: the requester sets " in message
    assert "a Deny rule may read anything" in message
    assert len(message.splitlines()) == 1
    assert gatepass.kubectl("get", "accesspolicy", policy, check=False).returncode != 0


def test_bob_cannot_approve_his_own_request_with_anything_he_sets(gatepass, namespace):
    """The same expressions are accepted as Deny rules; beside an Approve rule on who asks, nothing bob
    writes into his request (labels, reason, name, suggested reviewers, relabelling) gets it approved."""
    policy, role = unique("t-selfrule"), unique("oncall")
    # Deny rules may read anything: these never hold for bob's request, whatever he writes.
    denies = [{"name": f"deny-{i}", "decision": "Deny", "expression": f"({expression}) && false"}
              for i, (expression, _) in enumerate(SELF_APPROVALS)]
    gatepass.kubectl("apply", "-f", "-", input=policy_manifest(policy, role, namespace, [*denies, SHORT_ONCALL]))
    try:
        name = unique("inc")
        manifest = json.loads(request_manifest(name, roles=[role], namespaces=[namespace], duration="30m",
                                               reason="INC-0", reviewers=["alice"]))
        manifest["metadata"]["labels"] = {"ticket": "INC-0"}
        gatepass.kubectl("apply", "-f", "-", user="bob", input=json.dumps(manifest))
        body = wait_state(gatepass, name, "Pending")  # reconciled: its rules have been evaluated
        gatepass.kubectl("label", "accessrequest", name, "ticket=INC-1", "--overwrite", user="bob")
        # dave, on call, files the same: the rules do run and approve him, by who he is.
        daves = unique("dave-rule")
        gatepass.kubectl("apply", "-f", "-", user="dave", input=request_manifest(
            daves, roles=[role], namespaces=[namespace], duration="30m"))
        wait_state(gatepass, daves, "Approved")
        wait_for(lambda: get(gatepass, "accessrequest", name)["metadata"]["labels"]["ticket"] == "INC-1"
                 and get(gatepass, "accessrequest", name)["status"]["state"] == "Pending", what="the relabelling")
        body = get(gatepass, "accessrequest", name)
        assert (body["status"]["state"], body["status"]["reviews"]) == ("Pending", [])
        assert gatepass.kubectl("get", "accessreview", f"{name}-rule", check=False).returncode != 0
        assert can_i(gatepass, "bob", namespace=namespace) == "no"
        gatepass.kubectl("annotate", "accessrequest", daves, "gatepass.dev/revoke=done", user="dave")
    finally:
        gatepass.kubectl("delete", "accesspolicy", policy, check=False)


# ------------------------------------------------------------ what cannot evaluate
@pytest.mark.parametrize("expression, error", [
    ("(" * 2000 + "'oncall' in user.groups" + ")" * 2000,
     "the expression is nested too deeply to evaluate: 20012 levels, at most 250"),
    (" || ".join(["false"] * 300) + " || 'oncall' in user.groups",
     "the expression is nested too deeply to evaluate:"),
    ("'oncall' in user.groups && 1 / 0 == 1", "`1 / 0 == 1` fails on every evaluation: modulus or divide by zero"),
    ("request.duration <= duration('one hour')", "`duration('one hour')` fails on every evaluation"),
    ("request.namespaces.exists(n, n.matches('[a-z'))", "invalid regular expression '[a-z'"),
    ("request.duration > 3600", "no operator > for duration and int (on a sample request)"),
    ("'oncall' in user.groups && request.roles.exists(r, r > 1)", "no operator > for string and int"),
    ("size(request.roles, 2) > 0", "no such overload: size() takes 1 positional argument but 2 were given"),
    ("request.roles.all(user, user == 'dba')", "all() may not name its variable user"),
    ("request.durations < duration('1h')", "request has no field 'durations'"),
])
def test_a_rule_that_cannot_evaluate_is_refused_in_one_line(gatepass, expression, error):
    policy = unique("t-badrule")
    rule = {**SHORT_ONCALL, "expression": expression}
    result = gatepass.kubectl("apply", "-f", "-", check=False,
                              input=policy_manifest(policy, "oncall", "payments", [rule]))
    message = refused(result)
    assert f"invalid AccessPolicy: rule short-oncall: {error}" in message
    assert len(message.splitlines()) == 1 and "Traceback" not in message and "celpy" not in message
    assert gatepass.kubectl("get", "accesspolicy", policy, check=False).returncode != 0
