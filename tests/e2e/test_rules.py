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
