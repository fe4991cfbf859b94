"""The work queue (gatepass.controller.queue): order, one worker per key, retries, deadlines, stopping.

No API server: the worker is a coroutine that records what it was given. Delays are milliseconds (a small
base backoff, deadlines a few ms ahead of a fixed wall clock), so every test takes well under a second.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest

import itertools

from gatepass.controller.queue import BASE_BACKOFF, DeadlineTimers, WorkQueue, default_deadline_workers

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def clock() -> datetime:
    return NOW


async def until(predicate, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.002)


class Recorder:
    """A worker that records each key it works on; ``hold`` keeps a key's run going until released."""

    def __init__(self) -> None:
        self.runs: list[str] = []
        self.finished: list[str] = []
        self.held: dict[str, asyncio.Event] = {}
        self.fail: dict[str, int] = {}  # key -> how many runs still fail
        self.during = None  # called with the key inside each run

    async def __call__(self, key: str) -> None:
        self.runs.append(key)
        if self.during is not None:
            self.during(key)
        if key in self.held:
            await self.held[key].wait()
        if self.fail.get(key, 0) > 0:
            self.fail[key] -= 1
            raise RuntimeError(f"{key} failed")
        self.finished.append(key)


async def working_on(worker: Recorder, key: str, concurrency: int, deadline_workers: int | None = None) -> WorkQueue:
    """A started queue whose worker has taken ``key`` (held, if the test holds it)."""
    worker.held[key] = asyncio.Event()
    queue = WorkQueue(worker, concurrency=concurrency, deadline_workers=deadline_workers, clock=clock)
    queue.start()
    queue.add(key)
    await until(lambda: worker.runs == [key])
    return queue


def run(scenario) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=5))


# ------------------------------------------------------------------ order and dedupe
def test_keys_are_worked_in_the_order_they_were_added():
    worker = Recorder()

    async def scenario():
        queue = WorkQueue(worker, concurrency=1, clock=clock)
        for key in ("c", "a", "b"):
            queue.add(key)
        queue.start()
        await until(lambda: len(worker.runs) == 3)
        await queue.stop()

    run(scenario)
    assert worker.runs == ["c", "a", "b"]


def test_a_key_added_again_while_it_waits_is_worked_once():
    worker = Recorder()

    async def scenario():
        queue = WorkQueue(worker, concurrency=2, clock=clock)
        for key in ("a", "b", "a", "a", "b"):
            queue.add(key)
        queue.start()
        await until(lambda: len(worker.runs) == 2)
        await asyncio.sleep(0.02)
        await queue.stop()

    run(scenario)
    assert sorted(worker.runs) == ["a", "b"]


def test_a_key_added_while_it_is_worked_on_runs_once_more_afterwards_never_beside_itself():
    worker = Recorder()

    async def scenario():
        queue = await working_on(worker, "a", concurrency=4)
        for _ in range(3):  # its own status echo, its bindings' events ...
            queue.add("a")
        await asyncio.sleep(0.02)
        assert worker.runs == ["a"], "worked on twice at once"
        worker.held.pop("a").set()
        await until(lambda: worker.runs == ["a", "a"])
        await asyncio.sleep(0.02)
        await queue.stop()

    run(scenario)
    assert worker.runs == ["a", "a"]


# ------------------------------------------------------------------ retries and backoff
def test_failed_work_is_retried_with_a_doubling_backoff_until_it_succeeds(caplog):
    worker = Recorder()
    worker.fail["a"] = 3

    async def scenario():
        queue = WorkQueue(worker, concurrency=1, base_backoff=0.01, max_backoff=1.0, clock=clock)
        queue.start()
        queue.add("a")
        await until(lambda: worker.finished == ["a"])
        assert queue.retrying == 0
        await queue.stop()

    with caplog.at_level("WARNING", logger="gatepass.queue"):
        run(scenario)
    assert worker.runs == ["a"] * 4
    assert [r.getMessage() for r in caplog.records] == [
        "Reconciling a failed (attempt 1, retrying in 0.01s): a failed",
        "Reconciling a failed (attempt 2, retrying in 0.02s): a failed",
        "Reconciling a failed (attempt 3, retrying in 0.04s): a failed",
    ]


def test_back_off_doubles_up_to_the_cap_with_one_retry_timer_per_key():
    async def scenario():
        queue = WorkQueue(Recorder(), concurrency=1, max_backoff=2.0, clock=clock)
        delays = [queue.back_off("a") for _ in range(5)]
        assert delays == [BASE_BACKOFF, 0.5, 1.0, 2.0, 2.0]
        assert queue.retrying == 1
        queue.forget("a")
        assert queue.retrying == 0

    run(scenario)


def test_work_that_backs_off_is_worked_again_and_a_run_that_does_not_resets_the_backoff():
    worker = Recorder()
    delays: list[float] = []

    async def scenario():
        queue = WorkQueue(worker, concurrency=1, base_backoff=0.005, clock=clock)
        worker.during = lambda key: delays.append(queue.back_off(key)) if len(worker.runs) < 3 else None
        queue.start()
        queue.add("a")
        await until(lambda: len(worker.finished) == 3)  # two runs waited on something; the third did not
        await asyncio.sleep(0.03)
        assert worker.runs == ["a"] * 3, "nothing more to do"
        delays.append(queue.back_off("a"))
        queue.forget("a")
        await queue.stop()

    run(scenario)
    assert delays == [0.005, 0.01, 0.005]


# ------------------------------------------------------------------ deadlines
def test_an_armed_deadline_queues_its_key_when_it_comes():
    worker = Recorder()

    async def scenario():
        queue = WorkQueue(worker, concurrency=1, clock=clock)
        queue.start()
        queue.arm("soon", NOW + timedelta(milliseconds=10))
        queue.arm("past", NOW - timedelta(hours=1))  # already due: queued at once, in the deadline lane
        assert (queue.armed, queue.waiting) == (1, (1, 0))
        await until(lambda: worker.runs == ["past"])
        await until(lambda: worker.runs == ["past", "soon"])
        assert queue.armed == 0
        await queue.stop()

    run(scenario)


def test_arming_again_moves_the_deadline_and_none_disarms_it():
    worker = Recorder()

    async def scenario():
        queue = WorkQueue(worker, concurrency=1, clock=clock)
        queue.start()
        queue.arm("moved", NOW + timedelta(hours=1))
        queue.arm("moved", NOW + timedelta(milliseconds=5))  # one timer per key: the earlier one is gone
        queue.arm("disarmed", NOW + timedelta(milliseconds=5))
        queue.arm("disarmed", None)
        assert queue.armed == 1
        await until(lambda: worker.runs == ["moved"])
        await asyncio.sleep(0.03)
        await queue.stop()

    run(scenario)
    assert worker.runs == ["moved"]


def test_forget_drops_the_deadline_the_retry_and_the_failure_count():
    worker = Recorder()

    async def scenario():
        queue = WorkQueue(worker, concurrency=1, base_backoff=0.01, clock=clock)
        queue.start()
        queue.arm("gone", NOW + timedelta(milliseconds=10))
        queue.back_off("gone")
        queue.back_off("gone")
        queue.forget("gone")
        assert (queue.armed, queue.retrying) == (0, 0)
        await asyncio.sleep(0.04)
        assert queue.back_off("gone") == 0.01, "counted from the start again"
        queue.forget("gone")
        await queue.stop()

    run(scenario)
    assert worker.runs == []


# ------------------------------------------------------------------ stopping
def test_stopping_an_idle_queue_is_immediate_and_what_is_queued_waits_for_the_next_start():
    worker = Recorder()

    async def scenario():
        queue = WorkQueue(worker, concurrency=3, clock=clock)
        queue.start()
        queue.arm("deadline", NOW + timedelta(hours=1))
        queue.back_off("retry")
        started = time.monotonic()
        await queue.stop(grace=30)
        assert time.monotonic() - started < 0.5, "idle workers do not wait out the grace"
        assert (queue.armed, queue.retrying) == (0, 0), "timers are the leader's: they stop with it"
        queue.add("later")
        await asyncio.sleep(0.01)
        assert worker.runs == []
        queue.start()
        await until(lambda: worker.runs == ["later"])
        await queue.stop()

    run(scenario)


@pytest.mark.parametrize("grace, finished", [(1.0, True), (0.01, False)])
def test_stopping_gives_the_work_in_progress_its_grace_and_no_more(grace, finished):
    worker = Recorder()

    async def scenario():
        queue = await working_on(worker, "slow", concurrency=2)
        asyncio.get_running_loop().call_later(0.03, worker.held["slow"].set)  # it finishes in 30 ms
        queue.add("next")  # taken by the idle worker before the stop
        await until(lambda: "next" in worker.runs)
        await queue.stop(grace=grace)

    run(scenario)
    assert ("slow" in worker.finished) is finished
    assert worker.finished.count("next") == 1


# ------------------------------------------------------------------ the deadline lane
def past(minutes: int) -> datetime:
    return NOW - timedelta(minutes=minutes)


def test_deadline_work_goes_first_soonest_deadline_first_then_ordinary_work_in_its_order():
    worker = Recorder()

    async def scenario():
        queue = await working_on(worker, "busy", concurrency=1, deadline_workers=0)
        queue.add("a")
        queue.arm("late", past(1))
        queue.add("b")
        queue.arm("early", past(60))
        worker.held.pop("busy").set()
        await until(lambda: len(worker.finished) == 5)
        await queue.stop()

    run(scenario)
    assert worker.runs == ["busy", "early", "late", "a", "b"]


def test_a_key_waiting_as_ordinary_work_moves_to_the_deadline_lane_when_its_deadline_comes_and_runs_once():
    worker = Recorder()

    async def scenario():
        queue = await working_on(worker, "busy", concurrency=1, deadline_workers=0)
        queue.add("x")
        queue.add("y")
        queue.arm("y", past(1))
        assert queue.waiting == (1, 1)
        queue.add("y")  # news of it meanwhile: it stays where it is
        worker.held.pop("busy").set()
        await until(lambda: len(worker.finished) == 3)
        await queue.stop()

    run(scenario)
    assert worker.runs == ["busy", "y", "x"]


def test_a_flood_of_ordinary_work_on_every_worker_leaves_a_worker_for_a_deadline():
    worker = Recorder()

    async def scenario():
        queue = WorkQueue(worker, concurrency=2, deadline_workers=1, clock=clock)
        queue.start()
        for key in ("f1", "f2"):
            worker.held[key] = asyncio.Event()
        for key in ("f1", "f2", "f3", "f4"):
            queue.add(key)
        await until(lambda: sorted(worker.runs) == ["f1", "f2"])
        queue.arm("expiry", past(0))
        await until(lambda: "expiry" in worker.finished)
        assert sorted(worker.runs) == ["expiry", "f1", "f2"], "the deadline worker took ordinary work"
        for event in worker.held.values():
            event.set()
        await until(lambda: len(worker.finished) == 5)
        await queue.stop()

    run(scenario)


def test_a_timer_that_comes_queues_its_key_ahead_of_ordinary_work():
    worker = Recorder()

    async def scenario():
        queue = await working_on(worker, "busy", concurrency=1, deadline_workers=0)
        queue.add("ordinary")
        queue.arm("timer", NOW + timedelta(milliseconds=1))
        await until(lambda: queue.armed == 0)  # it came: waiting in the deadline lane
        assert queue.waiting == (1, 1)
        worker.held.pop("busy").set()
        await until(lambda: len(worker.finished) == 3)
        await queue.stop()

    run(scenario)
    assert worker.runs == ["busy", "timer", "ordinary"]


def test_a_deadline_that_comes_while_its_key_is_worked_on_runs_it_again_ahead_of_ordinary_work():
    worker = Recorder()

    async def scenario():
        queue = await working_on(worker, "k", concurrency=1, deadline_workers=0)
        queue.add("o")
        queue.add("k")  # ordinary news first ...
        queue.arm("k", past(0))  # ... then its deadline: the run again is deadline work
        worker.held.pop("k").set()
        await until(lambda: len(worker.finished) == 3)
        await queue.stop()

    run(scenario)
    assert worker.runs == ["k", "k", "o"]


def test_a_retry_is_ordinary_work():
    async def scenario():
        queue = WorkQueue(Recorder(), concurrency=1, clock=clock)
        queue.arm("due", past(1))
        queue._fire_retry("retried")  # its backoff is over
        assert queue.waiting == (1, 1)
        assert [queue._take(deadline_only=False), queue._take(deadline_only=False)] == ["due", "retried"]

    run(scenario)


def test_what_is_queued_when_stopped_is_worked_after_the_next_start_deadlines_first():
    worker = Recorder()

    async def scenario():
        queue = WorkQueue(worker, concurrency=1, clock=clock)
        queue.add("ordinary")
        queue.arm("due", past(5))
        queue.start()
        await queue.stop()
        queue.start()
        await until(lambda: len(worker.finished) == 2)
        await queue.stop()

    run(scenario)
    assert worker.runs == ["due", "ordinary"]


def test_deadline_workers_default_to_a_quarter_of_the_others_and_at_least_one():
    assert [default_deadline_workers(n) for n in (1, 4, 8, 16)] == [1, 1, 2, 4]


# Every sequence of these operations on two keys, against a model of the two lanes: a key waits once, in the
# most urgent place it was asked for (a deadline before none, an earlier deadline before a later one, the
# first asking among equals); the deadline lane goes first, soonest first; the ordinary lane in order.
OPERATIONS = [("add", key, None) for key in "ab"] + [("arm", key, minutes) for key in "ab" for minutes in (1, 5)]


def model_order(operations) -> list[str]:
    place: dict[str, tuple] = {}
    for step, (_, key, minutes) in enumerate(operations):
        wanted = (1, 0, step) if minutes is None else (0, -minutes, step)  # rank, deadline, who asked first
        if key not in place or wanted[:2] < place[key][:2]:
            place[key] = wanted
    return sorted(place, key=lambda key: place[key])


@pytest.mark.parametrize("operations", [ops for n in range(1, 5) for ops in itertools.product(OPERATIONS, repeat=n)],
                         ids=lambda ops: ",".join(f"{op}:{key}{'' if m is None else -m}" for op, key, m in ops))
def test_the_order_of_waiting_work_follows_the_lanes(operations):
    order: list[str] = []

    async def scenario():
        queue = WorkQueue(Recorder(), concurrency=1, clock=clock)  # not started: what it would take, in order
        for operation, key, minutes in operations:
            queue.add(key) if operation == "add" else queue.arm(key, past(minutes))
        while (key := queue._take(deadline_only=False)) is not None:
            order.append(key)

    run(scenario)
    assert order == model_order(operations)


def test_a_worker_kept_for_deadlines_takes_no_ordinary_work():
    async def scenario():
        queue = WorkQueue(Recorder(), concurrency=1, clock=clock)
        queue.add("ordinary")
        queue.arm("due", past(1))
        assert queue._take(deadline_only=True) == "due"
        assert queue._take(deadline_only=True) is None
        assert queue._take(deadline_only=False) == "ordinary"

    run(scenario)


# ------------------------------------------------------------------ the deadline timers: one heap, one loop timer
class Due:
    """Records what DeadlineTimers hands over: (key, when), in order."""

    def __init__(self) -> None:
        self.got: list[tuple[str, datetime]] = []

    def __call__(self, key: str, when: datetime) -> None:
        self.got.append((key, when))

    def keys(self) -> list[str]:
        return [key for key, _ in self.got]


def ms(n: float) -> datetime:
    return NOW + timedelta(milliseconds=n)


def test_timers_rearmed_earlier_fire_once_at_the_earlier_time():
    due = Due()

    async def scenario():
        timers = DeadlineTimers(due, clock)
        assert timers.arm("k", NOW + timedelta(hours=1))
        assert timers.arm("k", ms(5))
        assert len(timers) == 1
        await until(lambda: due.got)
        await asyncio.sleep(0.02)
        assert len(timers) == 0 and timers._heap == [] and timers._timer is None

    run(scenario)
    assert due.got == [("k", ms(5))]


def test_timers_rearmed_later_wait_for_the_later_time():
    due = Due()

    async def scenario():
        timers = DeadlineTimers(due, clock)
        timers.arm("later", ms(5))
        timers.arm("later", NOW + timedelta(hours=1))
        timers.arm("marker", ms(15))
        await until(lambda: due.got)
        assert due.keys() == ["marker"]
        assert len(timers) == 1 and "later" in timers
        assert timers._timer_at == NOW + timedelta(hours=1), "the timer follows the soonest key still armed"
        timers.clear()

    run(scenario)


def test_disarmed_timers_hand_over_nothing_and_the_last_one_stops_the_loop_timer():
    due = Due()

    async def scenario():
        timers = DeadlineTimers(due, clock)
        timers.arm("gone", ms(5))
        timers.arm("kept", ms(10))
        assert timers.arm("gone", None) is False
        assert len(timers) == 1
        await until(lambda: due.got)
        await asyncio.sleep(0.01)
        assert due.keys() == ["kept"]
        timers.arm("alone", ms(5))
        timers.arm("alone", None)
        assert (len(timers), timers._heap, timers._timer) == (0, [], None)

    run(scenario)


def test_many_timers_fire_each_once_soonest_first():
    due = Due()
    keys = [f"k{i}" for i in range(2000)]
    whens = {key: ms((i * 7919) % 2000 / 100) for i, key in enumerate(keys)}  # 0..20 ms, shuffled

    async def scenario():
        timers = DeadlineTimers(due, clock)
        for key in keys:
            assert timers.arm(key, whens[key]) or whens[key] <= NOW
        await until(lambda: len(due.got) == sum(1 for w in whens.values() if w > NOW))
        assert len(timers) == 0 and timers._heap == []

    run(scenario)
    assert sorted(due.keys()) == sorted(k for k, w in whens.items() if w > NOW), "each exactly once"
    assert [when for _, when in due.got] == sorted(when for _, when in due.got)
    assert all(when == whens[key] for key, when in due.got)


def test_stale_entries_are_skipped_and_do_not_pile_up():
    due = Due()

    async def scenario():
        timers = DeadlineTimers(due, clock)
        for round_ in range(50):  # every key moved again and again: each move leaves a stale entry
            for i in range(100):
                timers.arm(f"k{i}", ms(10 + (round_ + i) % 7))
            assert len(timers) == 100
            assert len(timers._heap) <= 2 * 100 + 64
        timers.arm("k0", ms(10 + (49 + 0) % 7))  # the same time again: no new entry
        await until(lambda: len(due.got) == 100)
        await asyncio.sleep(0.01)

    run(scenario)
    assert sorted(due.keys()) == sorted(f"k{i}" for i in range(100))
    assert all(when == ms(10 + (49 + int(key[1:])) % 7) for key, when in due.got), "at the last time armed"


def test_timers_at_one_time_are_handed_over_in_the_order_they_were_armed():
    due = Due()

    async def scenario():
        timers = DeadlineTimers(due, clock)
        for key in ("c", "a", "b"):
            timers.arm(key, ms(5))
        timers.arm("first", ms(3))
        await until(lambda: len(due.got) == 4)

    run(scenario)
    assert due.keys() == ["first", "c", "a", "b"]


def test_what_the_clock_says_is_due_is_handed_over_at_once_when_the_timer_fires():
    due = Due()
    now = [NOW]

    async def scenario():
        timers = DeadlineTimers(due, lambda: now[0])
        assert timers.arm("past", NOW - timedelta(seconds=1)) is False  # already come: the caller queues it
        assert timers.arm("now", NOW) is False
        timers.arm("a", ms(5))
        timers.arm("b", NOW + timedelta(minutes=30))
        timers.arm("c", NOW + timedelta(hours=2))
        now[0] = NOW + timedelta(hours=1)  # the wall clock moved on before a's timer came
        await until(lambda: due.got)
        assert due.keys() == ["a", "b"] and len(timers) == 1
        timers.clear()

    run(scenario)


def test_the_queue_counts_armed_keys_not_timers():
    worker = Recorder()

    async def scenario():
        queue = WorkQueue(worker, concurrency=1, clock=clock)
        for i in range(3):
            queue.arm("a", NOW + timedelta(hours=1 + i))
            queue.arm("b", NOW + timedelta(hours=1))
        queue.arm("c", NOW + timedelta(hours=1))
        queue.arm("c", None)
        queue.arm("d", NOW - timedelta(minutes=1))  # due: queued, not armed
        assert queue.armed == 2 and queue.waiting == (1, 0)
        queue.forget("a")
        assert queue.armed == 1
        await queue.stop()
        assert queue.armed == 0

    run(scenario)
