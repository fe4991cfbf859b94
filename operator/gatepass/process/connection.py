"""The operator's connection to the API server: one client for the operator's own calls, and kopf's login.

Both come from one gatepass.kube.credentials ``Connection`` (a kubeconfig or the pod's ServiceAccount),
without the Kubernetes client library: the process never imports it (some 34 MiB and a second of
imports), nor pykube. kopf would import both, when installed, to recognise their objects (which
Gatepass never gives it): ``import_kopf``, which the process's first import of kopf is (main imports
this module before anything that imports kopf), hides them while kopf is imported.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from datetime import timezone
from types import ModuleType

#: Client libraries kopf imports, when it finds them, only to recognise their objects.
KOPF_OPTIONAL = ("kubernetes", "kubernetes_asyncio", "pykube")


def import_kopf() -> ModuleType:
    """kopf, imported (if it is not yet) without the client libraries it would import along."""
    if "kopf" in sys.modules:
        return sys.modules["kopf"]
    hidden = [name for name in KOPF_OPTIONAL if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # "import name" raises ImportError
    try:
        return importlib.import_module("kopf")
    finally:
        for name in hidden:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


kopf = import_kopf()

from gatepass.kube.credentials import Connection, connect  # noqa: E402 - after kopf, on purpose
from gatepass.kube.http import ApiHttp  # noqa: E402


@dataclass(eq=False)
class ApiClient:
    """The process's client: its ``connection`` and the asynchronous client on it (``async_http``,
    gatepass.kube.http), which gatepass.controller.kubeio, the leader election and the webhook
    certificates send their calls with, from the event loop."""

    connection: Connection
    async_http: ApiHttp


def api_client(kubeconfig: str | None, context: str | None, workers: int) -> ApiClient:
    """A client from ``kubeconfig`` and ``context``, or the pod's own in a cluster (gatepass.kube.credentials);
    its connection pool fits ``workers`` reconciles at once, and as many admission reviews beside them.
    Raises gatepass.kube.credentials.ConfigError."""
    connection = connect(kubeconfig, context)
    return ApiClient(connection, ApiHttp(connection, connections=max(workers * 2, 16),
                                         user_agent="gatepass-operator"))


def connection_info(client: ApiClient) -> kopf.ConnectionInfo:
    """What kopf logs in with: the same server, CA and credentials as ``client``, as they are now (kopf logs
    in again when the API server refuses them, and before an exec plugin's credential expires)."""
    connection = client.connection
    credentials = connection.credentials()
    expires = credentials.expires
    return kopf.ConnectionInfo(
        server=connection.host,
        ca_path=connection.ca_file or None,
        ca_data=connection.ca_data or None,
        insecure=connection.insecure or None,
        scheme="Bearer" if credentials.token else None,
        token=credentials.token or None,
        username=None if credentials.token else (credentials.username or None),
        password=None if credentials.token else (credentials.password or None),
        certificate_path=credentials.cert_file or None,
        certificate_data=credentials.cert_data or None,
        private_key_path=credentials.key_file or None,
        private_key_data=credentials.key_data or None,
        default_namespace="default",
        expiration=expires.astimezone(timezone.utc) if expires is not None else None,
    )
