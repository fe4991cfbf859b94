"""Leader election over a coordination.k8s.io/v1 Lease: who may lead, decided from what was read.

The rules are client-go's. A candidate reads the Lease and acts on it:
  * no Lease yet: create it, holding it;
  * held by this candidate: renew it (renewTime moves on);
  * released (no holder) or expired: take it over (a new acquireTime, one
    more leaseTransition);
  * otherwise: wait.

Expiry is judged on the candidate's own clock, never on the renewTime a
remote clock wrote: a holder's lease has expired when the candidate has seen
the same record for longer than leaseDurationSeconds. Every write is made with
the resourceVersion read, so two candidates can never both win one round.

A leader stops acting when it has not renewed for ``renew_deadline``, which is
shorter than the lease duration: it steps down before anybody else may take
over. All times are parameters; ``monotonic`` values are seconds on a clock
that never jumps, ``wall`` values are aware datetimes written into the Lease.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Mapping


class Verdict(Enum):
    CREATE = "create"  # no Lease: create it, held by me
    RENEW = "renew"  # I hold it: write a new renewTime
    ACQUIRE = "acquire"  # released or expired: take it over
    WAIT = "wait"  # somebody else holds it


@dataclass(frozen=True)
class LeaseRecord:
    """The part of a Lease's spec that election reads and writes."""

    holder: str = ""
    duration: float = 0.0  # leaseDurationSeconds
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0


@dataclass(frozen=True)
class Observation:
    """A record and the moment (monotonic seconds) this candidate first saw it as it is."""

    record: LeaseRecord
    since: float


@dataclass(frozen=True)
class Timing:
    """lease_duration > renew_deadline > retry_period, as client-go requires."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError(
                "leader election needs lease duration > renew deadline > retry period > 0, got "
                f"{self.lease_duration:g}s, {self.renew_deadline:g}s and {self.retry_period:g}s"
            )


def observe(previous: Observation | None, record: LeaseRecord | None, now: float) -> Observation | None:
    """What the candidate knows after reading ``record`` at ``now``: the expiry clock restarts
    whenever the record changed (a renewal, a new holder)."""
    if record is None:
        return None
    if previous is not None and previous.record == record:
        return previous
    return Observation(record, now)


def decide(me: str, observation: Observation | None, now: float) -> Verdict:
    """What candidate ``me`` should do, having read the Lease (``observation`` None: there is none)."""
    if observation is None:
        return Verdict.CREATE
    record = observation.record
    if record.holder == me:
        return Verdict.RENEW
    if not record.holder or expired(observation, now):
        return Verdict.ACQUIRE
    return Verdict.WAIT


def expired(observation: Observation, now: float) -> bool:
    return now >= observation.since + observation.record.duration


def claim(me: str, current: LeaseRecord | None, duration: float, wall: datetime) -> LeaseRecord:
    """The record to write when ``me`` creates, renews or takes over the Lease at ``wall``."""
    if current is not None and current.holder == me:
        return replace(current, duration=duration, renew_time=wall,
                       acquire_time=current.acquire_time or wall)
    transitions = 0 if current is None else current.transitions + 1
    return LeaseRecord(holder=me, duration=duration, acquire_time=wall, renew_time=wall, transitions=transitions)


def release(current: LeaseRecord, me: str, wall: datetime) -> LeaseRecord | None:
    """The record that hands the Lease back at shutdown (None: it is not ``me``'s to release).
    The duration drops to one second, so a waiting candidate takes over at once."""
    if current.holder != me:
        return None
    return replace(current, holder="", duration=1.0, renew_time=wall)


def still_leading(last_renewal: float, now: float, timing: Timing) -> bool:
    """A leader that could not renew within the renew deadline must stop acting."""
    return now - last_renewal < timing.renew_deadline


def handover_margin(timing: Timing) -> float:
    """Seconds a leader that stopped may still finish the work it has in progress: it notices it could not
    renew at most a retry period after the renew deadline, and a standby may take over once the lease
    duration has passed since the last renewal."""
    return max(0.0, timing.lease_duration - timing.renew_deadline - timing.retry_period)


# --- the Lease's JSON ---------------------------------------------------------------------------


def _micro_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else None


def from_spec(spec: Mapping[str, Any] | None) -> LeaseRecord:
    spec = spec or {}
    return LeaseRecord(
        holder=spec.get("holderIdentity") or "",
        duration=float(spec.get("leaseDurationSeconds") or 0),
        acquire_time=_parse(spec.get("acquireTime")),
        renew_time=_parse(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
    )


def to_spec(record: LeaseRecord) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "holderIdentity": record.holder or None,
        "leaseDurationSeconds": max(1, round(record.duration)),
        "acquireTime": _micro_time(record.acquire_time),
        "renewTime": _micro_time(record.renew_time),
        "leaseTransitions": record.transitions,
    }
    return {key: value for key, value in spec.items() if value is not None}
