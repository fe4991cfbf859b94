"""Rules in worker threads: the event loop goes on while they run, and each has a time budget."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import kopf
import pytest

from gatepass.core.types import Rule
from gatepass.rules import check_all, verdict
from gatepass.rules.workers import _run

from .admission_fakes import validate_policy
from .core_factories import dba_request, person

ONCALL = Rule("short-oncall", "Approve", "request.duration <= duration('1h') && 'oncall' in user.groups", "on call")
# Admission refuses this one; a policy stored before the limits existed could still have it.
NESTED = Rule("pairs", "Deny", "request.namespaces.all(a, request.namespaces.all(b, a == b || a != b))")
DAVE = person("dave", "developers", "oncall")
MANY = tuple(f"ns-{i}" for i in range(256))


async def ticking(work):
    """What `work` gave, and how often a 10 ms ticker ran on the event loop meanwhile."""
    ticks = 0
    done = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        return await work, ticks
    finally:
        done.set()
        await task


def test_a_slow_rule_counts_as_failing_and_the_event_loop_runs_meanwhile():
    request = dba_request(requester=DAVE, namespaces=MANY, duration=timedelta(minutes=30))
    result, ticks = asyncio.run(ticking(verdict((NESTED, ONCALL), request, budget=0.5)))
    [failure] = result.failures
    assert (failure.rule, failure.error) == (NESTED, "evaluation took longer than 0.5 s")
    assert result.rule is None and result.withheld == ONCALL  # a failing Deny rule withholds approval, as ever
    assert ticks >= 10  # on the loop, the ticker would not have run at all


def test_rules_are_evaluated_in_order_and_not_past_the_deciding_one():
    request = dba_request(requester=DAVE, duration=timedelta(minutes=30))
    deny = Rule("no-billing", "Deny", "'billing' in request.namespaces")
    after = Rule("later", "Approve", "request.labels['missing'] == 'x'")  # would fail, were it evaluated
    result = asyncio.run(verdict((ONCALL, after, deny), request))
    assert (result.rule, result.failures) == (ONCALL, ())


def test_a_call_that_outlasts_the_backstop_is_given_up_on():
    pool = ThreadPoolExecutor(1)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        asyncio.run(_run(pool, 0.05, time.sleep, 0.5))
    assert time.monotonic() - start < 0.4
    pool.shutdown(wait=True)


# ---------------------------------------------------------------- admission
def test_the_policy_check_names_the_first_rule_refused():
    good = Rule("good", "Approve", "true")
    assert asyncio.run(check_all((good, ONCALL))) is None
    assert asyncio.run(check_all((good, NESTED, Rule("bad", "Deny", "request.name")))) == (
        "rule pairs: all() within all(): comprehensions may not be nested or chained")


SLOW = " && ".join(["[" + ",".join(["1"] * 64) + "].all(x, x == 1)"] * 20)  # within the limits, yet slow


def test_the_policy_check_runs_off_the_event_loop():
    slower = " && ".join([SLOW] * 4)
    error, ticks = asyncio.run(ticking(check_all((Rule("slow", "Approve", slower),), sample=0.3)))
    assert error == "rule slow: evaluation took longer than 0.3 s on a sample request"
    assert ticks >= 5


def test_the_policy_check_has_one_budget_for_all_its_rules():
    rules = tuple(Rule(f"r{i}", "Approve", SLOW) for i in range(3))
    assert asyncio.run(check_all(rules, budget=0.05, sample=1)) == (
        "rule r1: checking the policy's rules took longer than 0.05 s")


def policy_body(expression: str) -> dict:
    return {"metadata": {"name": "oncall-dba"}, "spec": {
        "requesters": {"groups": ["developers"]}, "reviewers": {"users": ["alice"]},
        "roles": [{"name": "dba", "clusterRole": "dba", "namespaces": ["payments"]}],
        "rules": [{"name": "short-oncall", "decision": "Approve", "expression": expression}]}}


def test_admission_refuses_a_costly_rule_in_one_line_and_stays_responsive():
    lit = "[" + ",".join(["1"] * 300) + "]"
    expression = f"{lit}.all(a, {lit}.all(b, {lit}.all(c, a == b && b == c)))"
    with pytest.raises(kopf.AdmissionError) as refused:
        asyncio.run(validate_policy(new=policy_body(expression), warnings=[]))
    assert str(refused.value) == ("invalid AccessPolicy: rule short-oncall: all() within all(): comprehensions may "
                                  "not be nested or chained")
    warnings: list[str] = []
    asyncio.run(validate_policy(new=policy_body(ONCALL.expression), warnings=warnings))  # accepted
    assert warnings == []
    

# ------------------------------------------------------- what the requester sets
TICKET = Rule("ticket", "Approve", "has(request.labels.ticket) && request.labels.ticket.startsWith('INC-')")


def test_an_approve_rule_that_reads_a_label_approves_nothing_even_if_it_was_admitted():
    # A policy stored before admission refused such rules: its rule is evaluated without the labels.
    request = dba_request(requester=DAVE, labels=(("ticket", "INC-0"),))
    result = asyncio.run(verdict((TICKET,), request))
    assert result.rule is None and result.failures == ()  # has() is false: there are no labels to see
    reads = Rule("reason", "Approve", "request.reason.startsWith('INC-')")
    result = asyncio.run(verdict((reads,), dba_request(reason="INC-0")))
    assert result.rule is None
    assert [(f.rule, f.error) for f in result.failures] == [(reads, "no such member in mapping: 'reason'")]


def test_a_deny_rule_still_reads_the_labels():
    deny = Rule("no-prod", "Deny", "has(request.labels.env) && request.labels.env == 'prod'")
    result = asyncio.run(verdict((deny, ONCALL), dba_request(requester=DAVE, labels=(("env", "prod"),),
                                                              duration=timedelta(minutes=30))))
    assert result.rule == deny


def test_the_policy_check_reads_each_rules_decision():
    assert asyncio.run(check_all((Rule("ticket", "Deny", TICKET.expression),))) is None
    assert asyncio.run(check_all((ONCALL, TICKET))) == (
        "rule ticket: an Approve rule may not read request.labels: the requester sets it; it may read only user, "
        "request.roles, request.namespaces, request.resources and request.duration (a Deny rule may read anything)")


def test_admission_refuses_a_rule_nested_2000_deep_in_one_line():
    with pytest.raises(kopf.AdmissionError) as refused:
        asyncio.run(validate_policy(new=policy_body("(" * 2000 + "true" + ")" * 2000), warnings=[]))
    assert str(refused.value) == (
        "invalid AccessPolicy: rule short-oncall: the expression is nested too deeply to evaluate: 20010 levels, "
        "at most 250 (a bracket or call takes about 10, an operator in a chain 2)")
