"""Policy rules' CEL: the variables a request gives, evaluation, and the admission check."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gatepass.controller import convert
from gatepass.core.types import Rule
from gatepass.rules import Evaluator, activation, check
from gatepass.rules.expressions import evaluate

from .core_factories import dba_request, person

ONCALL = "request.duration <= duration('1h') && 'oncall' in user.groups"
DAVE = person("dave", "developers", "oncall", "system:authenticated")


def run(expression: str, **changes) -> bool | str:
    return evaluate(expression, activation(dba_request(**changes)))


# ------------------------------------------------------------ the variables
@pytest.mark.parametrize("expression", [
    "request.name == 'bob-dba'",
    "request.roles == ['dba']",
    "request.namespaces == ['payments']",
    "request.duration == duration('1h')",
    "request.reason == 'ticket #123'",
    "request.labels == {'team': 'payments'}",
    "request.labels.team == 'payments'",
    "request.reviewers == ['alice']",
    "user.username == 'bob'",
    "user.groups == ['developers', 'system:authenticated']",
])
def test_every_variable_is_there(expression):
    assert run(expression, labels=(("team", "payments"),), suggested_reviewers=("alice",)) is True


def test_a_cluster_wide_request_has_no_namespaces():
    assert run("size(request.namespaces) == 0", namespaces=()) is True


@pytest.mark.parametrize("duration, groups, holds", [
    (timedelta(minutes=30), ("oncall",), True),
    (timedelta(hours=1), ("oncall",), True),
    (timedelta(hours=1, seconds=1), ("oncall",), False),
    (timedelta(hours=4), ("oncall",), False),
    (timedelta(minutes=30), ("developers",), False),
])
def test_the_on_call_rule(duration, groups, holds):
    assert run(ONCALL, duration=duration, requester=person("dave", *groups)) is holds


# --------------------------------------------------------------- evaluation
@pytest.mark.parametrize("expression, error", [
    ("request.labels['risk'] == 'high'", "no such key: risk"),
    ("request.roles[3] == 'dba'", "invalid_argument"),
    ("1 / 0 == 1", "divide by zero"),
    ("request.name", "it gave a string, not a bool"),
    ("size(request.roles)", "it gave an int, not a bool"),
    ("request.duration", "it gave a duration, not a bool"),
    ("request.roles", "it gave a list, not a bool"),
    ("'oncall' in users.groups", "undeclared reference to 'users'"),
])
def test_an_expression_that_gives_no_bool_says_why_in_one_line(expression, error):
    result = run(expression)
    assert isinstance(result, str) and error in result, result
    assert "\n" not in result and "activation" not in result


def test_errors_are_absorbed_as_cel_says():
    assert run("'risk' in request.labels && request.labels['risk'] == 'high'") is False
    assert run("true || request.labels['risk'] == 'high'") is True


def test_a_syntax_error_at_run_time_is_reported_not_raised():
    assert run("request.name ==").startswith("syntax error")


def test_macros_bind_their_own_variables():
    assert run("request.roles.all(r, r == 'dba')") is True
    assert run("user.groups.exists(g, g.startsWith('dev'))") is True
    assert run("request.namespaces.exists_one(n, n == 'payments')") is True


def test_the_evaluator_decides_with_the_request():
    rules = (Rule("short-oncall", "Approve", ONCALL, "on call"),)
    assert Evaluator().verdict(rules, dba_request(requester=DAVE, duration=timedelta(minutes=30))).rule == rules[0]
    assert Evaluator().verdict(rules, dba_request(requester=DAVE, duration=timedelta(hours=4))).rule is None


# -------------------------------------------------------------------- check
@pytest.mark.parametrize("expression", [
    ONCALL,
    "request.labels['team'] == 'payments'",  # fails only on requests without the label
    "has(request.labels.team) && request.labels.team == 'payments'",
    "request.roles.all(r, r in ['dba', 'view'])",
    "user.username.endsWith('@example.com') || size(request.namespaces) == 0",
    "request.reason.matches('^(INC|CHG)-[0-9]+')",
    "request.duration > duration('8h') ? false : true",
])
def test_good_expressions_pass_the_check(expression):
    assert check(expression) is None


@pytest.mark.parametrize("expression, error", [
    ("request.duration <= duration('1h') &&& x", "syntax error at line 1, column 38: unexpected '&'"),
    ("request.duration <=", "syntax error at line 1, column 18: unexpected end of expression"),
    ("(request.name == 'a'", "syntax error"),
    ("", "syntax error"),
    ("'oncall' in usr.groups", "undeclared reference to 'usr' (the variables are request and user)"),
    ("request.roles.all(r, r == x)", "undeclared reference to 'x'"),
    ("request.durration < duration('1h')", "request has no field 'durration' (it has name, roles, namespaces, "
                                           "duration, reason, labels, reviewers)"),
    ("'oncall' in user.group", "user has no field 'group' (it has username, groups)"),
    ("request.name.lowerAscii() == 'x'", "unknown function 'lowerAscii'"),
    ("request.name", "the expression must give a bool: it gave a string, not a bool"),
])
def test_bad_expressions_are_refused_with_one_line(expression, error):
    result = check(expression)
    assert result is not None and result.startswith(error), result
    assert "\n" not in result


# ------------------------------------------------------------- conversion
def test_the_request_carries_its_labels_and_the_policy_its_rules():
    request = convert.request({"metadata": {"name": "r", "labels": {"team": "payments", "app": "db"}},
                               "spec": {"roles": ["dba"]}})
    assert request.labels == (("app", "db"), ("team", "payments"))
    assert convert.request({"metadata": {"name": "r"}, "spec": {"roles": ["dba"]}}).labels == ()
    policy = convert.policy({"metadata": {"name": "p"}, "spec": {
        "requesters": {"groups": ["developers"]}, "reviewers": {"users": ["alice"]},
        "roles": [{"name": "dba", "clusterRole": "dba", "namespaces": ["payments"]}],
        "rules": [{"name": "short-oncall", "decision": "Approve", "expression": ONCALL, "reason": "on call"},
                  {"name": "no-prod", "decision": "Deny", "expression": "'prod' in request.namespaces"}],
    }})
    assert policy.rules == (Rule("short-oncall", "Approve", ONCALL, "on call"),
                            Rule("no-prod", "Deny", "'prod' in request.namespaces", ""))
