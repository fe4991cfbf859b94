"""Policy rules' CEL: the variables a request gives, evaluation, and the admission check."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from gatepass.api import values
from gatepass.core.types import Rule
from gatepass.rules import MAX_LITERAL, activation, check
from gatepass.rules.expressions import FIELDS, MAX_DEPTH, REQUESTER_SET, TRUSTED, _depth, _program, evaluate

from .core_factories import dba_request, person

ONCALL = "request.duration <= duration('1h') && 'oncall' in user.groups"
DAVE = person("dave", "developers", "oncall", "system:authenticated")


def run(expression: str, budget: float = 1.0, decision: str = "Deny", **changes) -> bool | str:
    return evaluate(expression, activation(dba_request(**changes), decision), budget=budget)


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


def test_an_approve_rule_sees_only_what_the_requester_cannot_set():
    variables = activation(dba_request(labels=(("team", "payments"),), suggested_reviewers=("alice",)), "Approve")
    assert {variable: sorted(value) for variable, value in variables.items()} == {
        variable: sorted(fields) for variable, fields in TRUSTED.items()}
    deny = activation(dba_request(), "Deny")
    assert {variable: sorted(value) for variable, value in deny.items()} == {
        variable: sorted(fields) for variable, fields in FIELDS.items()}


@pytest.mark.parametrize("field", FIELDS["request"])
def test_what_the_requester_sets_is_not_there_for_an_approve_rule_even_unchecked(field):
    # Defence in depth: a rule admitted before the check, or past it, cannot read them either.
    request = dict(labels=(("ticket", "INC-0"),), suggested_reviewers=("alice",))
    for expression in (f"has(request.{field})", f"request['{field}'] == request['{field}']"):
        assert run(expression, decision="Deny", **request) is True
        approve = run(expression, decision="Approve", **request)
        if field in TRUSTED["request"]:
            assert approve is True
        else:
            assert approve is False or approve == f"no such key: {field}", approve


def test_the_requester_set_inputs_are_the_fields_not_trusted():
    assert set(REQUESTER_SET) == {"request.name", "request.reason", "request.labels", "request.reviewers"}
    assert all(set(TRUSTED[variable]) <= set(FIELDS[variable]) for variable in FIELDS)


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


# ------------------------------------------------------------------- cost
NESTED = "request.namespaces.all(a, request.namespaces.all(b, a == b || a != b))"
MANY = tuple(f"ns-{i}" for i in range(256))


def literal(size: int) -> str:
    return "[" + ",".join(["1"] * size) + "]"


def test_an_evaluation_stops_at_its_budget_and_counts_as_failing():
    start = time.monotonic()
    assert run(NESTED, namespaces=MANY, budget=0.2) == "evaluation took longer than 0.2 s"
    assert time.monotonic() - start < 2  # it stopped; unbounded, this one ran for 18 s

    assert run(NESTED, namespaces=("a", "b")) is True  # within its budget, it still evaluates


@pytest.mark.parametrize("expression", [
    "false || " + NESTED,
    "true && !(" + NESTED + ")",
    "has(request.labels.x) ? " + NESTED + " : false",
    "[" + NESTED + "][0]",
    "request.roles.exists(r, r == 'dba') && request.namespaces.map(a, request.namespaces.exists(b, a == b))[0]",
])
def test_the_budget_stops_an_evaluation_wherever_the_cost_sits(expression):
    assert run(expression, namespaces=MANY, labels=(("x", "y"),), budget=0.1) == "evaluation took longer than 0.1 s"


# -------------------------------------------------------------------- check
@pytest.mark.parametrize("expression", [
    ONCALL,
    "request.roles.all(r, r in ['dba', 'view'])",
    "user.username.endsWith('@example.com') || size(request.namespaces) == 0",
    "request.duration > duration('8h') ? false : true",
    "size(request.namespaces.filter(n, n.startsWith('prod-'))) == 0 && request.roles.exists(r, r == 'dba')",
    "request.namespaces.filter(n, n.startsWith('prod-')).size() < 2",
    "request.namespaces.all(n, n in " + literal(MAX_LITERAL).replace("1", "'x'") + ")",
    "{'a': 1, 'b': 2}.size() == 2 && [[1, 2], [3]].all(l, size(l) > 0)",
    "request['roles'] == ['dba'] && (request).duration < duration('2h') && .request.namespaces == ['payments']",
    "string(user) != '' && dyn(user).username == 'bob' || user.groups.exists(g, g == 'oncall')",
    "int(request.namespaces[0]) > 3",  # fails only for a namespace that is not a number
    "request.roles[3] == 'dba'",  # fails only for requests of fewer roles
    "request.namespaces.exists(n, n.matches('^prod-[0-9]+$'))",
    "(" * 20 + "'oncall' in user.groups" + ")" * 20,
])
def test_good_expressions_pass_the_check(expression):
    assert check(expression) is None
    assert check(expression, decision="Deny") is None


@pytest.mark.parametrize("expression", [
    "request.labels['team'] == 'payments'",  # fails only on requests without the label
    "has(request.labels.team) && request.labels.team == 'payments'",
    "request.reason.matches('^(INC|CHG)-[0-9]+')",
    "request.name.startsWith('inc-')",
    "request.reviewers.exists(r, r == 'alice')",
    "string(request).contains('prod')",
    "int(request.labels.n) > 3",  # fails only on a label that is not a number
    "request.labels.risk.matches(request.reason)",  # the pattern comes from the request: it may be bad there only
    # Errors of a comprehension's elements, which celpy reports as one TypeError holding them: still data errors.
    "request.roles.exists(r, request.labels[r] == 'x')",
    "request.roles.all(r, int(request.labels[r]) > 1)",
    "request.namespaces.exists(n, n.matches(request.labels.pattern))",
])
def test_a_deny_rule_may_read_anything(expression):
    assert check(expression, decision="Deny") is None
    assert check(expression, decision="Approve").startswith("an Approve rule may not read request")


# ------------------------------------------------- Approve rules and what the requester sets
APPROVE_ONLY = "it may read only user, request.roles, request.namespaces, request.resources and request.duration " \
               "(a Deny rule may " \
               "read anything)"
WHOLE = "the requester sets request.name, request.reason, request.labels and request.reviewers"


@pytest.mark.parametrize("expression, read", [
    # The example: bob labels his own request ticket=INC-0.
    ("has(request.labels.ticket) && request.labels.ticket.startsWith('INC-')", "request.labels"),
    ("'ticket' in request.labels", "request.labels"),
    ("request.labels.exists(k, k == 'ticket')", "request.labels"),
    ("request.labels.filter(k, k.startsWith('tick')).size() > 0", "request.labels"),
    ("request.labels.map(k, k).size() > 0", "request.labels"),
    ("size(request.labels) > 0", "request.labels"),
    ("request['labels']['ticket'] == 'INC-0'", "request.labels"),
    ('request["labels"].ticket == "INC-0"', "request.labels"),
    ("(request).labels.ticket == 'INC-0'", "request.labels"),
    ("((request)).labels.ticket == 'INC-0'", "request.labels"),
    (".request.labels.ticket == 'INC-0'", "request.labels"),
    ("[request.labels].exists(l, has(l.ticket))", "request.labels"),
    ("{'l': request.labels}.l.ticket == 'INC-0'", "request.labels"),
    ("(true ? request.labels : {}).ticket == 'INC-0'", "request.labels"),
    ("request.roles.exists(r, has(request.labels.ticket))", "request.labels"),
    ("request.duration < duration('1h') || request.labels.fast == 'yes'", "request.labels"),
    # The other inputs the requester sets.
    ("request.reason.contains('INC-')", "request.reason"),
    ("request.reason.matches('^INC-[0-9]+$')", "request.reason"),
    ("size(request.reason) > 100", "request.reason"),
    ("request.name.startsWith('incident-')", "request.name"),
    ("has(request.name)", "request.name"),
    ("request.reviewers.exists(r, r == 'alice')", "request.reviewers"),
    ("'alice' in request.reviewers", "request.reviewers"),
    ("request['reviewers'] == ['alice']", "request.reviewers"),
])
def test_an_approve_rule_may_not_read_what_the_requester_sets(expression, read):
    result = check(expression)
    assert result == f"an Approve rule may not read {read}: the requester sets it; {APPROVE_ONLY}", result


@pytest.mark.parametrize("expression, use", [
    # request reached as a whole or by a computed field: anything could be read from it.
    ("string(request).contains('INC-')", "request as a whole"),
    ("dyn(request).labels.ticket == 'INC-0'", "request as a whole"),
    ("[request].exists(r, r.labels.ticket == 'INC-0')", "request as a whole"),
    ("[request][0].reason == 'x'", "request as a whole"),
    ("{'r': request}.r.name == 'x'", "request as a whole"),
    ("request == request", "request as a whole"),
    ("request != {}", "request as a whole"),
    ("(true ? request : {}).reason == 'x'", "request as a whole"),
    ("size(request) == 7", "request as a whole"),
    ("request.all(f, f != 'labels')", "request.all() (over all its fields)"),
    ("request.exists(f, f == 'labels')", "request.exists() (over all its fields)"),
    ("request.map(f, f).size() > 0", "request.map() (over all its fields)"),
    ("request['lab' + 'els'].ticket == 'INC-0'", "request[...] (a field chosen by a computed key)"),
    ("request.roles.exists(r, request[r] == 'x')", "request[...] (a field chosen by a computed key)"),
    ("request[user.username] == 'x'", "request[...] (a field chosen by a computed key)"),
])
def test_an_approve_rule_may_not_reach_them_another_way(expression, use):
    result = check(expression)
    assert result == f"an Approve rule may not read {use}: {WHOLE}; {APPROVE_ONLY}", result


@pytest.mark.parametrize("field", FIELDS["request"])
@pytest.mark.parametrize("form", ["request.{f} == request.{f}", "request['{f}'] == request['{f}']", "has(request.{f})",
                                  ".request.{f} == .request.{f}", "(request).{f} == (request).{f}"])
def test_every_field_of_the_request_is_trusted_or_refused_to_approve_rules(field, form):
    expression = form.format(f=field)
    result = check(expression)
    if field in TRUSTED["request"]:
        assert result is None
    else:
        assert result == f"an Approve rule may not read request.{field}: the requester sets it; {APPROVE_ONLY}"
    assert check(expression, decision="Deny") is None


@pytest.mark.parametrize("expression", [
    "request.roles.all(request, request == 'dba')",
    "request.roles.exists(user, user == 'dba')",
    "request.namespaces.map(request, request).size() > 0",
])
def test_a_comprehension_may_not_hide_a_variable(expression):
    for decision in ("Approve", "Deny"):
        result = check(expression, decision=decision)
        assert result is not None and "may not name its variable" in result, result


# ------------------------------------------------------- what cannot evaluate
def nested(depth: int, open_: str, close: str, inner: str = "true") -> str:
    return open_ * depth + inner + close * depth


def test_an_expression_nested_2000_deep_is_refused_before_it_is_evaluated():
    expression = nested(2000, "(", ")")
    start = time.monotonic()
    result = check(expression)
    assert result == ("the expression is nested too deeply to evaluate: 20010 levels, at most 250 "
                      "(a bracket or call takes about 10, an operator in a chain 2)")
    assert time.monotonic() - start < 2
    assert "nested too deeply" in run(expression)  # and evaluated anyway, it fails in one line, never raises


# Ways of nesting, each as a function of how many levels it takes.
SHAPES = {
    "parentheses": lambda n: nested(n, "(", ")"),
    "calls": lambda n: nested(n, "bool(", ")"),
    "lists": lambda n: nested(n, "[", "][0]"),
    "not": lambda n: "!" * (2 * n) + "true",
    "or": lambda n: " || ".join(["false"] * n + ["true"]),
    "plus": lambda n: "+".join(["1"] * n) + " > 0",
    "ternary": lambda n: "false ? false : " * n + "true",
    "comparisons": lambda n: nested(n, "(true == ", ")"),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_deepest_expression_allowed_evaluates_and_one_level_more_is_refused(shape):
    make = SHAPES[shape]
    low, high = 1, MAX_DEPTH  # make(low) is within the limit, make(high) is not: find where it changes
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if _depth(_program(make(middle)).ast) <= MAX_DEPTH else (low, middle)
    deepest, deeper = make(low), make(high)
    assert check(deepest) is None
    assert run(deepest) is True
    assert check(deeper).startswith("the expression is nested too deeply to evaluate")


@pytest.mark.parametrize("expression, error", [
    ("1 / 0 == 1", "`1 / 0 == 1` fails on every evaluation: modulus or divide by zero"),
    ("request.duration < duration('1h') || 1 / 0 == 1", "`1 / 0 == 1` fails on every evaluation"),
    ("int('x') > size(request.roles)", "`int('x')` fails on every evaluation: invalid literal for int()"),
    ("request.namespaces.exists(n, n.matches('[a-z'))", "invalid regular expression '[a-z': missing ]: [a-z"),
    ("user.groups.exists(g, matches(g, '(oncall'))", "invalid regular expression '(oncall': missing ): (oncall"),
    ("'oncall' in user.groups && 'a'.matches('(')", "`'a'.matches('(')` fails on every evaluation: match error: "
                                                     "missing ): ("),
    ("request.duration <= duration('one hour')", "`duration('one hour')` fails on every evaluation: Invalid duration"),
    ("timestamp('yesterday') < timestamp('2030-01-01T00:00:00Z')", "fails on every evaluation"),
    ("1 + 'a' == 2", "`1 + 'a' == 2` fails on every evaluation: no operator + for int and string"),
    ("size(1) > 0 || 'oncall' in user.groups", "`size(1) > 0` fails on every evaluation: no such overload"),
    ("[1, 'a'].all(x, x > 0) && 'oncall' in user.groups", "fails on every evaluation"),
    ("request.roles.all(r, 1 + 'a' == 2)", "`1 + 'a' == 2` fails on every evaluation"),
])
def test_a_part_that_reads_nothing_and_fails_is_refused(expression, error):
    result = check(expression)
    assert result is not None and error in result, result
    assert "\n" not in result


@pytest.mark.parametrize("expression, error", [
    ("request.duration > 5", "no operator > for duration and int (on a sample request)"),
    ("request.duration == 3600", "no operator == for duration and int (on a sample request)"),
    ("'oncall' in user.groups && request.duration > 5", "no operator > for duration and int"),  # past the &&
    ("user.groups.exists(g, g == 'sre') || request.duration == 3", "no operator == for duration and int"),
    ("request.roles.exists(r, r > 1)", "no operator > for string and int"),
    ("'oncall' in user.groups && request.roles.exists(r, r > 1)", "no operator > for string and int (on a sample"),
    ("request.roles.exists(r, r.startsWith(1))", "no such overload: startswith first arg must be str or a tuple of "
                                                "str, not IntType (on a sample request)"),
    ("size(request.roles, 2) > 0", "no such overload: size() takes 1 positional argument but 2 were given"),
    ("user.username.startsWith(1)", "no such overload"),
    ("request.namespaces + 1 == []", "no operator + for list and int"),
    ("user.groups.size() > 'a'", "no operator > for int and string"),
    ("user.username.groups == 'x'", "does not support field selection"),
    ("request.roles.all(x, x)", "the expression must give a bool: it gave a string, not a bool"),
    ("'oncall' in user.groups ? 1 : true", "the expression must give a bool: it gave an int, not a bool"),
])
def test_a_type_error_on_a_sample_request_is_refused(expression, error):
    result = check(expression)
    assert result is not None and error in result, result
    assert "\n" not in result and "celpy" not in result and "Token(" not in result


def test_type_errors_read_as_cel_not_as_python():
    assert run("request.duration > 5") == "no operator > for duration and int"
    assert run("1 + 'a' == 2") == "no operator + for int and string"
    assert run("int('x') == 1") == "invalid literal for int() with base 10: StringType('x')"
    assert "celpy" not in run("user.username.groups == 'x'")


@pytest.mark.parametrize("expression, error", [
    ("request.duration <= duration('1h') &&& x", "syntax error at line 1, column 38: unexpected '&'"),
    ("request.duration <=", "syntax error at line 1, column 18: unexpected end of expression"),
    ("(request.name == 'a'", "syntax error"),
    ("", "syntax error"),
    ("'oncall' in usr.groups", "undeclared reference to 'usr' (the variables are request and user)"),
    ("request.roles.all(r, r == x)", "undeclared reference to 'x'"),
    ("request.durration < duration('1h')", "request has no field 'durration' (it has name, roles, namespaces, "
                                           "resources, duration, reason, labels, reviewers)"),
    ("'oncall' in user.group", "user has no field 'group' (it has username, groups)"),
    ("request.name.lowerAscii() == 'x'", "unknown function 'lowerAscii'"),
    ("user.username", "the expression must give a bool: it gave a string, not a bool"),
    (NESTED, "all() within all(): comprehensions may not be nested or chained"),
    ("request.roles.exists(r, user.groups.exists(g, g == r))",
     "exists() within exists(): comprehensions may not be nested or chained"),
    ("request.namespaces.all(n, size([request.roles.filter(r, r == n)]) == 0)",
     "filter() within all(): comprehensions may not be nested or chained"),
    ("request.namespaces.map(n, n + n).all(n, n != '')",
     "all() over the result of map(): comprehensions may not be nested or chained"),
    ("[user.username].map(s, s + s).map(s, s + s).map(s, s + s).size() > 0",
     "map() over the result of map(): comprehensions may not be nested or chained"),
    (literal(MAX_LITERAL + 1) + ".size() > 0", f"a list literal of {MAX_LITERAL + 1} elements; at most {MAX_LITERAL} "
                                              "are allowed"),
    ("{" + ", ".join(f"'k{i}': {i}" for i in range(100)) + "}.size() > 0",
     f"a map literal of 100 elements; at most {MAX_LITERAL} are allowed"),
])
def test_bad_expressions_are_refused_with_one_line(expression, error):
    result = check(expression, decision="Deny")
    assert result is not None and result.startswith(error), result
    assert "\n" not in result


def test_the_check_refuses_costly_expressions_before_evaluating_them():
    # 1.8 KB: three nested comprehensions over 300-element literals, 27 million evaluations of the body.
    # Unchecked, the sample evaluation alone ran for minutes.
    expression = f"{literal(300)}.all(a, {literal(300)}.all(b, {literal(300)}.all(c, a == b && b == c)))"
    start = time.monotonic()
    assert check(expression).endswith("comprehensions may not be nested or chained")
    assert time.monotonic() - start < 2


def test_the_checks_sample_evaluation_has_a_budget_too():
    # Within the limits, yet slow: many comprehensions over the largest literals allowed.
    expression = " && ".join([f"{literal(MAX_LITERAL)}.all(x, x == 1)"] * 20)
    assert check(expression, budget=0.01) == "evaluation took longer than 0.01 s on a sample request"
    assert check(expression) is None


# ------------------------------------------------------------- conversion
def test_the_request_carries_its_labels_and_the_policy_its_rules():
    request = values.request({"metadata": {"name": "r", "labels": {"team": "payments", "app": "db"}},
                               "spec": {"roles": ["dba"]}})
    assert request.labels == (("app", "db"), ("team", "payments"))
    assert values.request({"metadata": {"name": "r"}, "spec": {"roles": ["dba"]}}).labels == ()
    policy = values.policy({"metadata": {"name": "p"}, "spec": {
        "requesters": {"groups": ["developers"]}, "reviewers": {"users": ["alice"]},
        "roles": [{"name": "dba", "clusterRole": "dba", "namespaces": ["payments"]}],
        "rules": [{"name": "short-oncall", "decision": "Approve", "expression": ONCALL, "reason": "on call"},
                  {"name": "no-prod", "decision": "Deny", "expression": "'prod' in request.namespaces"}],
    }})
    assert policy.rules == (Rule("short-oncall", "Approve", ONCALL, "on call"),
                            Rule("no-prod", "Deny", "'prod' in request.namespaces", ""))


def test_rules_see_the_requested_resources():
    from gatepass.core.resources import Ask
    from gatepass.rules.expressions import activation, check, evaluate

    log = Ask("pods", ("get",), subresource="log", namespace="payments", names=("db-1",))
    request = dba_request(roles=(), namespaces=(), resources=(log,))
    only_reads = "request.resources.all(r, r.namespace == 'payments' && !('delete' in r.verbs))"
    assert check(only_reads) is None  # an Approve rule may read them: they are exactly what is granted
    assert evaluate(only_reads, activation(request)) is True
    assert evaluate("request.resources.exists(r, r.subresource == 'exec')", activation(request)) is False
    assert evaluate("size(request.resources) == 1 && request.resources[0].names == ['db-1']",
                    activation(request, "Deny")) is True
