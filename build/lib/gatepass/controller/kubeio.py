"""Every write the operator makes to the Kubernetes API, and the few reads it can't get from watches.

The official client is synchronous; each call runs in a worker thread so the
event loop (watches, admission, deadlines) never blocks on the network.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import kubernetes
from kubernetes.client import ApiException

from gatepass.core.grants import RBAC_GROUP, BindTarget
from gatepass.core.names import GROUP, VERSION
from gatepass.core.timestamps import format_time

from .store import Store

EVENTS_NAMESPACE = "default"  # where kubectl looks for a cluster-scoped object's events

logger = logging.getLogger("gatepass.kube")

# How long an answer about whether a binding can be made (the namespace exists, the role exists, the
# operator holds `bind` on it) is reused. Long enough that a burst of grants of the same role asks once;
# short enough that a role an administrator takes out of gatepass-operator-bind is no longer bound 5 s
# later, even one made only of permissions the operator holds (for any other role the API server's own
# check refuses at once), and that a fixed cause is seen within 5 s of the next retry.
ANSWERS_TTL = 5.0
_MAX_SERIES = 10_000  # aggregated Events whose count is remembered (forgotten all at once past this)


class Answers:
    """Yes/no answers from the API, each reused for ``ttl`` seconds (monotonic clock)."""

    def __init__(self, ttl: float = ANSWERS_TTL, clock=time.monotonic) -> None:
        self.ttl, self.clock = ttl, clock
        self._answers: dict[tuple, tuple[float, bool]] = {}

    async def get(self, key: tuple, ask) -> bool:
        now = self.clock()
        cached = self._answers.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        answer = bool(await ask())
        if len(self._answers) > 4096:
            self._answers = {k: v for k, v in self._answers.items() if v[0] > now}
        self._answers[key] = (now + self.ttl, answer)
        return answer


def details_kind(error: ApiException) -> str:
    """The ``details.kind`` of an API error's Status ("namespaces" for a missing namespace), or ""."""
    try:
        return str((json.loads(error.body or "{}").get("details") or {}).get("kind") or "")
    except (ValueError, AttributeError, TypeError):
        return ""


class Kube:
    def __init__(self, api_client: kubernetes.client.ApiClient, *, component: str = "gatepass-operator",
                 threads: int = 32) -> None:
        self.rbac = kubernetes.client.RbacAuthorizationV1Api(api_client)
        self.custom = kubernetes.client.CustomObjectsApi(api_client)
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.authz = kubernetes.client.AuthorizationV1Api(api_client)
        self.authn = kubernetes.client.AuthenticationV1Api(api_client)
        self.component = component
        self._me: str | None = None
        self.answers = Answers()
        self._series: dict[str, int] = {}  # aggregated Event name -> its count, as last written
        # Its own threads: the default executor is small (cores + 4) and shared with kopf.
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gatepass-api")

    def _call(self, fn, /, *args, **kwargs):
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    # ------------------------------------------------------------- bindings
    async def apply_binding(self, manifest: Mapping) -> dict:
        """Creates the binding, or makes an existing one what it should be; returns it as stored."""
        stored = await self._call(self._apply_binding, dict(manifest))
        return {**self.rbac.api_client.sanitize_for_serialization(stored), "kind": manifest["kind"]}

    def _apply_binding(self, manifest: dict):
        kind, meta = manifest["kind"], manifest["metadata"]
        try:
            if kind == "RoleBinding":
                return self.rbac.create_namespaced_role_binding(meta["namespace"], manifest)
            return self.rbac.create_cluster_role_binding(manifest)
        except ApiException as error:
            if error.status != 409:
                raise
        # It exists: make it what it should be (it may have been edited by hand).
        # roleRef is immutable, so a binding with another roleRef is replaced whole.
        if kind == "RoleBinding":
            current = self.rbac.read_namespaced_role_binding(meta["name"], meta["namespace"])
        else:
            current = self.rbac.read_cluster_role_binding(meta["name"])
        current_ref = current.role_ref
        if (current_ref.kind, current_ref.name) != (manifest["roleRef"]["kind"], manifest["roleRef"]["name"]):
            self._delete_binding(kind, meta.get("namespace", ""), meta["name"])
            return self._apply_binding(manifest)
        manifest = {**manifest, "metadata": {**meta, "resourceVersion": current.metadata.resource_version}}
        if kind == "RoleBinding":
            return self.rbac.replace_namespaced_role_binding(meta["name"], meta["namespace"], manifest)
        return self.rbac.replace_cluster_role_binding(meta["name"], manifest)

    async def delete_binding(self, kind: str, namespace: str, name: str) -> None:
        await self._call(self._delete_binding, kind, namespace, name)

    def _delete_binding(self, kind: str, namespace: str, name: str) -> None:
        try:
            if kind == "RoleBinding":
                self.rbac.delete_namespaced_role_binding(name, namespace)
            else:
                self.rbac.delete_cluster_role_binding(name)
        except ApiException as error:
            if error.status != 404:
                raise

    # ------------------------------------------------- can a binding be made?
    async def may_bind(self, target: BindTarget) -> bool:
        """Does RBAC let the operator itself ``bind`` this role there? Asked as the API server asks a binding's
        creator (a SelfSubjectAccessReview), without the alternative it also accepts: holding all of the
        role's permissions, which would let any role made of the operator's own be bound."""
        review = {"spec": {"resourceAttributes": {
            "group": RBAC_GROUP, "resource": target.resource, "verb": "bind", "name": target.role_name,
            "namespace": target.namespace,
        }}}

        async def ask() -> bool:
            result = await self._call(self.authz.create_self_subject_access_review, review)
            return bool(result.status.allowed)

        return await self.answers.get(("bind", target), ask)

    async def role_exists(self, target: BindTarget) -> bool:
        if target.role_kind == "Role":
            return await self.answers.get(("role", target.role_name, target.namespace), lambda: self._exists(
                self.rbac.read_namespaced_role, target.role_name, target.namespace))
        return await self.answers.get(("clusterrole", target.role_name), lambda: self._exists(
            self.rbac.read_cluster_role, target.role_name))

    async def namespace_exists(self, name: str) -> bool:
        return await self.answers.get(("namespace", name), lambda: self._exists(self.core.read_namespace, name))

    async def _exists(self, read, *args) -> bool:
        try:
            await self._call(read, *args)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    # --------------------------------------------------------------- status
    async def patch_status(self, plural: str, name: str, old: Mapping, new: Mapping) -> dict | None:
        """Merge-patches status from ``old`` to ``new``: only the keys that differ are sent (keys only in ``old``
        are removed), so a key another writer keeps (``notifications``) is never put back to what was read.
        None if the object is gone."""
        patch = {key: value for key, value in new.items() if old.get(key) != value}
        patch.update({key: None for key in old if key not in new})
        try:
            return await self._call(
                self.custom.patch_cluster_custom_object_status, GROUP, VERSION, plural, name, {"status": patch}
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def patch_status_of(self, plural: str, name: str, uid: str, fields: Mapping) -> dict | None:
        """Sets each of ``fields`` (whole) in the status of ``name`` if it is still the object with ``uid``: a JSON
        patch whose first operation tests metadata.uid, so a later object of the same name is never written to.
        None if the object is gone, or is another one now."""
        patch = [{"op": "test", "path": "/metadata/uid", "value": uid}]
        patch += [{"op": "add", "path": "/status/" + key.replace("~", "~0").replace("/", "~1"), "value": value}
                  for key, value in fields.items()]
        try:
            return await self._call(
                self.custom.patch_cluster_custom_object_status, GROUP, VERSION, plural, name, patch,
                _content_type="application/json-patch+json",
            )
        except ApiException as error:
            # A failed test and an invalid status are both a bare 422: the object's uid now tells which.
            if error.status == 404 or (error.status == 422 and await self._uid_of(plural, name) != uid):
                return None
            raise

    async def _uid_of(self, plural: str, name: str) -> str | None:
        try:
            current = await self._call(self.custom.get_cluster_custom_object, GROUP, VERSION, plural, name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return ((current or {}).get("metadata") or {}).get("uid")

    # --------------------------------------------------------------- events
    async def event(self, body: Mapping, reason: str, message: str, now: datetime, warning: bool = False,
                    series: bool = False, once: str = "") -> bool:
        """Posts an Event about ``body``. With ``series``, the object's one Event of that reason is counted up
        instead (created the first time): ``kubectl describe`` shows it as "x23 over 2m". With ``once`` (see
        gatepass.core.audit.AuditEvent.once), the Event is named from it and posted only if it is not there
        yet. False when it was there already (posted before a crash or a retry), else True."""
        meta = body["metadata"]
        if series or once:
            seed = f"{meta.get('uid') or meta['name']}\x00{once or reason}".encode()
            name = f"{meta['name'][:200]}.{hashlib.sha256(seed).hexdigest()[:16]}"
        else:
            name = f"{meta['name']}.{uuid.uuid4().hex[:12]}"
        event = {
            "metadata": {"name": name, "namespace": EVENTS_NAMESPACE},
            "involvedObject": {
                "apiVersion": body.get("apiVersion", f"{GROUP}/{VERSION}"),
                "kind": body.get("kind", "AccessRequest"),
                "name": meta["name"],
                "uid": meta.get("uid"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "source": {"component": self.component},
            "firstTimestamp": format_time(now),
            "lastTimestamp": format_time(now),
            "count": 1,
        }
        try:
            await self._call(self._count_event if series else self._create_event, event)
        except ApiException as error:  # an audit Event is best effort; the JSON log line is not
            if once and error.status == 409:
                return False
            logger.warning("Could not post Event %s for %s: %s", reason, meta["name"], error.reason)
        return True

    def _create_event(self, event: dict) -> None:
        self.core.create_namespaced_event(EVENTS_NAMESPACE, event)

    def _count_event(self, event: dict) -> None:
        """Counts the Event named like ``event`` up by one (message and lastTimestamp from ``event``), or
        creates it. The count is remembered, so each further occurrence is one patch; the queue works on
        one request at a time, so two threads never count the same Event."""
        name = event["metadata"]["name"]
        count = self._series.get(name)
        if count is None:
            try:
                self.core.create_namespaced_event(EVENTS_NAMESPACE, event)
                self._remember(name, 1)
                return
            except ApiException as error:
                if error.status != 409:
                    raise
            count = self.core.read_namespaced_event(name, EVENTS_NAMESPACE).count or 1  # after a restart
        patch = {"count": count + 1, "lastTimestamp": event["lastTimestamp"], "message": event["message"]}
        try:
            self.core.patch_namespaced_event(name, EVENTS_NAMESPACE, patch,
                                             _content_type="application/merge-patch+json")
        except ApiException as error:
            if error.status != 404:
                raise
            self._series.pop(name, None)  # deleted meanwhile (Events expire): start again
            return self._count_event(event)
        self._remember(name, count + 1)

    def _remember(self, name: str, count: int) -> None:
        if len(self._series) >= _MAX_SERIES:
            self._series.clear()
        self._series[name] = count

    # ---------------------------------------------------------------- reads
    async def get_policy(self, name: str, store: Store | None = None) -> dict | None:
        """The AccessPolicy ``name``: the watched copy in ``store`` if there is one, else read."""
        if store is not None and name in store.policies:
            return store.policies[name]
        try:
            return await self._call(self.custom.get_cluster_custom_object, GROUP, VERSION, "accesspolicies", name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def get_request(self, name: str) -> dict | None:
        try:
            return await self._call(
                self.custom.get_cluster_custom_object, GROUP, VERSION, "accessrequests", name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def delete_request(self, name: str) -> None:
        try:
            await self._call(
                self.custom.delete_cluster_custom_object, GROUP, VERSION, "accessrequests", name
            )
        except ApiException as error:
            if error.status != 404:
                raise

    async def create_review(self, body: Mapping) -> dict:
        """Creates an AccessReview (as the operator: a rule's or a Slack click's); admission may refuse it."""
        return await self._call(
            self.custom.create_cluster_custom_object, GROUP, VERSION, "accessreviews", dict(body)
        )

    async def list_policies(self) -> list[dict]:
        result = await self._call(self.custom.list_cluster_custom_object, GROUP, VERSION, "accesspolicies")
        return result.get("items", [])

    async def list_reviews(self, request: str) -> list[dict]:
        result = await self._call(
            self.custom.list_cluster_custom_object, GROUP, VERSION, "accessreviews",
            field_selector=f"spec.request={request}",  # a label value can't hold every request name
        )
        return result.get("items", [])

    async def whoami(self) -> str:
        """The operator's own username, as the API server authenticates it (asked once)."""
        if self._me is None:
            review = await self._call(self.authn.create_self_subject_review, {"metadata": {}})
            self._me = review.status.user_info.username
        return self._me

    async def allowed(self, user: Mapping, verb: str, resource: str, name: str = "") -> bool:
        """Does RBAC let ``user`` (an admission userInfo) do ``verb`` on gatepass.dev ``resource``?"""
        review = {
            "spec": {
                "user": user.get("username"),
                "groups": list(user.get("groups") or ()),
                "uid": user.get("uid"),
                "extra": dict(user.get("extra") or {}),
                "resourceAttributes": {"group": GROUP, "resource": resource, "verb": verb, "name": name},
            }
        }
        result = await self._call(self.authz.create_subject_access_review, review)
        return bool(result.status.allowed)

    # ---------------------------------------------- what a policy names exists
    # Read at policy admission only (an administrator's write, rarely made), so nothing is cached or watched.
    async def namespace_names(self) -> frozenset[str]:
        """The names of every namespace (one list call)."""
        result = await self._call(self.core.list_namespace)
        return frozenset(item.metadata.name for item in result.items)

    async def existing_cluster_roles(self, names: frozenset[str]) -> frozenset[str]:
        """Those of ``names`` that are ClusterRoles (one get each, at once)."""
        ordered = sorted(names)
        found = await asyncio.gather(*(self._exists(self.rbac.read_cluster_role, name) for name in ordered))
        return frozenset(name for name, exists in zip(ordered, found) if exists)

    async def role_namespaces(self, names: frozenset[str]) -> dict[str, frozenset[str]]:
        """For each of ``names``, the namespaces a Role of that name exists in (one list each, at once)."""
        ordered = sorted(names)
        results = await asyncio.gather(*(
            self._call(self.rbac.list_role_for_all_namespaces, field_selector=f"metadata.name={name}")
            for name in ordered
        ))
        return {name: frozenset(item.metadata.namespace for item in result.items)
                for name, result in zip(ordered, results)}

    # ------------------------------------------------------- initial listing
    async def list_all(self) -> dict[str, list[dict]]:
        """Everything the reconciler needs, listed once at start-up before any decision is made."""
        selector = "gatepass.dev/managed=true"

        def items(result) -> list[dict]:
            return result.get("items", [])

        def bindings(kind: str, result) -> list[dict]:
            raw = self.rbac.api_client.sanitize_for_serialization(result)
            return [{**item, "kind": kind} for item in raw.get("items", [])]

        policies, requests, reviews, rolebindings, clusterrolebindings = await asyncio.gather(
            self._call(self.custom.list_cluster_custom_object, GROUP, VERSION, "accesspolicies"),
            self._call(self.custom.list_cluster_custom_object, GROUP, VERSION, "accessrequests"),
            self._call(self.custom.list_cluster_custom_object, GROUP, VERSION, "accessreviews"),
            self._call(self.rbac.list_role_binding_for_all_namespaces, label_selector=selector),
            self._call(self.rbac.list_cluster_role_binding, label_selector=selector),
        )
        return {
            "policies": items(policies),
            "requests": items(requests),
            "reviews": items(reviews),
            "bindings": bindings("RoleBinding", rolebindings) + bindings("ClusterRoleBinding", clusterrolebindings),
        }
