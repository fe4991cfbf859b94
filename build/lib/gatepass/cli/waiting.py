"""Waiting for a request to be decided: a watch on the one request, a status line on stderr.

``progress`` is pure: it reads a request (and its policy, when the caller may
read it) and says whether the wait is over and what to show. ``wait`` follows
the request with a watch (never a sleep loop), renewing the watch when the API
server closes it. ``StatusLine`` redraws one line in place on a terminal, with
the time waited, and prints one line per change otherwise (logs, pipes, CI).
Ctrl-C is not handled here: it leaves the request as it is, and the caller
says how to check it later.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TextIO

from gatepass.api import values
from gatepass.core.conditions import BLOCKED_REASONS, DENIED, EXPIRED, GRANTED, get_condition
from gatepass.core.lifecycle import State
from gatepass.core.tally import tally
from gatepass.core.timestamps import parse_optional_time
from gatepass.core.types import DECISIONS, Policy, Review

from .errors import CliError
from .kube import Expired, Kube
from .output import state, utc

Until = Literal["approved", "granted"]


@dataclass(frozen=True)
class Progress:
    """Where a request stands for someone waiting on it."""

    line: str  # what the status line shows
    done: bool = False  # the wait is over
    granted: bool = False  # ... and it ended with access (approved, or bound for "granted")


def _condition(obj: Mapping, kind: str) -> Mapping:
    return get_condition((obj.get("status") or {}).get("conditions"), kind) or {}


def _reviews(obj: Mapping) -> list[Review]:
    reviews = []
    for record in (obj.get("status") or {}).get("reviews") or ():
        moment = parse_optional_time(record.get("time"))
        if moment is None or record.get("decision") not in DECISIONS:
            continue
        reviewer = values.identity({"username": record.get("reviewer", ""), "groups": record.get("groups")})
        reviews.append(Review(reviewer, record["decision"], record.get("reason") or "", moment))
    return reviews


def approvals_text(obj: Mapping, policy: Policy | None) -> str:
    """'two-leads: 1 of 2 approvals (alice)' with the policy, else '1 approval (alice)'."""
    reviews = _reviews(obj)
    approvers = [r.reviewer.username for r in reviews if r.decision == "Approve"]
    who = f" ({', '.join(approvers)})" if approvers else ""
    if policy is not None:
        requester = values.identity((obj.get("spec") or {}).get("requester"))
        return tally(policy, requester, reviews).approvals_summary() + who
    count = len(approvers)
    return f"{count} approval{'' if count == 1 else 's'}{who}"


def progress(obj: Mapping, until: Until = "approved", policy: Policy | None = None) -> Progress:
    """Whether waiting on ``obj`` is over, and the line to show."""
    name = f'AccessRequest {obj["metadata"]["name"]}'
    current = state(obj)
    step = _PROGRESS.get(current)
    return step(name, obj, until, policy) if step else Progress(f"{name} is {current}")


def _pending(name: str, obj: Mapping, until: Until, policy: Policy | None) -> Progress:
    return Progress(f"{name} is Pending: {approvals_text(obj, policy)}")


def _approved(name: str, obj: Mapping, until: Until, policy: Policy | None) -> Progress:
    status = obj.get("status") or {}
    why = _condition(obj, GRANTED)
    if why.get("status") == "True":
        expires = utc(status.get("expiresAt"))
        return Progress(f"{name} is Approved: access granted until {expires} UTC", done=True, granted=True)
    if why.get("status") == "False" and why.get("reason") in BLOCKED_REASONS:
        # Approved, but its bindings cannot be made yet: no access, whatever the wait was for. A wait for
        # access goes on (the operator grants it once the cause is fixed); a wait for approval ends here.
        line = f"{name} is Approved but not granted ({why['reason']}): {why.get('message') or ''}".rstrip(": ")
        return Progress(line, done=until == "approved")
    starts = utc(status.get("grantedAt"))
    line = f"{name} is Approved: access starts {starts} UTC" if starts else f"{name} is Approved"
    return Progress(line, done=until == "approved", granted=until == "approved")


def _denied(name: str, obj: Mapping, until: Until, policy: Policy | None) -> Progress:
    deniers = [r for r in (obj.get("status") or {}).get("reviews") or () if r.get("decision") == "Deny"]
    if deniers:
        said = "; ".join(f"{r.get('reviewer')}: {r.get('reason') or 'no reason given'}" for r in deniers)
        return Progress(f"{name} was denied by {said}", done=True)
    message = _condition(obj, DENIED).get("message") or "denied"
    return Progress(f"{name} was denied: {message}", done=True)


def _expired(name: str, obj: Mapping, until: Until, policy: Policy | None) -> Progress:
    message = _condition(obj, EXPIRED).get("message") or "it expired"
    return Progress(f"{name} expired: {message}", done=True)


def _revoked(name: str, obj: Mapping, until: Until, policy: Policy | None) -> Progress:
    status = obj.get("status") or {}
    said = f": {status['revokeReason']}" if status.get("revokeReason") else ""
    return Progress(f"{name} was revoked by {status.get('revokedBy') or 'someone'}{said}", done=True)


_PROGRESS: dict[State, Callable[[str, Mapping, Until, Policy | None], Progress]] = {
    State.Pending: _pending, State.Approved: _approved, State.Denied: _denied, State.Expired: _expired,
    State.Revoked: _revoked,
}


def elapsed_text(seconds: float) -> str:
    seconds = int(seconds)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


class StatusLine:
    """One line of status on stderr: redrawn in place on a terminal, printed per change elsewhere."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, tick: float = 1.0) -> None:
        self.stream = stream or sys.stderr
        self.live = _isatty(self.stream) if live is None else live
        self.clock = clock
        self.tick = tick
        self.started = clock()
        self.text = ""
        self.printed = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> StatusLine:
        if self.live:
            self._ticker = threading.Thread(target=self._tick, name="status-line", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        with self._lock:
            if self.live and self.text:
                # The caller prints how the wait ended; the live line makes room for it.
                self.stream.write("\r\x1b[K")
                self.stream.flush()

    def update(self, text: str) -> None:
        with self._lock:
            self.text = text
            if self.live:
                self._draw()
            elif text != self.printed:
                self.stream.write(text + "\n")
                self.stream.flush()
                self.printed = text

    def _draw(self) -> None:
        waited = elapsed_text(self.clock() - self.started)
        self.stream.write(f"\r\x1b[K{self.text} [{waited}]")
        self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(self.tick):
            with self._lock:
                if self.text:
                    self._draw()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _Policies:
    """The governing policy, read once when the request names it (None if unreadable)."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.cache: dict[str, Policy | None] = {}

    def of(self, obj: Mapping) -> Policy | None:
        name = (obj.get("status") or {}).get("policy")
        if not name:
            return None
        if name not in self.cache:
            body = self.kube.get_policy(name)
            try:
                self.cache[name] = values.policy(body) if body else None
            except (ValueError, KeyError, TypeError):
                self.cache[name] = None
        return self.cache[name]


def wait(kube: Kube, name: str, line: StatusLine, until: Until = "approved") -> tuple[Progress, dict]:
    """Follow the request until the wait is over; return how it ended and the last object seen.

    The status line shows every state on the way; the final one is for the caller to print.
    """
    policies = _Policies(kube)
    obj = kube.get_request(name)
    while True:
        result = progress(obj, until, policies.of(obj))
        if result.done:
            return result, obj
        line.update(result.line)
        version = obj["metadata"].get("resourceVersion", "")
        try:
            for kind, event in kube.watch_request(name, version):
                if kind == "DELETED":
                    raise CliError(f"AccessRequest {name} was deleted")
                if kind not in ("ADDED", "MODIFIED"):
                    continue
                obj = event
                result = progress(obj, until, policies.of(obj))
                if result.done:
                    return result, obj
                line.update(result.line)
        except Expired:
            obj = kube.get_request(name)
            continue
        # The API server closed the watch (it does every few minutes): watch again from the last version.
