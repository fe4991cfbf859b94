"""Policy rules at work: a Pending request's rules are evaluated and the deciding one recorded.

The decision is an AccessReview by the system reviewer gatepass:rules, named
after the request (gatepass.rules.review_name), so that creating it again after
a failure or on another replica finds it there (AlreadyExists) instead of
reviewing twice. The reconciler counts it with the other reviews.

A request's rules are evaluated again only when something they read changed
(its labels, the policy's rules); a rule that fails is reported once per
request (a log line and a Warning Event on the request). The evaluation runs in
worker threads (gatepass.rules.workers), never on the event loop.

A rule review the API server refuses (admission says why; or another 4xx) is
reported likewise, and the request is reconciled without it: its status, events
and notifications go on, and its reviewers decide. The review is tried again at
the request's next reconcile. Only errors worth retrying soon (5xx, 429, a
connection that failed) abort the reconcile, which the queue retries with
backoff.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime

from gatepass.kube.errors import ApiException

from gatepass import rules
from gatepass.api import values
from gatepass.core import ledger
from gatepass.core.grants import REQUEST_LABEL, REQUEST_UID_LABEL, request_label
from gatepass.core.names import GROUP, VERSION
from gatepass.core.lifecycle import State, state_of
from gatepass.core.types import Policy, Request, Review, Rule

from . import audit
from .kubeio import Kube
from .store import Store

logger = logging.getLogger("gatepass.rules")

# What the API server answers when it will not create the review as it is (admission refused it, the request is
# gone, the name is taken, the object is invalid): retrying soon would get the same answer.
REFUSED = frozenset({400, 403, 404, 409, 422})

Decide = Callable[[Sequence[Rule], Request], Awaitable[rules.Verdict]]


class RuleReviews:
    def __init__(self, kube: Kube, store: Store, verdict: Decide = rules.verdict) -> None:
        self.kube, self.store = kube, store
        self.verdict = verdict  # evaluates the rules in worker threads
        self._evaluated: dict[str, tuple] = {}  # request name -> what was evaluated and decided nothing
        self._reported: set[tuple] = set()  # (request name, uid, message) already logged and posted

    async def review(self, body: Mapping, request: Request, policy: Policy | None, reviews: Sequence[Review],
                     now: datetime) -> list[Review]:
        """The rule review made now for `request`, as a list of none or one to add to `reviews`.

        Raises ApiException (or a connection error) only when creating the review failed in a way
        worth retrying soon (the reconcile is retried); a refusal is reported and gives none."""
        if not self._due(body, request, policy, reviews, now):
            return []
        key = (request.uid, request.labels, policy.name, policy.rules)
        if self._evaluated.get(request.name) == key:
            return []
        verdict = await self.verdict(policy.rules, request)
        await self._report_verdict(body, policy, verdict, now)
        if verdict.rule is None:
            self._remember(request.name, key)
            return []
        created = await self._create(body, request, policy, verdict.rule, now)
        if created is None:
            return []
        self.store.put_review(created, deleted=False)
        review = values.review(created, request.uid)
        return [review] if review is not None else []

    @staticmethod
    def _due(body: Mapping, request: Request, policy: Policy | None, reviews: Sequence[Review],
             now: datetime) -> bool:
        """Whether the policy's rules are to be evaluated for the request now (see gatepass.rules.due)."""
        if policy is None or not policy.rules:
            return False
        annotations = body.get("metadata", {}).get("annotations") or {}
        state = state_of(body.get("status")) or State.Pending  # none recorded yet: it is new
        return rules.due(request, policy, reviews, state=state, revoked=ledger.revocation(annotations) is not None,
                         now=now)

    async def _report_verdict(self, body: Mapping, policy: Policy, verdict: rules.Verdict, now: datetime) -> None:
        """Reports the rules that could not be evaluated, and a rule withheld because of them."""
        for failure in verdict.failures:
            await self._report(body, now, f"Rule {failure.rule.name} of AccessPolicy {policy.name} "
                                          f"counts as not holding: {failure.error}")
        if verdict.withheld is not None:
            await self._report(body, now, f"Rule {verdict.withheld.name} of AccessPolicy {policy.name} holds but "
                                          "was not applied while a Deny rule cannot be evaluated; "
                                          "the request waits for its reviewers")

    async def _create(self, body: Mapping, request: Request, policy: Policy, rule: Rule,
                      now: datetime) -> dict | None:
        """The rule review as created, or as made before (a retry, another replica); None when the
        API server refused it, which is reported."""
        name = rules.review_name(request.name)
        manifest = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "AccessReview",
            # The UID label binds the review to this request: admission refuses it if the request has
            # been deleted and filed again under the same name since.
            "metadata": {"name": name, "labels": {REQUEST_LABEL: request_label(request.name),
                                                  REQUEST_UID_LABEL: request.uid}},
            "spec": rules.review_spec(request.name, rule),
        }
        what = f"rule {rule.name} of AccessPolicy {policy.name} ({rule.decision}) as AccessReview {name}"
        try:
            created = await self.kube.create_review(manifest)
        except ApiException as error:
            if error.status not in REFUSED:
                await self._report(body, now, f"Could not record {what}: {_api_reason(error)}. Retrying.")
                raise
            if error.status != 409:
                await self._report(body, now, f"Could not record {what}: {_api_reason(error)}")
                return None
            return await self._made_before(body, request, name, what, now)
        verb = "approved" if rule.decision == "Approve" else "denied"
        logger.info("Created AccessReview %s: rule %s of AccessPolicy %s %s request %s",
                    name, rule.name, policy.name, verb, request.name)
        return created

    async def _made_before(self, body: Mapping, request: Request, name: str, what: str,
                           now: datetime) -> dict | None:
        """After AlreadyExists: the AccessReview `name` if it is this request's rule review, else
        None, reported (the name is taken: by a review of another request, or of an earlier
        request of the same name that is not yet garbage-collected)."""
        try:
            found = next((review for review in await self.kube.list_reviews(request.name)
                          if review.get("metadata", {}).get("name") == name), None)
        except ApiException as error:
            if error.status not in REFUSED:
                raise
            await self._report(body, now, f"Could not record {what}: it exists, and reading it failed: "
                                          f"{_api_reason(error)}")
            return None
        taken = _taken(found, request)
        if taken is None:
            return found
        await self._report(body, now, f"Could not record {what}: an AccessReview of that name exists and is not "
                                      f"this request's rule review ({taken})")
        return None

    async def _report(self, body: Mapping, now: datetime, message: str) -> None:
        meta = body.get("metadata", {})
        key = (meta.get("name"), meta.get("uid"), message)
        if key in self._reported:
            return
        self._prune()
        self._reported.add(key)
        logger.warning("%s (request %s)", message, meta.get("name"))
        audit.log_line(body, "RuleFailed", message, now)
        await self.kube.event(body, "RuleFailed", message, now, warning=True)

    def _remember(self, name: str, key: tuple) -> None:
        self._prune()
        self._evaluated[name] = key

    def _prune(self) -> None:
        """Forgets requests that are gone, once the bookkeeping outgrows the store."""
        limit = 2 * len(self.store.requests) + 1000
        if len(self._evaluated) > limit:
            self._evaluated = {k: v for k, v in self._evaluated.items() if k in self.store.requests}
        if len(self._reported) > limit:
            self._reported = {k for k in self._reported if k[0] in self.store.requests}


def _taken(review: Mapping | None, request: Request) -> str | None:
    """Why `review` (the AccessReview with the rule review's name) is not `request`'s rule review, or None."""
    if review is None:
        return "it reviews another request"
    spec = review.get("spec") or {}
    uid = ((review.get("metadata") or {}).get("labels") or {}).get(REQUEST_UID_LABEL)
    if spec.get("request") != request.name:
        return f"it reviews request {spec.get('request')}"
    if not spec.get("rule"):
        return "no rule made it"
    if uid != request.uid:
        return f"it was made for request UID {uid or '(none)'}, not {request.uid}"
    return None


def _api_reason(error: ApiException) -> str:
    """The API server's one-line message (an admission refusal says why), else its status."""
    try:
        message = json.loads(error.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return (message or f"{error.status} {error.reason}").splitlines()[0]
