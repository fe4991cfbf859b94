"""A starting operator arms every deadline from the listing before it reconciles anything (Runtime.start).

The catch-up reconciles every listed request, which takes a while with thousands; a deadline must not wait
for it. The queue here is the real one, its worker a recorder: what is worked first, and what is armed.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from gatepass.controller.queue import WorkQueue
from gatepass.controller.reconciler import Reconciler
from gatepass.controller.store import Store
from gatepass.process.runtime import Runtime

from .test_restarts import NOW, FakeKube, binding_body, policy_body, request_body


class Recorder:
    def __init__(self) -> None:
        self.runs: list[str] = []

    async def __call__(self, key: str) -> None:
        self.runs.append(key)


def started(requests: list[dict]) -> tuple[WorkQueue, Recorder]:
    """A runtime started on ``requests``, its queue's one worker run until nothing is left but timers."""
    recorder, kube, store = Recorder(), FakeKube(requests, [binding_body()], [policy_body()]), Store()
    queue = WorkQueue(recorder, concurrency=1, deadline_workers=0, clock=lambda: NOW)
    runtime = Runtime(kube, store, queue, Reconciler(kube, store, queue, clock=lambda: NOW))

    async def scenario():
        await runtime.start()
        while queue.waiting != (0, 0) or queue._running:
            await asyncio.sleep(0)
        queue_state.append(queue.armed)
        await runtime.stop()

    queue_state: list[int] = []
    asyncio.run(asyncio.wait_for(scenario(), timeout=5))
    queue.armed_after_catch_up = queue_state[0]
    return queue, recorder


def test_deadlines_already_past_are_worked_first_soonest_first_then_the_catch_up(caplog):
    caplog.set_level(logging.INFO, logger="gatepass.runtime")
    requests = [request_body(timedelta(hours=1), "live", "uid-live"),
                request_body(-timedelta(seconds=2), "ended-2s-ago", "uid-2"),
                {**request_body(timedelta(hours=2), "fresh", "uid-fresh"), "status": {}},
                request_body(-timedelta(seconds=5), "ended-5s-ago", "uid-5")]
    queue, recorder = started(requests)
    assert recorder.runs == ["ended-5s-ago", "ended-2s-ago", "policy/demo-dba", "live", "fresh", "bob-dba"]
    assert queue.armed_after_catch_up == 1, "the live grant's end is armed from the listing"
    assert "Armed 3 deadlines from the listing (2 already due)" in caplog.text


def test_every_live_grant_is_armed_before_any_reconcile():
    requests = [request_body(timedelta(minutes=10 + i), f"r{i}", f"uid-{i}") for i in range(200)]
    armed: list[int] = []
    recorder, kube, store = Recorder(), FakeKube(requests, [], [policy_body()]), Store()
    queue = WorkQueue(recorder, concurrency=1, clock=lambda: NOW)
    runtime = Runtime(kube, store, queue, Reconciler(kube, store, queue, clock=lambda: NOW))

    async def first(key: str) -> None:
        armed.append(queue.armed)
        queue._worker = recorder

    queue._worker = first

    async def scenario():
        await runtime.start()
        while queue.waiting != (0, 0) or queue._running:
            await asyncio.sleep(0)
        await runtime.stop()

    asyncio.run(asyncio.wait_for(scenario(), timeout=5))
    assert armed == [200]
