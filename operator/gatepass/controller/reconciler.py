"""One request, reconciled: read the store, ask the core, apply the plan.

The order of writes is the core's (see gatepass.core.reconcile.Plan): bindings
are deleted, then created or repaired, then the status is written, then the
audit trail, then the next deadline is armed.

Before any binding is created, the operator asks whether it can be: the
namespace and the role exist and the operator holds `bind` on the role there.
When one cannot be (or the API server refuses it for one of those reasons),
the core decides again with that fact: the reviews and the decision are
written all the same, nothing of the grant is bound, and the request is tried
again with the queue's capped backoff. Each cause gets one Event, counted up
at every try, and one audit line when it begins.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol

from kubernetes.client import ApiException

from gatepass.api import AccessPolicy, AccessPolicyStatus, InvalidObject, parse_object
from gatepass.api import values
from gatepass.core import ledger
from gatepass.core.conditions import BLOCKED_REASONS
from gatepass.core.grants import (ROLE_OBJECT_KINDS, BindBlock, BindingRef, BindTarget, blocked, blocked_by_api_error,
                                  manifest_ref, manifest_target, not_held, role_accesses, role_binding, role_of)
from gatepass.core.lifecycle import TERMINAL
from gatepass.core.names import POLICIES, REQUESTS
from gatepass.core.policy import governing_policy
from gatepass.core.resources import bounded, bounding_roles
from gatepass.core.reconcile import Plan, decide
from gatepass.core.retention import removal_time, wake_time
from gatepass.core.types import Policy, Request, Review, Revocation

from . import audit, metrics
from .kubeio import Kube, details_kind
from .queue import WorkQueue
from .rulereviews import RuleReviews
from .store import Store

logger = logging.getLogger("gatepass.reconciler")

POLICY_KEY = "policy/"  # queue keys for policies; a request's name cannot contain "/"
DEFAULT_RETENTION = timedelta(days=30)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Observer(Protocol):
    """Told about every request the reconciler has reconciled, or found deleted (the notifier is one).
    Neither call may wait: they queue what is due."""

    def observe(self, body: Mapping) -> None: ...

    def deleted(self, name: str) -> None: ...


@dataclass(frozen=True)
class Facts:
    """What one reconcile of a request has read before it decides."""

    name: str
    body: dict
    request: Request
    policy: Policy | None
    reviews: list[Review]
    revocation: Revocation | None
    status: dict
    now: datetime


class Reconciler:
    def __init__(self, kube: Kube, store: Store, queue: WorkQueue, clock: Callable[[], datetime] = utcnow,
                 retention: timedelta | None = DEFAULT_RETENTION, notifier: Observer | None = None):
        """``retention``: how long ended requests are kept (None: forever); ``notifier``: told about
        each request reconciled (None: nobody is)."""
        self.kube, self.store, self.queue, self.clock = kube, store, queue, clock
        self.retention = retention
        self.notifier = notifier
        self.rules = RuleReviews(kube, store)
        self._policies: dict[str, tuple[str, Policy]] = {}

    def policies(self) -> list[Policy]:
        """The store's policies as core values, converted once per resourceVersion."""
        result = []
        for name, body in self.store.policies.items():
            version = body.get("metadata", {}).get("resourceVersion", "")
            cached = self._policies.get(name)
            if cached is None or cached[0] != version:
                try:
                    cached = (version, values.policy(body))
                except (ValueError, KeyError, TypeError) as error:
                    logger.warning("Ignored AccessPolicy %s: %s", name, error)
                    continue
                self._policies[name] = cached
            result.append(cached[1])
        for name in set(self._policies) - set(self.store.policies):
            del self._policies[name]
        return result

    async def __call__(self, key: str) -> None:
        if key.startswith(POLICY_KEY):
            await self.policy_status(key[len(POLICY_KEY):])
        else:
            await self.request(key)

    async def policy_status(self, name: str) -> None:
        """Writes the AccessPolicy's summary columns (kubectl can't print list fields of the spec)."""
        body = self.store.policies.get(name)
        if body is None:
            return
        try:
            policy = parse_object(AccessPolicy, body)
        except InvalidObject as error:
            logger.warning("AccessPolicy %s is invalid: %s", name, error)
            return
        wanted = AccessPolicyStatus.summarize(policy.spec, body["metadata"].get("generation")).to_dict()
        current = body.get("status") or {}
        if wanted != current:
            updated = await self.kube.patch_status(POLICIES, name, current, wanted)
            if updated is not None:
                self.store.put_written_policy(updated)

    async def request(self, name: str) -> None:
        """Reconciles one request, in the core's order of writes (gatepass.core.reconcile.Plan)."""
        body = self.store.requests.get(name)
        if body is None:
            await self._gone(name)
            return
        facts = await self._gather(name, body)
        plan = await self._bind(facts)
        await self._post_events(body, plan, facts.now)
        if not await self._write_status(facts, plan):
            return  # deleted meanwhile; its DELETED event cleans up
        self._audit(body, plan, facts.now)
        if self.notifier is not None:  # queues what is due to receivers; never waits
            self.notifier.observe(self.store.requests.get(name, body))
        metrics.observe(body, facts.status, plan)
        if await self._retire(facts, plan):
            return
        self._schedule(name, plan)

    async def _gone(self, name: str) -> None:
        if self.notifier is not None:  # its Slack messages lose their buttons; never waits
            self.notifier.deleted(name)
        await self._remove_orphans(name)

    async def _gather(self, name: str, body: dict) -> Facts:
        """Everything decide() needs but the bindings, read once: the request, its governing policy, every
        review (the ledger's, the AccessReviews', and a policy rule's made now) and a revocation."""
        request = values.request(body)
        status = body.get("status") or {}
        policies = self.policies()
        if request.resources:  # judged against the bounds' rules as they are now
            read = await self.kube.cluster_role_rules(bounding_roles(policies), self.store.policy_epoch)
            policies = bounded(policies, read)
        policy = governing_policy(request, policies, status)
        annotations = body.get("metadata", {}).get("annotations") or {}
        reviews = ledger.reviews(annotations) + [
            review for review in (values.review(r, request.uid)
                                  for r in self.store.reviews.get(name, {}).values())
            if review is not None
        ]
        reviews += await self.rules.review(body, request, policy, reviews, self.clock())
        return Facts(name, body, request, policy, reviews, ledger.revocation(annotations), status, self.clock())

    def _plan(self, facts: Facts, blocks: dict[BindingRef, BindBlock]) -> Plan:
        """The core's decision, with the bindings the store holds now and the bindings known not to be makeable."""
        existing = list(self.store.bindings.get(facts.name, {}).values())
        return decide(facts.request, facts.policy, facts.reviews, facts.revocation, facts.status, existing,
                      facts.now, blocked=blocks)

    async def _bind(self, facts: Facts) -> Plan:
        """Decides, checks that the bindings can be made, deletes and applies them; decides again with
        what could not be made, so that a grant is bound whole or not at all. Returns the final plan."""
        plan = self._plan(facts, {})
        blocks = await self._blocks(plan.bindings_to_apply, facts.request)
        if blocks:
            plan = self._plan(facts, blocks)
        await self._delete_bindings(facts.name, plan)
        refused = await self._apply_bindings(plan, facts.request)
        if refused:  # what was applied of the grant meanwhile goes again
            plan = self._plan(facts, {**blocks, **refused})
            await self._delete_bindings(facts.name, plan)
        return plan

    async def _write_status(self, facts: Facts, plan: Plan) -> bool:
        """Writes the plan's status if it changed; False if the request is gone."""
        if plan.status == facts.status:
            return True
        updated = await self.kube.patch_status(REQUESTS, facts.name, facts.status, plan.status)
        if updated is None:
            return False
        self.store.put_written_request(updated)
        return True

    def _audit(self, body: dict, plan: Plan, now: datetime) -> None:
        """One audit line per change, after the status write: the reconcile that wrote it (a cut-off one
        decides again)."""
        for event in plan.events:
            audit.log_line(body, event.reason, event.message, now, state=plan.state.value)

    async def _retire(self, facts: Facts, plan: Plan) -> bool:
        """Deletes an ended request whose retention is over; True if it did."""
        if plan.state not in TERMINAL:
            return False
        due = removal_time(plan.status, self.retention)
        if due is None or due > facts.now:
            return False
        await self.kube.delete_request(facts.name)
        audit.log_line(facts.body, "Deleted", f"Deleted request {facts.name} after the retention of {self.retention}",
                       facts.now, state=plan.state.value)
        return True

    def _schedule(self, name: str, plan: Plan) -> None:
        """Arms the next deadline (an ended request's: its removal); a blocked grant is tried again sooner,
        with the queue's backoff."""
        self.queue.arm(name, wake_time(plan.state, plan.status, plan.wake_at, self.retention))
        if plan.blocked:
            delay = self.queue.back_off(name)
            logger.debug("Request %s is not bound (%s): trying again in %.2fs", name,
                         ", ".join(cause.reason for cause in plan.blocked), delay)

    async def _blocks(self, manifests, request: Request) -> dict[BindingRef, BindBlock]:
        """The bindings among ``manifests`` that cannot be made now, and why (see gatepass.core.grants.blocked).
        An API error other than "not found" is raised: nothing is bound on a question left unanswered."""
        async def check(manifest: dict) -> tuple[BindingRef, BindBlock | None]:
            ref = manifest_ref(manifest)
            if ref.kind in ROLE_OBJECT_KINDS:  # a resource request's own role: the operator must hold it all
                return role_binding(ref), await self._role_block(manifest)
            target = manifest_target(manifest)
            if role_of(manifest, request) is not None:  # binds such a role, checked with it (or made already)
                namespace = await self.kube.namespace_exists(target.namespace) if target.namespace else True
                return ref, blocked(target, namespace_exists=namespace, role_exists=True, may_bind=True)
            namespace, role, bind = await asyncio.gather(
                self.kube.namespace_exists(target.namespace) if target.namespace else _true(),
                self.kube.role_exists(target), self.kube.may_bind(target))
            return ref, blocked(target, namespace_exists=namespace, role_exists=role, may_bind=bind)

        answers = await asyncio.gather(*(check(manifest) for manifest in manifests))
        return {ref: block for ref, block in answers if block is not None}

    async def _role_block(self, manifest: dict) -> BindBlock | None:
        """What keeps a per-grant role from being made: its namespace is missing, or the operator does not
        hold every permission in it (RBAC's escalation check would refuse it)."""
        ref = manifest_ref(manifest)
        if ref.namespace and not await self.kube.namespace_exists(ref.namespace):
            return blocked(BindTarget(ref.kind, ref.name, ref.namespace), namespace_exists=False, role_exists=True,
                           may_bind=True)
        accesses = role_accesses(manifest)
        held = await asyncio.gather(*(self.kube.holds(access) for access in accesses))
        missing = [access for access, holds in zip(accesses, held) if not holds]
        return not_held(ref, missing) if missing else None

    async def _post_events(self, body: dict, plan: Plan, now: datetime) -> None:
        """The plan's Events, before its status is written: a crash in between makes the next reconcile decide
        the same changes again, and each once-only Event (named by its occurrence) is then found already
        posted, so none is repeated and none is lost. The audit lines follow the status write instead."""
        await asyncio.gather(*(
            self.kube.event(body, event.reason, event.message, now, warning=event.type == "Warning",
                            once=event.once)
            for event in plan.events if event.reason not in BLOCKED_REASONS  # counted below instead
        ), *(
            self.kube.event(body, cause.reason, cause.message, now, warning=True, series=True)
            for cause in plan.blocked
        ))

    async def _delete_bindings(self, name: str, plan: Plan) -> None:
        for ref in plan.bindings_to_delete:
            await self._delete(ref.kind, ref.namespace, ref.name)
            self.store.binding_deleted(name, (ref.kind, ref.namespace, ref.name))
            logger.info("Deleted %s of request %s", ref, name)

    async def _apply_bindings(self, plan: Plan, request: Request) -> dict[BindingRef, BindBlock]:
        """Applies the plan's bindings; stops at the first the API server refuses for a reason the core knows
        (a missing namespace or role, a forbidden bind) and returns it. Any other error is raised."""
        for manifest in plan.bindings_to_apply:
            ref, role = manifest_ref(manifest), role_of(manifest, request)
            try:
                if ref.kind in ROLE_OBJECT_KINDS:
                    applied = await self.kube.apply_grant_role(manifest)
                else:
                    applied = await self.kube.apply_binding(manifest)
            except ApiException as error:
                if ref.kind in ROLE_OBJECT_KINDS or role is not None:
                    own = ref if ref.kind in ROLE_OBJECT_KINDS else role
                    block = not_held(own, role_accesses(manifest)) if error.status == 403 else \
                        blocked_by_api_error(manifest_target(manifest), error.status, details_kind(error))
                    ref = role_binding(own)
                else:
                    block = blocked_by_api_error(manifest_target(manifest), error.status, details_kind(error))
                if block is None:
                    raise  # retried with backoff; nothing is recorded as granted meanwhile
                return {ref: block}
            self.store.put_binding(applied, deleted=False)
            meta = manifest["metadata"]
            logger.info("Applied %s %s/%s for %s", manifest["kind"], meta.get("namespace", ""), meta["name"],
                        request.requester.username)
        return {}

    async def _delete(self, kind: str, namespace: str, name: str) -> None:
        """Deletes a binding, or a resource request's own Role or ClusterRole."""
        if kind in ROLE_OBJECT_KINDS:
            await self.kube.delete_grant_role(kind, namespace, name)
        else:
            await self.kube.delete_binding(kind, namespace, name)

    async def _remove_orphans(self, name: str) -> None:
        """The request is gone: its bindings go too (the garbage collector would, more slowly)."""
        for key in list(self.store.bindings.get(name, {})):
            kind, namespace, binding = key
            await self._delete(kind, namespace, binding)
            self.store.binding_deleted(name, key)
            logger.info("Deleted %s %s/%s of deleted request %s", kind, namespace, binding, name)
        self.store.forget_request(name)
        self.queue.forget(name)


async def _true() -> bool:
    return True

