"""Running a reviewer function against the cluster: list, then watch, and review what is new.

The runner reconciles from what it lists and watches, not from single events:
after a restart, or after the watch expired and it listed again, it reaches
the same reviews (the requests it already reviewed are in their status or in
its AccessReviews). Each request is put to the function once per run; an
Approve or Deny becomes an AccessReview about the request the function judged
(its name and uid). A refusal from the API server or the admission webhook
(not a reviewer under the policy, already reviewed, no longer Pending, replaced
by another request of the same name) is logged in one line and not tried
again. Transient failures are retried a few times with a growing pause; after
that, the request is put to the function again on its next change.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from gatepass.core.backoff import ceiling

from .kube import WATCH_TIMEOUT, Gone, Refused, ReviewerApi, ReviewerError, Unavailable
from .request import ReviewRequest
from .results import Abstain, Approve, Deny, Result, Reviewer, is_result
from .selection import request_key, review_body, reviewed_requests, why_not

log = logging.getLogger("gatepass.reviewer")

#: First and longest pause before listing or watching again after the cluster failed (doubling in between).
FIRST_PAUSE, MAX_PAUSE = 1.0, 30.0
#: Pauses between attempts to create one AccessReview when the cluster fails: 1s, 2s, 4s.
SUBMIT_PAUSES = tuple(ceiling(failure, FIRST_PAUSE, MAX_PAUSE) for failure in range(1, 4))
#: Seconds a stop waits for the review being made to finish.
STOP_GRACE = 10.0


class Api(Protocol):
    """What the runner needs of the API (``kube.ReviewerApi``; a fake in unit tests)."""

    def whoami(self) -> str: ...
    def list_requests(self) -> tuple[list[dict], str]: ...
    def list_reviews_by(self, username: str) -> list[dict]: ...
    def watch_requests(self, resource_version: str, timeout: int = ...): ...
    def create_review(self, body: Mapping) -> dict: ...


def _describe(result: Result) -> str:
    return f": {result.reason}" if result.reason else ""


class Runner:
    """The reviewer's state in one run: who it is, what it reviewed, what it was asked."""

    def __init__(self, api: Api, review: Reviewer, *, wait: Callable[[float], bool] | None = None) -> None:
        self.api = api
        self.review = review
        self.me = ""
        self.reviewed: set[str] = set()  # uids (or names) of requests with an AccessReview by me
        self.asked: set[str] = set()  # request keys put to the function (or refused) in this run
        self.abstained: set[str] = set()  # of those, the ones it abstained on (asked again at a recheck)
        self.idle = threading.Event()
        self.idle.set()
        # wait(seconds) pauses and says whether to stop; the runner's stop event in `run`.
        self._wait = wait or (lambda seconds: threading.Event().wait(seconds))

    # -- listing and watching ---------------------------------------------------

    def sync(self) -> str:
        """List everything, consider each request (oldest first), return the resourceVersion to watch from."""
        if not self.me:
            self.me = self.api.whoami()
        self.reviewed = reviewed_requests(self.api.list_reviews_by(self.me), self.me)
        items, resource_version = self.api.list_requests()
        present = {request_key(body) for body in items}
        self.asked &= present
        for body in sorted(items, key=lambda b: (b.get("metadata") or {}).get("creationTimestamp") or ""):
            self.consider(body)
        return resource_version

    def on_event(self, kind: str, body: dict) -> None:
        if kind in ("ADDED", "MODIFIED"):
            self.consider(body)
        elif kind == "DELETED":
            key = request_key(body)
            self.asked.discard(key)
            self.abstained.discard(key)
            self.reviewed.discard(key)
            self.reviewed.discard((body.get("metadata") or {}).get("name") or "")

    def recheck(self) -> str:
        """Ask again about the Pending requests it abstained on (an on-call shift may have started since)."""
        self.asked -= self.abstained
        self.abstained.clear()
        return self.sync()

    # -- one request ------------------------------------------------------------

    def consider(self, body: dict) -> None:
        if why_not(body, self.me, self.reviewed, self.asked) is not None:
            return
        self.idle.clear()
        try:
            key = request_key(body)
            self.asked.add(key)
            name = (body.get("metadata") or {}).get("name")
            result = self.decide(body)
            if isinstance(result, Abstain):
                self.abstained.add(key)
                log.info("Abstained on AccessRequest %s%s", name, _describe(result))
                return
            # The key is the uid: a request without one is never answered (it cannot be read).
            if not self.submit(name, key, result):
                self.asked.discard(key)
        finally:
            self.idle.set()

    def decide(self, body: dict) -> Result:
        """The function's answer; a request it cannot read, an exception or a wrong answer is an abstention."""
        name = (body.get("metadata") or {}).get("name")
        try:
            request = ReviewRequest.from_body(body)
        except ValueError as error:
            return Abstain(f"cannot read it: {error}")
        try:
            result = self.review(request)
        except Exception as error:  # noqa: BLE001 - a reviewer's bug must not stop the others' reviews
            log.error("Reviewer function failed on AccessRequest %s: %s: %s; abstained",
                      name, type(error).__name__, error)
            return Abstain()
        if not is_result(result):
            log.error("Reviewer function returned %r for AccessRequest %s, not Approve, Deny or Abstain; "
                      "abstained", result, name)
            return Abstain()
        return result

    def submit(self, name: str, uid: str, result: Approve | Deny) -> bool:
        """Create the AccessReview about the request ``name`` with ``uid`` (the one the function judged);
        False if the cluster kept failing (so the request may be asked again)."""
        body = review_body(name, uid, result, self.me)
        verb = "Approved" if isinstance(result, Approve) else "Denied"
        for attempt, pause in enumerate((*SUBMIT_PAUSES, None)):
            try:
                created = self.api.create_review(body)
            except Refused as refusal:
                log.warning("Could not review AccessRequest %s as %s (%s): %s", name, self.me, result.decision,
                            refusal.message.removeprefix("create AccessReview: "))
                return True
            except Unavailable as error:
                if pause is None:
                    log.warning("Gave up reviewing AccessRequest %s after %d attempts (%s); "
                                "it is asked about again on its next change", name, attempt + 1, error.message)
                    return False
                if self._wait(pause):
                    return False
                continue
            self.reviewed.add(uid)
            review = (created.get("metadata") or {}).get("name", "")
            log.info("%s AccessRequest %s as %s (AccessReview %s)%s", verb, name, self.me, review, _describe(result))
            return True
        return False


def _watch_loop(runner: Runner, api: Api, stop: threading.Event, recheck: float | None = None) -> None:
    """List, then watch from the list's resourceVersion, renewing the watch; list again on 410.
    With ``recheck`` (seconds), the requests it abstained on are asked about again that often."""
    failures = 0
    resource_version = None
    next_recheck = time.monotonic() + recheck if recheck else None
    while not stop.is_set():
        try:
            if resource_version is None:
                resource_version = runner.sync()
                log.info("Watching AccessRequests as %s", runner.me)
            elif next_recheck is not None and time.monotonic() >= next_recheck:
                resource_version = runner.recheck()
                next_recheck = time.monotonic() + recheck
            timeout = WATCH_TIMEOUT if next_recheck is None else \
                max(1, min(WATCH_TIMEOUT, math.ceil(next_recheck - time.monotonic())))
            for kind, body in api.watch_requests(resource_version, timeout):
                if stop.is_set():
                    return
                resource_version = (body.get("metadata") or {}).get("resourceVersion") or resource_version
                runner.on_event(kind, body)
            failures = 0
        except Gone:
            log.info("The watch expired; listing AccessRequests again")
            resource_version = None
        except Unavailable as error:
            failures += 1
            pause = ceiling(failures, FIRST_PAUSE, MAX_PAUSE)
            log.warning("%s; trying again in %.0fs", error.message, pause)
            if stop.wait(pause):
                return


def run(review: Reviewer, *, kubeconfig: str | None = None, context: str | None = None,
        stop: threading.Event | None = None, api: Api | None = None, recheck: float | None = None) -> None:
    """Run ``review`` as a reviewer until SIGTERM or SIGINT (or until ``stop`` is set).

    Connects with ``kubeconfig`` and ``context`` (else $KUBECONFIG or ~/.kube/config and its current
    context; inside a pod with neither, its ServiceAccount). With ``recheck`` (seconds), Pending requests
    it abstained on are asked about again that often (otherwise once per run). Raises ``ReviewerError`` when it cannot
    go on: no usable configuration, or the API refuses to say who it is or to list requests.
    """
    stop = stop or threading.Event()
    api = api or ReviewerApi.connect(kubeconfig, context)
    runner = Runner(api, review, wait=stop.wait)
    failure: list[ReviewerError] = []

    def work() -> None:
        try:
            _watch_loop(runner, api, stop, recheck)
        except ReviewerError as error:
            failure.append(error)
        finally:
            stop.set()

    restore = _handle_signals(stop)
    worker = threading.Thread(target=work, name="reviewer", daemon=True)
    try:
        worker.start()
        while not stop.wait(0.5):
            pass
        # The worker may be blocked reading the watch; wait only for a review being made.
        runner.idle.wait(STOP_GRACE)
        worker.join(0.1)
    finally:
        restore()
    if failure:
        raise failure[0]
    log.info("Stopped")


def _handle_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set ``stop``; a second one is handled as usual. Only in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}

    def handler(number: int, _frame: object) -> None:
        log.info("Received %s; stopping", signal.Signals(number).name)
        stop.set()
        for each, action in previous.items():
            signal.signal(each, action)

    for number in previous:
        signal.signal(number, handler)

    def restore() -> None:
        for number, action in previous.items():
            signal.signal(number, action)

    return restore
