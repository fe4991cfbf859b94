"""Rules evaluated in worker threads, so that the operator's one event loop never waits on CEL.

That loop runs the watches, the reconcile queue, the admission webhooks (which
the API server gives 10 s), the leader lease renewal and /healthz. Each
evaluation stops itself once it has run longer than its budget
(expressions.BUDGET) and then counts as failing. Waiting for a thread has a
limit too, BACKSTOP beyond the budget, for what the interpreter cannot
interrupt (a single long operation) and for time spent queueing. It is only a
backstop: a thread cannot be killed, so an evaluation given up on goes on in its
thread until it returns. check()'s limits on expressions (no nested or chained
comprehensions, small literals) are what keep evaluations short; the threads
are the rules' own, so that even a runaway one never holds up the Kubernetes API
calls, which have their pool in Kube.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from gatepass.core.types import Request, Rule

from .expressions import BUDGET, activation, check, evaluate
from .verdicts import Verdict, choosing

BACKSTOP = 3.0  # seconds waited for a thread beyond its budget before its rule counts as failing
CHECK_BUDGET = 4.0  # seconds a policy's rules may take to check at admission, all together (the webhook has 10)

# Few threads: evaluations are CPU-bound and take turns with the event loop for the interpreter lock.
# Admission has its own, so that a policy's check never waits behind the reconciler's evaluations.
_REVIEWS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gatepass-rules")
_ADMISSION = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gatepass-rules-check")

T = TypeVar("T")


async def verdict(rules: Sequence[Rule], request: Request, *, budget: float = BUDGET) -> Verdict:
    """What `rules` say about `request` (see verdicts.choose): each rule is evaluated, when its
    turn comes, in a worker thread, and counts as failing if it runs longer than `budget` seconds.
    An Approve rule is given only the variables the requester cannot set (expressions.activation)."""
    loop = asyncio.get_running_loop()
    variables: dict[str, dict] = {}  # per decision: an Approve rule sees only what the requester cannot set
    steps = choosing(rules)
    try:
        rule = next(steps)
        while True:
            if rule.decision not in variables:  # as long as the request is large
                variables[rule.decision] = await loop.run_in_executor(_REVIEWS, activation, request, rule.decision)
            try:
                result: bool | str = await _run(_REVIEWS, budget + BACKSTOP, evaluate, rule.expression,
                                                variables[rule.decision], budget=budget)
            except TimeoutError:
                result = f"evaluation did not finish within {budget + BACKSTOP:g} s"
            rule = steps.send(result)
    except StopIteration as done:
        return done.value


async def check_all(rules: Sequence[Rule], *, budget: float = CHECK_BUDGET, sample: float = BUDGET) -> str | None:
    """Why the first of `rules` that cannot be a rule cannot (expressions.check, its sample evaluation
    given `sample` seconds), as one line 'rule <name>: <why>', or None. The checks run in a worker
    thread; a rule still unchecked after `budget` seconds is refused, which keeps admission within
    its webhook's timeout (budget + sample + the time to parse one expression)."""
    deadline = time.monotonic() + budget
    for rule in rules:
        if time.monotonic() >= deadline:
            return f"rule {rule.name}: checking the policy's rules took longer than {budget:g} s"
        try:
            error = await _run(_ADMISSION, sample + BACKSTOP, check, rule.expression, decision=rule.decision,
                               budget=sample)
        except TimeoutError:
            error = f"checking it did not finish within {sample + BACKSTOP:g} s"
        if error is not None:
            return f"rule {rule.name}: {error}"
    return None


async def _run(pool: ThreadPoolExecutor, timeout: float, fn: Callable[..., T], *args, **kwargs) -> T:
    """fn(*args, **kwargs) in `pool`; raises TimeoutError after `timeout` seconds, queueing included (a call
    that has not started by then is dropped; one that has goes on, as a thread cannot be stopped)."""
    loop = asyncio.get_running_loop()
    return await asyncio.wait_for(loop.run_in_executor(pool, functools.partial(fn, *args, **kwargs)), timeout)
