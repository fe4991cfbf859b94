"""Every call `kubectl access` makes to the Kubernetes API, as the user.

The client is built from the user's kubeconfig and context exactly as kubectl
would pick them (``--kubeconfig``, else ``$KUBECONFIG``, else ~/.kube/config;
``--context``, else the current context). Objects are plain dicts as the API
returns them. Every failure leaves here as a one-line ``CliError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import kubernetes
import urllib3
from kubernetes.client import ApiException

from gatepass.api import values
from gatepass.core.names import API_VERSION, GROUP, POLICIES, REQUESTS, REVIEWS, VERSION
from gatepass.core.rbac import Access, RoleKey, Rule, rule_from_api
from gatepass.core.types import Identity
from gatepass.kube import connection

from .errors import CliError, api_error

__all__ = ["API_VERSION", "Expired", "Kube"]
USER_AGENT = "kubectl-access"
#: Seconds one ordinary API call may take before the cluster counts as unreachable.
CALL_TIMEOUT = 30
#: Seconds one watch call stays open before it is renewed.
WATCH_TIMEOUT = 60

T = TypeVar("T")


class Kube:
    """The API, as one user: Gatepass objects, RBAC roles, and the user's own identity and permissions."""

    def __init__(self, api_client: kubernetes.client.ApiClient) -> None:
        self.api_client = api_client
        self.host = api_client.configuration.host
        self.custom = kubernetes.client.CustomObjectsApi(api_client)
        self.rbac = kubernetes.client.RbacAuthorizationV1Api(api_client)
        self.authn = kubernetes.client.AuthenticationV1Api(api_client)
        self.authz = kubernetes.client.AuthorizationV1Api(api_client)
        self._identity: Identity | None = None

    @classmethod
    def connect(cls, kubeconfig: str | None = None, context: str | None = None) -> Kube:
        try:
            configuration = connection.configuration(kubeconfig, context, in_cluster=False)
        except connection.ConfigError as error:
            raise CliError(str(error)) from None
        configuration.retries = 1  # an unreachable cluster fails fast instead of after three retries
        api_client = kubernetes.client.ApiClient(configuration)
        api_client.user_agent = USER_AGENT  # also the field manager the API server records
        return cls(api_client)

    # -- calling ---------------------------------------------------------------

    @contextmanager
    def _errors(self, not_found: str = "") -> Iterator[None]:
        try:
            yield
        except ApiException as error:
            raise api_error(error.status, error.body, error.reason or "", not_found=not_found) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise CliError(f"cannot reach the cluster at {self.host}: {_root_cause(error)}") from None

    def _call(self, fn: Callable[..., T], *args: Any, not_found: str = "", **kwargs: Any) -> T:
        with self._errors(not_found):
            return fn(*args, _request_timeout=CALL_TIMEOUT, **kwargs)

    def _plain(self, obj: Any) -> dict:
        return self.api_client.sanitize_for_serialization(obj)

    # -- who am I, what may I do ------------------------------------------------

    def whoami(self) -> Identity:
        """The caller as the API server authenticates them (a SelfSubjectReview)."""
        if self._identity is None:
            review = self._call(self.authn.create_self_subject_review, {"apiVersion": "authentication.k8s.io/v1",
                                                                        "kind": "SelfSubjectReview"})
            info = (self._plain(review).get("status") or {}).get("userInfo") or {}
            self._identity = values.identity(info)
        return self._identity

    def allowed(self, access: Access) -> bool:
        """Whether the caller may do ``access`` right now (a SelfSubjectAccessReview)."""
        if access.is_resource:
            resource, _, subresource = access.resource.partition("/")
            attributes: dict[str, Any] = {"resourceAttributes": {
                "verb": access.verb, "group": access.api_group, "resource": resource,
                "subresource": subresource, "namespace": access.namespace, "name": access.name}}
        else:
            attributes = {"nonResourceAttributes": {"verb": access.verb, "path": access.path}}
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": attributes}
        review = self._plain(self._call(self.authz.create_self_subject_access_review, body))
        return bool((review.get("status") or {}).get("allowed"))

    # -- Gatepass objects ---------------------------------------------------------

    def get_request(self, name: str) -> dict:
        return self._call(self.custom.get_cluster_custom_object, GROUP, VERSION, REQUESTS, name,
                          not_found=f'AccessRequest "{name}" not found')

    def list_requests(self) -> list[dict]:
        listing = self._call(self.custom.list_cluster_custom_object, GROUP, VERSION, REQUESTS)
        return list(listing.get("items") or ())

    def create_request(self, body: Mapping) -> dict:
        return self._call(self.custom.create_cluster_custom_object, GROUP, VERSION, REQUESTS, dict(body))

    def annotate_request(self, name: str, annotations: Mapping[str, str]) -> dict:
        patch = {"metadata": {"annotations": dict(annotations)}}
        return self._call(self.custom.patch_cluster_custom_object, GROUP, VERSION, REQUESTS, name, patch,
                          not_found=f'AccessRequest "{name}" not found')

    def create_review(self, body: Mapping) -> dict:
        return self._call(self.custom.create_cluster_custom_object, GROUP, VERSION, REVIEWS, dict(body))

    def list_policies(self) -> list[dict]:
        listing = self._call(self.custom.list_cluster_custom_object, GROUP, VERSION, POLICIES)
        return list(listing.get("items") or ())

    def get_policy(self, name: str) -> dict | None:
        """The policy, or None if it is gone or the caller may not read it."""
        try:
            return self._call(self.custom.get_cluster_custom_object, GROUP, VERSION, POLICIES, name,
                              not_found="gone")
        except CliError:
            return None

    def watch_request(self, name: str, resource_version: str) -> Iterator[tuple[str, dict]]:
        """(event type, object) for the request from ``resource_version`` on, until the watch times out.

        Raises ``Expired`` when the version is too old to watch from.
        """
        watcher = kubernetes.watch.Watch()
        with self._errors(not_found=f'AccessRequest "{name}" not found'):
            try:
                stream = watcher.stream(
                    self.custom.list_cluster_custom_object, GROUP, VERSION, REQUESTS,
                    field_selector=f"metadata.name={name}", resource_version=resource_version,
                    timeout_seconds=WATCH_TIMEOUT, _request_timeout=WATCH_TIMEOUT + 15,
                )
                for event in stream:
                    yield event["type"], event["object"]
            except ApiException as error:
                if error.status == 410:
                    raise Expired() from None
                raise
            finally:
                watcher.stop()

    # -- RBAC ---------------------------------------------------------------------

    def role_rules(self, key: RoleKey) -> list[Rule] | None:
        """The rules of a ClusterRole or Role, or None when it is missing or unreadable to the caller."""
        try:
            if key.kind == "ClusterRole":
                role = self._call(self.rbac.read_cluster_role, key.name, not_found="missing")
            else:
                role = self._call(self.rbac.read_namespaced_role, key.name, key.namespace, not_found="missing")
        except CliError:
            return None
        return [rule_from_api(rule) for rule in self._plain(role).get("rules") or ()]


class Expired(Exception):
    """A watch asked for a resourceVersion the API server no longer has."""


def _root_cause(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    while isinstance(reason, BaseException) and getattr(reason, "reason", None) is not None:
        reason = reason.reason
    cause = reason if isinstance(reason, BaseException) else error
    text = str(cause)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "its certificate is not trusted by your kubeconfig"
    return text.split(": ", 1)[-1] if ">: " in text else text
