"""Leader election's rules (gatepass.core.leases), and two electors sharing one Lease."""

from __future__ import annotations

import asyncio
import json
import types
from datetime import datetime, timedelta, timezone

import pytest

from gatepass.core import leases
from gatepass.core.leases import LeaseRecord, Observation, Timing, Verdict

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)


def seen(holder: str, since: float = 0.0, duration: float = 15.0) -> Observation:
    return Observation(LeaseRecord(holder=holder, duration=duration, acquire_time=T0, renew_time=T0), since)


@pytest.mark.parametrize("observation, now, verdict", [
    (None, 0.0, Verdict.CREATE),
    (seen("me"), 100.0, Verdict.RENEW),
    (seen(""), 0.0, Verdict.ACQUIRE),
    (seen("other", since=10.0), 10.0, Verdict.WAIT),
    (seen("other", since=10.0), 24.9, Verdict.WAIT),
    (seen("other", since=10.0), 25.0, Verdict.ACQUIRE),
])
def test_decide(observation, now, verdict):
    assert leases.decide("me", observation, now) is verdict


def test_expiry_is_judged_on_the_local_clock_from_when_the_record_last_changed():
    record = LeaseRecord(holder="other", duration=15.0, renew_time=T0 - timedelta(days=1))
    first = leases.observe(None, record, now=100.0)
    assert leases.decide("me", first, 101.0) is Verdict.WAIT  # an old renewTime alone proves nothing
    again = leases.observe(first, record, now=110.0)
    assert again is first  # unchanged: the clock keeps running
    assert leases.decide("me", again, 115.0) is Verdict.ACQUIRE
    renewed = leases.observe(again, LeaseRecord(holder="other", duration=15.0, renew_time=T0), now=114.0)
    assert renewed.since == 114.0
    assert leases.decide("me", renewed, 115.0) is Verdict.WAIT
    assert leases.observe(renewed, None, 120.0) is None


def test_claim_creates_renews_and_takes_over():
    created = leases.claim("me", None, 15.0, T0)
    assert created == LeaseRecord("me", 15.0, T0, T0, 0)
    later = T0 + timedelta(seconds=2)
    renewed = leases.claim("me", created, 15.0, later)
    assert (renewed.acquire_time, renewed.renew_time, renewed.transitions) == (T0, later, 0)
    taken = leases.claim("other", renewed, 15.0, later)
    assert (taken.holder, taken.acquire_time, taken.transitions) == ("other", later, 1)
    released = leases.release(taken, "other", later)
    assert released.holder == "" and released.duration == 1.0
    assert leases.claim("me", released, 15.0, later).transitions == 2  # every new holder counts


def test_only_the_holder_releases():
    assert leases.release(LeaseRecord(holder="other", duration=15.0), "me", T0) is None


def test_a_leader_steps_down_before_anybody_may_take_over():
    timing = Timing(lease_duration=15, renew_deadline=10, retry_period=2)
    assert leases.still_leading(last_renewal=0.0, now=9.9, timing=timing)
    assert not leases.still_leading(last_renewal=0.0, now=10.0, timing=timing)


@pytest.mark.parametrize("values", [(10, 10, 2), (15, 10, 10), (15, 10, 0), (5, 10, 2)])
def test_timing_must_be_ordered(values):
    with pytest.raises(ValueError, match="lease duration > renew deadline > retry period"):
        Timing(*values)


def test_spec_round_trip_uses_micro_time():
    record = LeaseRecord("me", 15.0, T0, T0 + timedelta(seconds=1), 3)
    spec = leases.to_spec(record)
    assert spec == {"holderIdentity": "me", "leaseDurationSeconds": 15, "acquireTime": "2026-01-02T03:04:05.678901Z",
                    "renewTime": "2026-01-02T03:04:06.678901Z", "leaseTransitions": 3}
    assert leases.from_spec(spec) == record
    assert "holderIdentity" not in leases.to_spec(LeaseRecord(holder="", duration=1))
    assert leases.from_spec(None) == LeaseRecord()
    assert leases.from_spec({"renewTime": "garbage"}).renew_time is None


# --- two electors, one Lease (an in-memory API with the API server's optimistic concurrency) -----------


class FakeLeaseApi:
    def __init__(self):
        self.body: dict | None = None
        self.version = 0
        self.down: set[str] = set()  # identities whose calls fail, as if partitioned

    def _check(self, caller):
        from gatepass.kube.errors import ApiException
        if caller in self.down:
            raise ApiException(status=503, reason="unreachable")

    def read(self, caller):
        from gatepass.kube.errors import ApiException
        self._check(caller)
        if self.body is None:
            raise ApiException(status=404, reason="NotFound")
        return json.dumps(self.body)

    def write(self, caller, body, create):
        from gatepass.kube.errors import ApiException
        self._check(caller)
        if create and self.body is not None:
            raise ApiException(status=409, reason="AlreadyExists")
        if not create and body["metadata"].get("resourceVersion") != str(self.version):
            raise ApiException(status=409, reason="Conflict")
        self.version += 1
        self.body = {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.version)}}


class CallerHttp:
    """The Lease requests of one elector (as gatepass.kube.http.ApiHttp takes them), against the fake."""

    def __init__(self, fake: FakeLeaseApi, caller: str):
        self.fake, self.caller = fake, caller
        self.paths: set[tuple[str, str]] = set()

    async def request(self, method, path, body=None, *, timeout=None, **_):
        assert timeout is not None  # every Lease call is bounded
        self.paths.add((method, path))
        if method == "GET":
            return json.loads(self.fake.read(self.caller))
        assert method in ("POST", "PUT"), method
        self.fake.write(self.caller, body, create=method == "POST")
        return body


def elector(fake, identity, log):
    from gatepass.process.leadership import LeaderElection

    async def started():
        log.append(("start", identity))

    async def stopped():
        log.append(("stop", identity))

    client = types.SimpleNamespace(async_http=CallerHttp(fake, identity))
    return LeaderElection(client, "gatepass-system", "gatepass-operator", identity,
                          Timing(lease_duration=2, renew_deadline=1.0, retry_period=0.1),
                          on_started=started, on_stopped=stopped)


async def until(predicate, timeout=20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def leaders(log):
    """Who leads after each entry of the log; never more than one at a time."""
    current = set()
    for action, who in log:
        if action == "start":
            current.add(who)
        else:
            current.discard(who)
        assert len(current) <= 1, f"two leaders at once: {log}"
    return current


def test_one_leads_a_released_lease_passes_at_once_and_a_partitioned_leader_steps_down():
    async def scenario():
        fake, log = FakeLeaseApi(), []
        a, b = elector(fake, "a", log), elector(fake, "b", log)
        task_a = asyncio.create_task(a.run())
        await until(lambda: a.leading)
        task_b = asyncio.create_task(b.run())
        await asyncio.sleep(0.3)
        assert a.leading and not b.leading

        task_a.cancel()  # a graceful stop: a steps down and hands the lease back
        await asyncio.gather(task_a, return_exceptions=True)
        assert fake.body["spec"].get("holderIdentity") is None
        await until(lambda: b.leading)
        assert log == [("start", "a"), ("stop", "a"), ("start", "b")]

        task_a = asyncio.create_task(a.run())
        fake.down.add("b")  # b can't reach the API server: it must stop before a may start
        await until(lambda: a.leading)
        assert ("stop", "b") in log and log.index(("stop", "b")) < log.index(("start", "a"), 1)
        assert fake.body["spec"]["leaseTransitions"] == 2
        leaders(log)
        for task in (task_a, task_b):
            task.cancel()
        await asyncio.gather(task_a, task_b, return_exceptions=True)
        assert leaders(log) == set()
        leases_path = "/apis/coordination.k8s.io/v1/namespaces/gatepass-system/leases"
        assert a.http.paths == {("POST", leases_path), ("GET", leases_path + "/gatepass-operator"),
                                ("PUT", leases_path + "/gatepass-operator")}

    asyncio.run(asyncio.wait_for(scenario(), timeout=60))
