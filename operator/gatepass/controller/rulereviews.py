"""Policy rules at work: a Pending request's rules are evaluated and the deciding one recorded.

The decision is an AccessReview by the system reviewer gatepass:rules, named
after the request (gatepass.rules.review_name), so that creating it again after
a failure or on another replica finds it there (AlreadyExists) instead of
reviewing twice. The reconciler counts it with the other reviews.

A request's rules are evaluated again only when something they read changed
(its labels, the policy's rules); a rule that fails is reported once per
request (a log line and a Warning Event on the request).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from kubernetes.client import ApiException

from gatepass import rules
from gatepass.core import ledger
from gatepass.core.types import Policy, Request, Review, Rule

from . import audit, convert
from .kubeio import GROUP, VERSION, Kube
from .store import Store

logger = logging.getLogger("gatepass.rules")


class RuleReviews:
    def __init__(self, kube: Kube, store: Store) -> None:
        self.kube, self.store = kube, store
        self.evaluator = rules.Evaluator()
        self._evaluated: dict[str, tuple] = {}  # request name -> what was evaluated and decided nothing
        self._reported: set[tuple] = set()  # (request name, uid, message) already logged and posted

    async def review(self, body: Mapping, request: Request, policy: Policy | None, reviews: Sequence[Review],
                     now: datetime) -> list[Review]:
        """The rule review made now for `request`, as a list of none or one to add to `reviews`.

        Raises ApiException when the review could not be created (the reconcile is retried)."""
        if policy is None or not policy.rules:
            return []
        annotations = body.get("metadata", {}).get("annotations") or {}
        state = (body.get("status") or {}).get("state") or "Pending"
        if not rules.due(request, policy, reviews, state=state, revoked=ledger.revocation(annotations) is not None,
                         now=now):
            return []
        key = (request.uid, request.labels, policy.name, policy.rules)
        if self._evaluated.get(request.name) == key:
            return []
        verdict = self.evaluator.verdict(policy.rules, request)
        for failure in verdict.failures:
            await self._report(body, now, f"Rule {failure.rule.name} of AccessPolicy {policy.name} "
                                          f"counts as not holding: {failure.error}")
        if verdict.withheld is not None:
            await self._report(body, now, f"Rule {verdict.withheld.name} of AccessPolicy {policy.name} holds but "
                                          "was not applied while a Deny rule cannot be evaluated; "
                                          "the request waits for its reviewers")
        if verdict.rule is None:
            self._remember(request.name, key)
            return []
        created = await self._create(body, request, policy, verdict.rule, now)
        if created is None:
            return []
        self.store.put_review(created, deleted=False)
        review = convert.access_review(created)
        return [review] if review is not None else []

    async def _create(self, body: Mapping, request: Request, policy: Policy, rule: Rule,
                      now: datetime) -> dict | None:
        name = rules.review_name(request.name)
        manifest = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "AccessReview",
            "metadata": {"name": name, "labels": {"gatepass.dev/request": request.name}},
            "spec": rules.review_spec(request.name, rule),
        }
        try:
            created = await self.kube.create_review(manifest)
        except ApiException as error:
            if error.status == 409:  # made before (a retry, another replica): its watch event brings it
                return None
            reason = _api_reason(error)
            await self._report(body, now, f"Could not record rule {rule.name} of AccessPolicy {policy.name} "
                                          f"({rule.decision}) as AccessReview {name}: {reason}. Retrying.")
            raise
        verb = "approved" if rule.decision == "Approve" else "denied"
        logger.info("Created AccessReview %s: rule %s of AccessPolicy %s %s request %s",
                    name, rule.name, policy.name, verb, request.name)
        return created

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


def _api_reason(error: ApiException) -> str:
    """The API server's one-line message (an admission refusal says why), else its status."""
    try:
        message = json.loads(error.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return (message or f"{error.status} {error.reason}").splitlines()[0]
