"""Where the operator's API server is and who the operator is to it, kept current, without the Kubernetes client.

``connect`` follows gatepass.kube.connection's rules (client-go's): the kubeconfig named, else
``$KUBECONFIG``, else ``~/.kube/config``, read by gatepass.kube.kubeconfig (client certificates, bearer
tokens, basic auth, an OIDC id-token, exec credential plugins); inside a pod with no kubeconfig named, no
context named and no kubeconfig file found, the pod's ServiceAccount: its token file, read again whenever
the kubelet rotates it, and the cluster's CA. An exec plugin is asked again once its credential expires.

A ``Connection`` is what the operator's asynchronous client (gatepass.kube.http) and kopf's login need:
the server, how to trust it, and ``credentials()``, the current ones. Every problem is a one-line
ConfigError.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from . import kubeconfig
from .kubeconfig import ConfigError, Credentials
from .locations import kubeconfig_path

__all__ = ["ConfigError", "Connection", "Credentials", "connect", "from_client_configuration", "in_cluster"]

SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
EXEC_MARGIN = timedelta(seconds=10)  # an exec credential this close to its expiry is asked for again


@dataclass(eq=False)
class Connection:
    """An API server, how to trust it (CA file or data, or not at all), and the credentials of the moment."""

    host: str
    credentials: Callable[[], Credentials]
    ca_file: str = ""
    ca_data: bytes = b""
    insecure: bool = False
    check_hostname: bool = True  # off only for a client configuration whose assert_hostname is False
    tls_server_name: str = ""
    proxy: str = ""
    #: True when ``credentials()`` may block (it runs an exec plugin that is due): call it in a thread then.
    refresh_due: Callable[[], bool] = field(default=lambda: False)

    def headers(self, credentials: Credentials | None = None) -> dict[str, str]:
        """The Authorization header of ``credentials`` (the current ones if not given), or none."""
        credentials = credentials or self.credentials()
        if credentials.token:
            return {"Authorization": f"Bearer {credentials.token}"}
        if credentials.username:
            import base64
            pair = f"{credentials.username}:{credentials.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}


def connect(kubeconfig_file: str | None = None, context: str | None = None, *,
            in_cluster_config: bool | Literal["auto"] = "auto") -> Connection:
    """A connection from ``kubeconfig_file`` and ``context``, or the pod's own, as the module says."""
    path = kubeconfig_path(kubeconfig_file)
    found = any(os.path.exists(part) for part in path.split(os.pathsep) if part)
    if in_cluster_config is True or (in_cluster_config == "auto" and not (kubeconfig_file or context or found)
                                     and os.environ.get("KUBERNETES_SERVICE_HOST")):
        return in_cluster()
    endpoint = kubeconfig.load(path, context)
    if endpoint.exec_config:
        plugin = _ExecPlugin(endpoint)
        plugin.credentials()  # a plugin that fails, fails at start-up, in one line
        credentials, refresh_due = plugin.credentials, plugin.due
    else:
        static = endpoint.credentials
        credentials, refresh_due = (lambda: static), (lambda: False)
    return Connection(endpoint.server, credentials, ca_file=endpoint.ca_file, ca_data=endpoint.ca_data,
                      insecure=endpoint.insecure, tls_server_name=endpoint.tls_server_name,
                      proxy=endpoint.proxy_url, refresh_due=refresh_due)


def in_cluster(root: str | None = None, environ: Any = None) -> Connection:
    """The pod's ServiceAccount: ``KUBERNETES_SERVICE_HOST``/``_PORT``, ``root``/token (read again when it
    changes) and ``root``/ca.crt."""
    environ, root = (os.environ if environ is None else environ), root or SERVICE_ACCOUNT
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError("cannot use the in-cluster configuration: KUBERNETES_SERVICE_HOST and "
                          "KUBERNETES_SERVICE_PORT are not set")
    token, ca = os.path.join(root, "token"), os.path.join(root, "ca.crt")
    for name, what in ((token, "token"), (ca, "CA")):
        if not os.path.isfile(name):
            raise ConfigError(f"cannot use the in-cluster configuration: the ServiceAccount {what} file {name} "
                              "does not exist")
    reader = TokenFile(token)
    reader.credentials()
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    return Connection(server, reader.credentials, ca_file=ca)


class TokenFile:
    """A bearer token in a file that is replaced now and then (a projected ServiceAccount token): read
    again whenever the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._credentials = Credentials()
        self._lock = threading.Lock()  # kopf's login runs in a thread beside the loop

    def credentials(self) -> Credentials:
        try:
            info = os.stat(self.path)
        except OSError as error:
            if self._seen is None:
                raise ConfigError(f"cannot read the token file {self.path}: {error.strerror}") from None
            return self._credentials  # being replaced: the last one read is still good for a while
        seen = (info.st_ino, info.st_mtime_ns, info.st_size)
        if seen != self._seen:
            with self._lock:
                try:
                    with open(self.path, encoding="utf-8") as handle:
                        token = handle.read().strip()
                except OSError as error:
                    if self._seen is None:
                        raise ConfigError(f"cannot read the token file {self.path}: {error.strerror}") from None
                    return self._credentials
                if token or self._seen is None:
                    self._credentials, self._seen = Credentials(token=token), seen
        return self._credentials


class _ExecPlugin:
    """The credentials an exec plugin gives, asked for again once they expire."""

    def __init__(self, endpoint: kubeconfig.Endpoint, clock: Callable[[], datetime] = lambda: datetime.now(
            timezone.utc)) -> None:
        self.endpoint, self.clock = endpoint, clock
        self._credentials: Credentials | None = None
        self._lock = threading.Lock()

    def due(self) -> bool:
        current = self._credentials
        return current is None or (current.expires is not None and current.expires - EXEC_MARGIN <= self.clock())

    def credentials(self) -> Credentials:
        if self.due():
            with self._lock:
                if self.due():
                    self._credentials = kubeconfig.resolve(self.endpoint)
        assert self._credentials is not None
        return self._credentials


def from_client_configuration(config: Any) -> Connection:
    """The connection of a Kubernetes client's ``Configuration`` (read by its attributes, without importing the
    client): for a program or a test that has one. Its ``auth_settings()`` give the credentials of the
    moment (refreshed by the client's own hook, as it refreshes them)."""

    def credentials() -> Credentials:
        for setting in config.auth_settings().values():
            value = setting.get("value") or ""
            if setting.get("in") == "header" and setting.get("key") == "authorization" and value:
                scheme, _, token = value.partition(" ")
                if scheme.lower() == "bearer":
                    return Credentials(token=token, cert_file=config.cert_file or "", key_file=config.key_file or "")
        return Credentials(cert_file=config.cert_file or "", key_file=config.key_file or "",
                           username=config.username or "", password=config.password or "")

    assert_hostname = getattr(config, "assert_hostname", None)
    return Connection(
        (config.host or "").rstrip("/"), credentials, ca_file=config.ssl_ca_cert or "",
        insecure=not config.verify_ssl, check_hostname=assert_hostname is not False,
        tls_server_name=getattr(config, "tls_server_name", None) or (
            assert_hostname if isinstance(assert_hostname, str) else ""),
        proxy=config.proxy or "")


def pem_file(data: bytes, suffix: str) -> str:
    """``data`` (a PEM certificate or key) in a file only this user can read, for what needs a path."""
    handle, path = tempfile.mkstemp(prefix="gatepass-", suffix=suffix)
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    return path
