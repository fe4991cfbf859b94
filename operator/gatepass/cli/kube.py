"""Every call `kubectl access` makes to the Kubernetes API, as the user.

The connection comes from the user's kubeconfig and context exactly as kubectl
would pick them (``kubeconfig``: ``--kubeconfig``, else ``$KUBECONFIG``, else
~/.kube/config; ``--context``, else the current context). Objects are plain
dicts as the API returns them. Every failure leaves here as a one-line
``CliError``.

The calls are plain HTTPS over the standard library's ``http.client`` and
``ssl`` (one kept-alive connection, a second one for a watch), not the
``kubernetes`` client: importing that client alone takes longer than a whole
``kubectl access request ls`` should (docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import copy
import http.client
import json
import os
import socket
import ssl
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from gatepass.api import values
from gatepass.core.names import API_VERSION, GROUP, POLICIES, REQUESTS, REVIEWS, VERSION
from gatepass.core.rbac import Access, RoleKey, Rule, rule_from_api
from gatepass.core.types import Identity

from . import kubeconfig
from .errors import CliError, api_error

__all__ = ["API_VERSION", "Expired", "Kube"]
USER_AGENT = "kubectl-access"
#: Seconds one ordinary API call may take before the cluster counts as unreachable.
CALL_TIMEOUT = 30
#: Seconds one watch call stays open before it is renewed.
WATCH_TIMEOUT = 60

_CUSTOM = f"/apis/{GROUP}/{VERSION}"
_CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
#: Lists of object metadata only (names, no spec, no secret data), or the plain list if a server cannot.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"


class Transport:
    """HTTPS to one API server as one user: TLS as the kubeconfig says, the credentials on every call."""

    def __init__(self, endpoint: kubeconfig.Endpoint, credentials: kubeconfig.Credentials) -> None:
        self.endpoint = endpoint
        parts = urlsplit(endpoint.server)
        self.host = endpoint.server
        self.secure = parts.scheme == "https"
        self.hostname = parts.hostname or ""
        self.port = parts.port or (443 if self.secure else 80)
        self.prefix = parts.path.rstrip("/")
        self.context = self._tls(credentials) if self.secure else None
        self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if credentials.token:
            self.headers["Authorization"] = f"Bearer {credentials.token}"
        elif credentials.username:
            pair = f"{credentials.username}:{credentials.password}".encode()
            import base64

            self.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        self.proxy = endpoint.proxy_url or _env_proxy(parts.scheme, self.hostname)
        self._connection: http.client.HTTPConnection | None = None
        self._streaming: socket.socket | None = None  # the socket of the latest stream

    def _tls(self, credentials: kubeconfig.Credentials) -> ssl.SSLContext:
        endpoint = self.endpoint
        try:
            if endpoint.insecure:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif endpoint.ca_file or endpoint.ca_data:
                context = ssl.create_default_context(
                    cafile=endpoint.ca_file or None,
                    cadata=endpoint.ca_data.decode() if endpoint.ca_data else None)
            else:
                context = ssl.create_default_context()
            if credentials.cert_file or credentials.cert_data:
                _load_client_certificate(context, credentials)
        except (OSError, ssl.SSLError, ValueError) as error:
            raise CliError(f"cannot use the kubeconfig's certificates: {_tls_problem(error)}") from None
        return context

    def connect(self, timeout: float) -> http.client.HTTPConnection:
        target = self.hostname
        if self.proxy:
            proxy = urlsplit(self.proxy)
            host, port = proxy.hostname or "", proxy.port or 80
        else:
            host, port = target, self.port
        if self.secure:
            connection: http.client.HTTPConnection = _HTTPSConnection(
                host, port, timeout=timeout, context=self.context,
                server_hostname=self.endpoint.tls_server_name or target)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        if self.proxy:
            connection.set_tunnel(target, self.port)
        return connection

    def request(self, method: str, path: str, body: Any = None, *, query: Mapping[str, str] | None = None,
                content_type: str = "application/json", timeout: float = CALL_TIMEOUT,
                stream: bool = False, accept: str = "") -> http.client.HTTPResponse:
        """Send one call; the response (status not checked). A dropped kept-alive connection is retried once."""
        url = self.prefix + path + (f"?{urlencode(query)}" if query else "")
        headers = dict(self.headers)
        if accept:
            headers["Accept"] = accept
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            reuse = not stream and self._connection is not None
            connection = self._connection if reuse else self.connect(timeout)
            assert connection is not None
            try:
                connection.timeout = timeout
                connection.request(method, url, body=payload, headers=headers)
                if stream:
                    self._streaming = connection.sock  # kept: the connection lets go of it on a closing answer
                response = connection.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                self._connection = None
                if reuse and attempt == 1:
                    continue  # the server closed an idle connection: open a new one
                raise
            except BaseException:
                connection.close()
                self._connection = None
                raise
            if not stream:
                self._connection = connection
            return response
        raise AssertionError("unreachable")

    def interrupt(self) -> None:
        """End the latest stream now (from another thread): its reader gets an error, or the end of it."""
        sock = self._streaming
        if sock is not None:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the TCP stream, under any TLS


class _HTTPSConnection(http.client.HTTPSConnection):
    """HTTPS that checks the server's certificate for ``server_hostname`` (kubeconfig's tls-server-name)."""

    def __init__(self, host: str, port: int, *, timeout: float, context: ssl.SSLContext | None,
                 server_hostname: str) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.server_hostname = server_hostname

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)  # TCP, and the proxy's CONNECT when there is one
        assert self._context is not None  # type: ignore[attr-defined]
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_hostname)  # type: ignore


def _load_client_certificate(context: ssl.SSLContext, credentials: kubeconfig.Credentials) -> None:
    """The client certificate and key, from files or (through a private temporary directory) from data."""
    if credentials.cert_file and not credentials.cert_data:
        context.load_cert_chain(credentials.cert_file, credentials.key_file or None)
        return
    with tempfile.TemporaryDirectory(prefix="kubectl-access-") as directory:
        cert = os.path.join(directory, "cert.pem")
        key = os.path.join(directory, "key.pem")
        for path, data, source in ((cert, credentials.cert_data, credentials.cert_file),
                                   (key, credentials.key_data, credentials.key_file)):
            if not data and source:
                with open(source, "rb") as handle:
                    data = handle.read()
            with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as handle:
                handle.write(data)
        context.load_cert_chain(cert, key)


def _tls_problem(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename or ''} {error.strerror}".strip()
    return str(error)


def _env_proxy(scheme: str, host: str) -> str:
    """The proxy of $https_proxy (or $all_proxy) for ``host``, unless $no_proxy excludes it."""
    names = (f"{scheme}_proxy", "all_proxy")
    if not any(os.environ.get(n) or os.environ.get(n.upper()) for n in names):
        return ""
    import urllib.request

    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme) or proxies.get("all") or ""
    if not proxy or urllib.request.proxy_bypass_environment(host, proxies):
        return ""
    return proxy if "://" in proxy else f"http://{proxy}"


class Kube:
    """The API, as one user: Gatepass objects, RBAC roles, and the user's own identity and permissions."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.host = transport.host
        self._identity: Identity | None = None

    @classmethod
    def connect(cls, kubeconfig_file: str | None = None, context: str | None = None) -> Kube:
        try:
            endpoint = kubeconfig.load(kubeconfig_file, context)
            credentials = kubeconfig.resolve(endpoint)
        except kubeconfig.ConfigError as error:
            raise CliError(str(error)) from None
        return cls(Transport(endpoint, credentials))

    # -- calling ---------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None, *, not_found: str = "",
              query: Mapping[str, str] | None = None, content_type: str = "application/json") -> Any:
        try:
            response = self.transport.request(method, path, body, query=query, content_type=content_type)
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise CliError(f"cannot reach the cluster at {self.host}: {_root_cause(error)}") from None
        if response.status >= 400:
            raise api_error(response.status, data, response.reason or "", not_found=not_found)
        try:
            return json.loads(data)
        except ValueError:
            raise CliError(f"the API server at {self.host} answered with something that is not JSON") from None
    # -- who am I, what may I do ------------------------------------------------

    def whoami(self) -> Identity:
        """The caller as the API server authenticates them (a SelfSubjectReview)."""
        if self._identity is None:
            review = self._call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
            info = (review.get("status") or {}).get("userInfo") or {}
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
        review = self._call("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body)
        return bool((review.get("status") or {}).get("allowed"))

    # -- Gatepass objects ---------------------------------------------------------

    def get_request(self, name: str) -> dict:
        return self._call("GET", _object(REQUESTS, name), not_found=f'AccessRequest "{name}" not found')

    def list_requests(self) -> list[dict]:
        return self.list_requests_with_version()[0]

    def list_requests_with_version(self) -> tuple[list[dict], str]:
        """The requests the caller may list, and the list's resourceVersion to watch from."""
        listed = self._call("GET", f"{_CUSTOM}/{REQUESTS}")
        return list(listed.get("items") or ()), str((listed.get("metadata") or {}).get("resourceVersion") or "")

    def create_request(self, body: Mapping, *, dry_run: bool = False) -> dict:
        """The request as created; with ``dry_run`` as admission would create it, and nothing is stored."""
        query = {"fieldManager": USER_AGENT, **({"dryRun": "All"} if dry_run else {})}
        return self._call("POST", f"{_CUSTOM}/{REQUESTS}", dict(body), query=query)

    def annotate_request(self, name: str, annotations: Mapping[str, str]) -> dict:
        patch = {"metadata": {"annotations": dict(annotations)}}
        return self._call("PATCH", _object(REQUESTS, name), patch, query={"fieldManager": USER_AGENT},
                          content_type="application/merge-patch+json",
                          not_found=f'AccessRequest "{name}" not found')

    def create_review(self, body: Mapping) -> dict:
        return self._call("POST", f"{_CUSTOM}/{REVIEWS}", dict(body), query={"fieldManager": USER_AGENT})

    def list_policies(self) -> list[dict]:
        return list(self._call("GET", f"{_CUSTOM}/{POLICIES}").get("items") or ())

    def get_policy(self, name: str) -> dict | None:
        """The policy, or None if it is gone or the caller may not read it."""
        try:
            return self._call("GET", _object(POLICIES, name), not_found="gone")
        except CliError:
            return None

    def watch_request(self, name: str, resource_version: str) -> Iterator[tuple[str, dict]]:
        """(event type, object) for the request from ``resource_version`` on, until the watch times out.

        Raises ``Expired`` when the version is too old to watch from.
        """
        return self._watch({"fieldSelector": f"metadata.name={name}"}, resource_version, WATCH_TIMEOUT,
                           not_found=f'AccessRequest "{name}" not found')

    def watch_requests(self, resource_version: str, timeout: int = WATCH_TIMEOUT) -> Iterator[tuple[str, dict]]:
        """(event type, object) for every request the caller may watch, from ``resource_version`` on, until
        the watch times out (after ``timeout`` seconds). Raises ``Expired`` as ``watch_request`` does."""
        return self._watch({}, resource_version, timeout)

    def _watch(self, selection: Mapping[str, str], resource_version: str, timeout: int, *,
               not_found: str = "", path: str = f"{_CUSTOM}/{REQUESTS}") -> Iterator[tuple[str, dict]]:
        query = {"watch": "true", **selection, "resourceVersion": resource_version,
                 "timeoutSeconds": str(timeout), "allowWatchBookmarks": "false"}
        unreachable = f"cannot reach the cluster at {self.host}"
        try:
            response = self.transport.request("GET", path, query=query,
                                              timeout=timeout + 15, stream=True)
        except (OSError, http.client.HTTPException) as error:
            raise CliError(f"{unreachable}: {_root_cause(error)}") from None
        return self._events(response, unreachable, not_found)

    @staticmethod
    def _events(response: http.client.HTTPResponse, unreachable: str, not_found: str) \
            -> Iterator[tuple[str, dict]]:
        try:
            if response.status == 410:
                raise Expired()
            if response.status >= 400:
                raise api_error(response.status, response.read(), response.reason or "", not_found=not_found)
            while True:
                try:
                    line = response.readline()
                except (OSError, http.client.HTTPException) as error:
                    raise CliError(f"{unreachable}: {_root_cause(error)}") from None
                if not line:
                    return  # the API server ended the watch
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                    kind, obj = event.get("type"), event.get("object") or {}
                except (ValueError, AttributeError):
                    return  # a cut-off line: the watch ended; the caller watches again from the last version
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise Expired()
                    raise api_error(obj.get("code"), obj, obj.get("reason") or "")
                yield kind, obj
        finally:
            response.close()

    def twin(self) -> Kube:
        """Another client as the same user to the same API server, with its own connection (for a thread
        of its own: one ``Kube`` is not safe to share between threads)."""
        transport = copy.copy(self.transport)
        transport._connection = None
        transport._streaming = None
        twin = type(self)(transport)
        twin._identity = self._identity
        return twin

    def interrupt(self) -> None:
        """End this client's watch in progress (from another thread), as ``Transport.interrupt``."""
        self.transport.interrupt()

    # -- RBAC ---------------------------------------------------------------------

    def role_rules(self, key: RoleKey) -> list[Rule] | None:
        """The rules of a ClusterRole or Role, or None when it is missing or unreadable to the caller."""
        rbac = "/apis/rbac.authorization.k8s.io/v1"
        if key.kind == "ClusterRole":
            path = f"{rbac}/clusterroles/{quote(key.name, safe='')}"
        else:
            path = f"{rbac}/namespaces/{quote(key.namespace, safe='')}/roles/{quote(key.name, safe='')}"
        try:
            role = self._call("GET", path, not_found="missing")
        except CliError:
            return None
        return [rule_from_api(rule) for rule in role.get("rules") or ()]

    # -- a grant's own credential (kubectl access login, credential) -------------------------

    def create_csr(self, body: Mapping) -> dict:
        """File a CertificateSigningRequest as the caller (the API server records them as its username)."""
        return self._call("POST", _CSRS, dict(body), query={"fieldManager": USER_AGENT})

    def get_csr(self, name: str) -> dict:
        return self._call("GET", f"{_CSRS}/{quote(name, safe='')}",
                          not_found=f'CertificateSigningRequest "{name}" not found')

    def watch_csr(self, name: str, resource_version: str, timeout: int) -> Iterator[tuple[str, dict]]:
        """(event type, object) for the CSR from ``resource_version`` on, for ``timeout`` seconds at most."""
        return self._watch({"fieldSelector": f"metadata.name={name}"}, resource_version, max(1, timeout),
                           not_found=f'CertificateSigningRequest "{name}" not found', path=_CSRS)

    def get_secret(self, namespace: str, name: str) -> dict:
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/secrets/{quote(name, safe='')}"
        return self._call("GET", path, not_found=f'Secret "{name}" not found in namespace "{namespace}"')

    # -- listing as the user (request search) ---------------------------------------

    def list_names(self, api_group: str, resource: str, namespace: str = "", limit: int = 500) -> Names:
        """The names of one kind's objects the caller may list, in ``namespace`` (or every namespace, for
        ``''``): metadata only (PartialObjectMetadataList), so that listing secrets reads no secret data."""
        version = self._group_version(api_group)
        if version is None:
            return Names(exists=False)
        where = f"/namespaces/{quote(namespace, safe='')}" if namespace else ""
        root = "/api/v1" if not api_group else f"/apis/{version}"
        path = f"{root}{where}/{quote(resource, safe='')}"
        try:
            response = self.transport.request("GET", path, query={"limit": str(limit)}, accept=METADATA_ONLY)
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise CliError(f"cannot reach the cluster at {self.host}: {_root_cause(error)}") from None
        if response.status in (401, 403):
            return Names(allowed=False)
        if response.status == 404:
            return Names(exists=False)
        if response.status >= 400:
            raise api_error(response.status, data, response.reason or "")
        listed = json.loads(data)
        items = listed.get("items") or ()
        found = tuple(((i.get("metadata") or {}).get("namespace") or "", (i.get("metadata") or {}).get("name") or "")
                      for i in items)
        return Names(found=found, more=bool((listed.get("metadata") or {}).get("continue")))

    def _group_version(self, api_group: str) -> str | None:
        """'v1' for the core group, the preferred 'group/version' of another; None when the group is unknown."""
        if not api_group:
            return "v1"
        cache = self.__dict__.setdefault("_versions", {})
        if api_group not in cache:
            try:
                found = self._call("GET", f"/apis/{quote(api_group, safe='')}", not_found="unknown")
                cache[api_group] = ((found.get("preferredVersion") or {}).get("groupVersion")) or None
            except CliError:
                cache[api_group] = None
        return cache[api_group]


@dataclass(frozen=True)
class Names:
    """What listing one kind as the caller gave: (namespace, name) pairs, or that they may not list it, or
    that there is no such kind there."""

    found: tuple[tuple[str, str], ...] = ()
    more: bool = False  # the API server has more than the limit
    allowed: bool = True
    exists: bool = True


def _object(plural: str, name: str) -> str:
    return f"{_CUSTOM}/{plural}/{quote(name, safe='')}"


class Expired(Exception):
    """A watch asked for a resourceVersion the API server no longer has."""


def _root_cause(error: BaseException) -> str:
    """Why the cluster could not be reached, in a few words."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(error, socket.gaierror):
        return "unknown host"
    if isinstance(error, ssl.SSLCertVerificationError):
        return "its certificate is not trusted by your kubeconfig"
    if isinstance(error, http.client.RemoteDisconnected):
        return "the connection was closed"
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return text
