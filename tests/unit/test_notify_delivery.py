"""Delivery queues: the backoff schedule, bounded attempts, order per request, and a full queue."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from gatepass.core.notices import CREATED, Notice, Route, Target
from gatepass.notify import metrics
from gatepass.notify.delivery import DeliveryError, Job, ReceiverQueue, backoff, schedule

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


def job(request: str = "r", key: str = CREATED) -> Job:
    target = Target("hook", (Route("hook"),))
    return Job(request, f"uid-{request}", Notice(CREATED, key, NOW, (target,)), target, {}, None, NOW)


class FlakySender:
    """Fails ``failures`` times (with ``error``), then succeeds; records every attempt."""

    def __init__(self, name: str = "hook", failures: int = 0, error: Exception | None = None,
                 delay: float = 0.0) -> None:
        self.name, self.failures, self.delay = name, failures, delay
        self.error = error or DeliveryError("HTTP 500")
        self.attempts: list[str] = []

    def accepts(self, notice, target) -> bool:
        return True

    async def deliver(self, job: Job) -> None:
        self.attempts.append(job.notice.key + "@" + job.request)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            self.failures -= 1
            raise self.error

    async def close(self) -> None:
        pass


def run(sender, jobs, **options) -> tuple[list[tuple[str, bool]], list[float]]:
    """Queues ``jobs``, waits until all are done; (done in order, sleeps asked for)."""
    done: list[tuple[str, bool]] = []
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def scenario() -> None:
        queue = ReceiverQueue(sender, lambda j, ok: done.append((j.notice.key + "@" + j.request, ok)),
                              sleep=sleep, rng=lambda: 1.0, **options)
        queue.start()
        for item in jobs:
            queue.put(item)
        while len(done) < len(jobs):
            await asyncio.sleep(0.001)
        await queue.stop()

    asyncio.run(asyncio.wait_for(scenario(), timeout=10))
    return done, sleeps


def sample(name: str, **labels) -> float:
    from prometheus_client import REGISTRY
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_backoff_doubles_up_to_the_cap_with_jitter_down_to_half():
    assert [backoff(n, 1.0, 60.0, lambda: 1.0) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert [backoff(n, 1.0, 60.0, lambda: 0.0) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert schedule(8, 1.0, 60.0, lambda: 1.0) == [1, 2, 4, 8, 16, 32, 60]
    assert schedule(1) == []
    for n in range(1, 12):
        assert 0.25 * min(2 ** (n - 1), 4) <= backoff(n, 0.5, 2.0) <= 0.5 * min(2 ** (n - 1), 4)


def test_the_default_budget_is_about_two_minutes_at_most():
    assert sum(schedule(rng=lambda: 1.0)) == 1 + 2 + 4 + 8 + 16 + 32 + 60  # defaults: 8 attempts, 1s, 60s
    assert sum(schedule(rng=lambda: 0.0)) == sum(schedule(rng=lambda: 1.0)) / 2


def test_a_delivery_that_succeeds_at_once():
    before = sample("gatepass_notifications_total", receiver="ok-hook", event="Created", result="sent")
    sender = FlakySender("ok-hook")
    done, sleeps = run(sender, [job()])
    assert done == [("Created@r", True)] and sleeps == []
    assert sample("gatepass_notifications_total", receiver="ok-hook", event="Created", result="sent") == before + 1


def test_retries_with_backoff_until_it_works():
    before = sample("gatepass_notification_retries_total", receiver="flaky-hook")
    sender = FlakySender("flaky-hook", failures=2)
    done, sleeps = run(sender, [job()], attempts=5, base_delay=0.5, max_delay=10)
    assert done == [("Created@r", True)] and len(sender.attempts) == 3 and sleeps == [0.5, 1.0]
    assert sample("gatepass_notification_retries_total", receiver="flaky-hook") == before + 2


def test_attempts_are_bounded_and_the_failure_counted_and_logged(caplog):
    before = sample("gatepass_notifications_total", receiver="down-hook", event="Created", result="failed")
    sender = FlakySender("down-hook", failures=100)
    done, sleeps = run(sender, [job()], attempts=4, base_delay=1, max_delay=3)
    assert done == [("Created@r", False)] and len(sender.attempts) == 4 and sleeps == [1, 2, 3]
    assert sample("gatepass_notifications_total", receiver="down-hook", event="Created", result="failed") == before + 1
    [gave_up] = [r.getMessage() for r in caplog.records if "Gave up" in r.getMessage()]
    assert gave_up == "Gave up sending Created about r to down-hook after 4 attempts: HTTP 500"
    assert all("\n" not in r.getMessage() for r in caplog.records)


def test_a_refusal_is_not_retried():
    sender = FlakySender(failures=1, error=DeliveryError("HTTP 400", retryable=False))
    done, sleeps = run(sender, [job()])
    assert done == [("Created@r", False)] and len(sender.attempts) == 1 and sleeps == []


def test_a_senders_bug_is_a_failure_not_a_dead_queue():
    sender = FlakySender(failures=1, error=KeyError("oops"))
    done, _ = run(sender, [job("a"), job("b")])
    assert sorted(done) == [("Created@a", False), ("Created@b", True)]


def test_retry_after_is_honoured_up_to_the_cap():
    sender = FlakySender(failures=2, error=DeliveryError("ratelimited", retry_after=7))
    _, sleeps = run(sender, [job()], base_delay=1, max_delay=5)
    assert sleeps == [5, 5]


def test_one_request_at_a_time_in_order_others_alongside():
    order: list[str] = []

    class Slow(FlakySender):
        async def deliver(self, job: Job) -> None:
            order.append("start " + job.notice.key + "@" + job.request)
            await asyncio.sleep(0.05 if job.notice.key == "first" else 0)
            order.append("end " + job.notice.key + "@" + job.request)

    done, _ = run(Slow(), [job("r", "first"), job("r", "second"), job("other", "third")], workers=3)
    assert order.index("end first@r") < order.index("start second@r")
    assert order.index("start third@other") < order.index("end first@r")
    assert [d for d in done if d[0].endswith("@r")] == [("first@r", True), ("second@r", True)]


def test_a_full_queue_drops_and_counts():
    before = sample("gatepass_notifications_total", receiver="busy-hook", event="Created", result="dropped")
    dropped: list[bool] = []

    async def scenario() -> None:
        queue = ReceiverQueue(FlakySender("busy-hook"), lambda j, ok: dropped.append(ok), max_queued=2)
        assert [queue.put(job(str(i))) for i in range(3)] == [True, True, False]
        await queue.stop()

    asyncio.run(scenario())
    assert dropped == [False]
    assert sample("gatepass_notifications_total", receiver="busy-hook", event="Created", result="dropped") == before + 1


@pytest.mark.parametrize("receiver", ["registered-hook"])
def test_every_series_exists_from_the_start(receiver):
    metrics.register([receiver])
    assert sample("gatepass_notifications_total", receiver=receiver, event="Expiring", result="failed") == 0.0
    from prometheus_client import REGISTRY
    assert REGISTRY.get_sample_value("gatepass_notifications_queued", {"receiver": receiver}) == 0.0
