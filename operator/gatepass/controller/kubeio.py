"""Every write the operator makes to the Kubernetes API, and the few reads it can't get from watches.

Each call is one REST request, sent by the asynchronous client the process makes beside the Kubernetes
client (gatepass.kube.http: from the event loop, over keep-alive connections), or, for a client without
one, by the Kubernetes client in a worker thread; the event loop (watches, admission, deadlines) never
blocks on the network either way.
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
from urllib.parse import quote

import kubernetes
from kubernetes.client import ApiException

from gatepass.core.grants import MANAGED_LABEL, RBAC_GROUP, BindTarget
from gatepass.core.names import GROUP, VERSION
from gatepass.core.timestamps import format_time
from gatepass.kube.errors import status_message

from .store import Store

EVENTS_NAMESPACE = "default"  # where kubectl looks for a cluster-scoped object's events
EVENTS = f"/api/v1/namespaces/{EVENTS_NAMESPACE}/events"

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


MAX_MESSAGE = 300  # characters of the API server's message kept in an error's line


class KubeApiError(ApiException):
    """An ApiException that says in one line what was asked and what the API server answered:
    ``<verb> <what>: <status> <reason>: <message>`` (``patch accessrequests/bob-dba status: 422 Unprocessable
    Entity: ...``). The client's own text has the response's headers and body on some seventy lines.
    It is still an ApiException, with the same status, reason, body and headers."""

    def __init__(self, error: ApiException, action: str) -> None:
        super().__init__(status=error.status, reason=error.reason)
        self.body, self.headers, self.action = error.body, error.headers, action
        self.data = getattr(error, "data", None)

    def __str__(self) -> str:
        return f"{self.action}: {self.status} {self.reason}: {api_message(self)}"


def api_message(error: ApiException) -> str:
    """The API server's message in an error (its Status' ``message``, else the body), on one line."""
    line = status_message(error.body, "(no message)")
    return (line[:MAX_MESSAGE] + "...") if len(line) > MAX_MESSAGE else line


def action(method: str, args: tuple, kwargs: Mapping) -> str:
    """What a client call asked, from its method's name and arguments: ``create rolebindings payments/gp-1``,
    ``patch accessrequests/bob-dba status``, ``get clusterroles/dba``, ``list events in default``."""
    verb, _, rest = method.partition("_")
    verb = {"read": "get"}.get(verb, verb)
    status = rest.endswith("_status")
    rest = rest.removesuffix("_status").removesuffix("_for_all_namespaces")
    namespaced = rest.startswith("namespaced_")
    rest = rest.removeprefix("namespaced_").removeprefix("cluster_custom_object").removeprefix("custom_object")
    args = tuple(args)
    if not rest:  # custom objects: group, version, [namespace,] plural, [name]
        args = args[2:]
        if namespaced and len(args) > 1:
            args = (args[1], args[0], *args[2:])
        resource, args = (str(args[0]) if args else "objects"), args[1:]
    else:
        resource = rest.replace("_", "") + "s"
    strings = [a for a in args if isinstance(a, str)]
    body = next((a for a in (*args, kwargs.get("body")) if isinstance(a, Mapping)), None)
    named = ((body or {}).get("metadata") or {}).get("name") if body else None
    if namespaced:
        namespace, name = (strings[0] if strings else "", named) if verb == "create" or len(strings) < 2 \
            else (strings[1], strings[0])
        what = f"{resource} {namespace}/{name}" if name else f"{resource} in {namespace}"
    else:
        name = strings[0] if strings else named
        what = f"{resource}/{name}" if name else resource
    return f"{verb} {what}{' status' if status else ''}"


RBAC = f"/apis/{RBAC_GROUP}/v1"
CUSTOM = f"/apis/{GROUP}/{VERSION}"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class Threaded:
    """Requests (as gatepass.kube.http.ApiHttp makes them) sent with the Kubernetes client, each in a thread:
    for a client that has no asynchronous one beside it."""

    def __init__(self, api_client: kubernetes.client.ApiClient, threads: int = 32) -> None:
        self.api_client = api_client
        # Its own threads: the default executor is small (cores + 4) and shared with kopf.
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gatepass-api")

    async def request(self, method: str, path: str, body=None, *, content_type: str | None = None,
                      query: Mapping[str, str] | None = None):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(
            self._request, method, path, body, content_type, query))

    def _request(self, method: str, path: str, body, content_type: str | None, query):
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        method, url, headers, body, _ = self.api_client.param_serialize(
            method, path, query_params=list((query or {}).items()), header_params=headers, body=body,
            auth_settings=["BearerToken"])
        response = self.api_client.call_api(method, url, header_params=headers, body=body)
        response.read()
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=response.data.decode(errors="replace"),
                                             data=None)
        return json.loads(response.data) if response.data else None

    async def close(self) -> None:
        self._executor.shutdown(wait=False)


class Kube:
    """The operator's calls, sent as REST requests by ``http``: the asynchronous client the process made beside
    ``api_client`` (its ``async_http``, gatepass.kube.http) when there is one, else the Kubernetes client in
    threads. Every error is a KubeApiError naming the call."""

    def __init__(self, api_client: kubernetes.client.ApiClient, *, component: str = "gatepass-operator",
                 threads: int = 32, http=None) -> None:
        self.http = http or getattr(api_client, "async_http", None) or Threaded(api_client, threads)
        self.component = component
        self._me: str | None = None
        self.answers = Answers()
        self._series: dict[str, int] = {}  # aggregated Event name -> its count, as last written
        self._role_rules: dict[str, tuple[float, list[dict] | None, int]] = {}  # name -> (until, rules, epoch)

    async def _request(self, call: str, args: tuple, method: str, path: str, body=None, *,
                       content_type: str | None = None, query: Mapping[str, str] | None = None):
        """``method path`` (its JSON answer); an error is a KubeApiError saying what was asked, named from
        the Kubernetes client's method ``call`` and its ``args`` (see ``action``)."""
        try:
            return await self.http.request(method, path, body, content_type=content_type, query=query)
        except KubeApiError:
            raise
        except ApiException as error:
            raise KubeApiError(error, action(call, args, {})) from None

    async def close(self) -> None:
        await self.http.close()

    # ------------------------------------------------------------- bindings
    async def apply_binding(self, manifest: Mapping) -> dict:
        """Creates the binding, or makes an existing one what it should be; returns it as stored."""
        stored = await self._apply_binding(dict(manifest))
        return {**stored, "kind": manifest["kind"]}

    @staticmethod
    def _binding_path(kind: str, namespace: str, name: str = "") -> str:
        base = f"{RBAC}/namespaces/{quote(namespace, safe='')}/rolebindings" if kind == "RoleBinding" \
            else f"{RBAC}/clusterrolebindings"
        return f"{base}/{quote(name, safe='')}" if name else base

    async def _apply_binding(self, manifest: dict) -> dict:
        kind, meta = manifest["kind"], manifest["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        namespaced = kind == "RoleBinding"
        try:
            if namespaced:
                return await self._request("create_namespaced_role_binding", (namespace, manifest), "POST",
                                           self._binding_path(kind, namespace), manifest)
            return await self._request("create_cluster_role_binding", (manifest,), "POST",
                                       self._binding_path(kind, ""), manifest)
        except ApiException as error:
            if error.status != 409:
                raise
        # It exists: make it what it should be (it may have been edited by hand).
        # roleRef is immutable, so a binding with another roleRef is replaced whole.
        path = self._binding_path(kind, namespace, name)
        if namespaced:
            current = await self._request("read_namespaced_role_binding", (name, namespace), "GET", path)
        else:
            current = await self._request("read_cluster_role_binding", (name,), "GET", path)
        current_ref = current.get("roleRef") or {}
        if (current_ref.get("kind"), current_ref.get("name")) != (manifest["roleRef"]["kind"],
                                                                   manifest["roleRef"]["name"]):
            await self._delete_binding(kind, namespace, name)
            return await self._apply_binding(manifest)
        version = (current.get("metadata") or {}).get("resourceVersion")
        manifest = {**manifest, "metadata": {**meta, "resourceVersion": version}}
        if namespaced:
            return await self._request("replace_namespaced_role_binding", (name, namespace, manifest), "PUT",
                                       path, manifest)
        return await self._request("replace_cluster_role_binding", (name, manifest), "PUT", path, manifest)

    async def delete_binding(self, kind: str, namespace: str, name: str) -> None:
        await self._delete_binding(kind, namespace, name)

    async def _delete_binding(self, kind: str, namespace: str, name: str) -> None:
        path = self._binding_path(kind, namespace, name)
        try:
            if kind == "RoleBinding":
                await self._request("delete_namespaced_role_binding", (name, namespace), "DELETE", path)
            else:
                await self._request("delete_cluster_role_binding", (name,), "DELETE", path)
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
            result = await self._request("create_self_subject_access_review", (review,), "POST",
                                         "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review)
            return bool((result.get("status") or {}).get("allowed"))

        return await self.answers.get(("bind", target), ask)

    async def role_exists(self, target: BindTarget) -> bool:
        if target.role_kind == "Role":
            path = f"{RBAC}/namespaces/{quote(target.namespace, safe='')}/roles/{quote(target.role_name, safe='')}"
            return await self.answers.get(("role", target.role_name, target.namespace), lambda: self._exists(
                "read_namespaced_role", (target.role_name, target.namespace), path))
        path = f"{RBAC}/clusterroles/{quote(target.role_name, safe='')}"
        return await self.answers.get(("clusterrole", target.role_name), lambda: self._exists(
            "read_cluster_role", (target.role_name,), path))

    async def namespace_exists(self, name: str) -> bool:
        return await self.answers.get(("namespace", name), lambda: self._exists(
            "read_namespace", (name,), f"/api/v1/namespaces/{quote(name, safe='')}"))

    async def _exists(self, call: str, args: tuple, path: str) -> bool:
        try:
            await self._request(call, args, "GET", path)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    # --------------------------------------------------------------- status
    @staticmethod
    def _custom_path(plural: str, name: str = "", status: bool = False) -> str:
        path = f"{CUSTOM}/{plural}/{quote(name, safe='')}" if name else f"{CUSTOM}/{plural}"
        return path + "/status" if status else path

    async def patch_status(self, plural: str, name: str, old: Mapping, new: Mapping) -> dict | None:
        """Merge-patches status from ``old`` to ``new``: only the keys that differ are sent (keys only in ``old``
        are removed), so a key another writer keeps (``notifications``) is never put back to what was read.
        None if the object is gone."""
        patch = {key: value for key, value in new.items() if old.get(key) != value}
        patch.update({key: None for key in old if key not in new})
        try:
            return await self._request(
                "patch_cluster_custom_object_status", (GROUP, VERSION, plural, name), "PATCH",
                self._custom_path(plural, name, status=True), {"status": patch}, content_type=MERGE_PATCH)
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
            return await self._request(
                "patch_cluster_custom_object_status", (GROUP, VERSION, plural, name), "PATCH",
                self._custom_path(plural, name, status=True), patch, content_type=JSON_PATCH)
        except ApiException as error:
            # A failed test and an invalid status are both a bare 422: the object's uid now tells which.
            if error.status == 404 or (error.status == 422 and await self._uid_of(plural, name) != uid):
                return None
            raise

    async def _get_custom(self, plural: str, name: str) -> dict | None:
        """The object, or None if there is none of that name."""
        try:
            return await self._request("get_cluster_custom_object", (GROUP, VERSION, plural, name), "GET",
                                       self._custom_path(plural, name))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def _uid_of(self, plural: str, name: str) -> str | None:
        current = await self._get_custom(plural, name)
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
        stamp = format_time(now)
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
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            await (self._count_event(event) if series else self._create_event(event))
        except ApiException as error:  # an audit Event is best effort; the JSON log line is not
            if once and error.status == 409:
                return False
            logger.warning("Could not post Event %s for %s: %s", reason, meta["name"], error.reason)
        return True

    async def _create_event(self, event: dict) -> None:
        await self._request("create_namespaced_event", (EVENTS_NAMESPACE, event), "POST", EVENTS, event)

    async def _count_event(self, event: dict) -> None:
        """Counts the Event named like ``event`` up by one (message and lastTimestamp from ``event``), or
        creates it. The count is remembered, so each further occurrence is one patch; the queue works on
        one request at a time, so two reconciles never count the same Event."""
        name = event["metadata"]["name"]
        path = f"{EVENTS}/{quote(name, safe='')}"
        count = self._series.get(name)
        if count is None:
            try:
                await self._create_event(event)
                self._remember(name, 1)
                return
            except ApiException as error:
                if error.status != 409:
                    raise
            stored = await self._request("read_namespaced_event", (name, EVENTS_NAMESPACE), "GET", path)
            count = stored.get("count") or 1  # after a restart
        patch = {"count": count + 1, "lastTimestamp": event["lastTimestamp"], "message": event["message"]}
        try:
            await self._request("patch_namespaced_event", (name, EVENTS_NAMESPACE, patch), "PATCH", path, patch,
                                content_type=MERGE_PATCH)
        except ApiException as error:
            if error.status != 404:
                raise
            self._series.pop(name, None)  # deleted meanwhile (Events expire): start again
            return await self._count_event(event)
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
        return await self._get_custom("accesspolicies", name)

    async def get_request(self, name: str) -> dict | None:
        return await self._get_custom("accessrequests", name)

    async def delete_request(self, name: str) -> None:
        try:
            await self._request("delete_cluster_custom_object", (GROUP, VERSION, "accessrequests", name),
                                "DELETE", self._custom_path("accessrequests", name))
        except ApiException as error:
            if error.status != 404:
                raise

    async def create_review(self, body: Mapping) -> dict:
        """Creates an AccessReview (as the operator: a rule's or a Slack click's); admission may refuse it."""
        body = dict(body)
        return await self._request("create_cluster_custom_object", (GROUP, VERSION, "accessreviews", body),
                                   "POST", self._custom_path("accessreviews"), body)

    async def _list_custom(self, plural: str, query: Mapping[str, str] | None = None) -> list[dict]:
        result = await self._request("list_cluster_custom_object", (GROUP, VERSION, plural), "GET",
                                     self._custom_path(plural), query=query)
        return result.get("items") or []

    async def list_policies(self) -> list[dict]:
        return await self._list_custom("accesspolicies")

    async def list_reviews(self, request: str) -> list[dict]:
        # A field selector: a label value can't hold every request name.
        return await self._list_custom("accessreviews", {"fieldSelector": f"spec.request={request}"})

    async def whoami(self) -> str:
        """The operator's own username, as the API server authenticates it (asked once)."""
        if self._me is None:
            body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview", "metadata": {}}
            review = await self._request("create_self_subject_review", (body,), "POST",
                                         "/apis/authentication.k8s.io/v1/selfsubjectreviews", body)
            self._me = review["status"]["userInfo"]["username"]
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
        result = await self._request("create_subject_access_review", (review,), "POST",
                                     "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
        return bool((result.get("status") or {}).get("allowed"))

    # ---------------------------------------------- what a policy names exists
    # Read at policy admission only (an administrator's write, rarely made), so nothing is cached or watched.
    async def namespace_names(self) -> frozenset[str]:
        """The names of every namespace (one list call)."""
        result = await self._request("list_namespace", (), "GET", "/api/v1/namespaces")
        return frozenset(item["metadata"]["name"] for item in result.get("items") or ())

    async def existing_cluster_roles(self, names: frozenset[str]) -> frozenset[str]:
        """Those of ``names`` that are ClusterRoles (one get each, at once)."""
        ordered = sorted(names)
        found = await asyncio.gather(*(
            self._exists("read_cluster_role", (name,), f"{RBAC}/clusterroles/{quote(name, safe='')}")
            for name in ordered))
        return frozenset(name for name, exists in zip(ordered, found) if exists)

    async def role_namespaces(self, names: frozenset[str]) -> dict[str, frozenset[str]]:
        """For each of ``names``, the namespaces a Role of that name exists in (one list each, at once)."""
        ordered = sorted(names)
        results = await asyncio.gather(*(
            self._request("list_role_for_all_namespaces", (), "GET", f"{RBAC}/roles",
                          query={"fieldSelector": f"metadata.name={name}"})
            for name in ordered
        ))
        return {name: frozenset(item["metadata"]["namespace"] for item in result.get("items") or ())
                for name, result in zip(ordered, results)}

    # ------------------------------------------------------- initial listing
    async def list_all(self) -> dict[str, list[dict]]:
        """Everything the reconciler needs, listed once at start-up before any decision is made."""
        managed = {"labelSelector": "gatepass.dev/managed=true"}

        def bindings(kind: str, result) -> list[dict]:
            return [{**item, "kind": kind} for item in result.get("items") or ()]

        policies, requests, reviews, rolebindings, clusterrolebindings, roles = await asyncio.gather(
            self._list_custom("accesspolicies"),
            self._list_custom("accessrequests"),
            self._list_custom("accessreviews"),
            self._request("list_role_binding_for_all_namespaces", (), "GET", f"{RBAC}/rolebindings", query=managed),
            self._request("list_cluster_role_binding", (), "GET", f"{RBAC}/clusterrolebindings", query=managed),
            self.list_grant_roles(),
        )
        return {
            "policies": policies,
            "requests": requests,
            "reviews": reviews,
            # The per-grant roles of resource requests are kept with the bindings (gatepass.core.grants).
            "bindings": bindings("RoleBinding", rolebindings) + bindings("ClusterRoleBinding", clusterrolebindings)
            + roles,
        }

    # ------------------------------------------------ resource requests' roles
    @staticmethod
    def _role_path(kind: str, namespace: str, name: str = "") -> str:
        base = f"{RBAC}/namespaces/{quote(namespace, safe='')}/roles" if kind == "Role" else f"{RBAC}/clusterroles"
        return f"{base}/{quote(name, safe='')}" if name else base

    async def apply_grant_role(self, manifest: Mapping) -> dict:
        """Creates a per-grant Role or ClusterRole, or makes an existing one what it should be (it may have
        been edited by hand); returns it as stored. RBAC refuses it (403) unless the operator holds every
        permission in it."""
        manifest = dict(manifest)
        kind, meta = manifest["kind"], manifest["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        call = "namespaced_role" if kind == "Role" else "cluster_role"
        args: tuple = (namespace,) if kind == "Role" else ()
        try:
            stored = await self._request(f"create_{call}", (*args, manifest), "POST",
                                         self._role_path(kind, namespace), manifest)
        except ApiException as error:
            if error.status != 409:
                raise
            path = self._role_path(kind, namespace, name)
            current = await self._request(f"read_{call}", (name, *args), "GET", path)
            version = (current.get("metadata") or {}).get("resourceVersion")
            replaced = {**manifest, "metadata": {**meta, "resourceVersion": version}}
            stored = await self._request(f"replace_{call}", (name, *args, replaced), "PUT", path, replaced)
        return {**stored, "kind": kind}

    async def delete_grant_role(self, kind: str, namespace: str, name: str) -> None:
        """Deletes a per-grant Role or ClusterRole (gone already is done)."""
        call = "delete_namespaced_role" if kind == "Role" else "delete_cluster_role"
        args = (name, namespace) if kind == "Role" else (name,)
        try:
            await self._request(call, args, "DELETE", self._role_path(kind, namespace, name))
        except ApiException as error:
            if error.status != 404:
                raise

    async def holds(self, access) -> bool:
        """Does RBAC let the operator itself make this API request (a gatepass.core.rbac.Access)? What it must
        hold to create a per-grant role allowing it. Asked with a SelfSubjectAccessReview, answers reused
        for ANSWERS_TTL."""
        resource, _, subresource = access.resource.partition("/")
        attributes = {"group": access.api_group, "resource": resource, "subresource": subresource,
                      "verb": access.verb, "name": access.name, "namespace": access.namespace}
        review = {"spec": {"resourceAttributes": attributes}}

        async def ask() -> bool:
            result = await self._request("create_self_subject_access_review", (review,), "POST",
                                         "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review)
            return bool((result.get("status") or {}).get("allowed"))

        return await self.answers.get(("holds", access), ask)

    async def cluster_role_rules(self, names: frozenset[str], epoch: int = 0) -> dict[str, list[dict] | None]:
        """The rules of each of the ClusterRoles ``names`` (None for one that does not exist), one get each, at
        once: what bounds resource requests (an aggregated ClusterRole's rules are the aggregation's, as the
        API server stores them). Reused for ANSWERS_TTL, by callers that give the same ``epoch`` (the store's
        policy_epoch: read again once a policy has changed)."""
        ordered = sorted(names)
        now = self.answers.clock()
        cache = self._role_rules

        async def read(name: str) -> list[dict] | None:
            cached = cache.get(name)
            if cached is not None and cached[0] > now and cached[2] == epoch:
                return cached[1]
            try:
                body = await self._request("read_cluster_role", (name,), "GET",
                                           self._role_path("ClusterRole", "", name))
                rules = list(body.get("rules") or ())
            except ApiException as error:
                if error.status != 404:
                    raise
                rules = None
            if len(cache) > 1024:
                cache.clear()
            cache[name] = (now + self.answers.ttl, rules, epoch)
            return rules

        found = await asyncio.gather(*(read(name) for name in ordered))
        return dict(zip(ordered, found))

    async def list_grant_roles(self) -> list[dict]:
        """The per-grant Roles and ClusterRoles (labelled managed), each with its kind: listed at start-up."""
        managed = {"labelSelector": f"{MANAGED_LABEL}=true"}
        roles, cluster_roles = await asyncio.gather(
            self._request("list_role_for_all_namespaces", (), "GET", f"{RBAC}/roles", query=managed),
            self._request("list_cluster_role", (), "GET", f"{RBAC}/clusterroles", query=managed))
        return [{**item, "kind": "Role"} for item in roles.get("items") or ()] + \
               [{**item, "kind": "ClusterRole"} for item in cluster_roles.get("items") or ()]
