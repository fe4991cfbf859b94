"""The operator's connection to the API server: one client for the operator's own calls, and kopf's login."""

from __future__ import annotations

import kopf
import kubernetes

from gatepass.kube.connection import configuration
from gatepass.kube.http import ApiHttp


class ApiClient(kubernetes.client.ApiClient):
    """The Kubernetes client, with beside it (``async_http``) an asynchronous one on the same configuration
    (gatepass.kube.http): gatepass.controller.kubeio sends the operator's calls with it, from the event loop."""

    def __init__(self, configuration: kubernetes.client.Configuration, connections: int) -> None:
        super().__init__(configuration)
        self.async_http = ApiHttp(configuration, connections=connections, user_agent="gatepass-operator")


def api_client(kubeconfig: str | None, context: str | None, workers: int) -> ApiClient:
    """A client from ``kubeconfig`` and ``context``, or the pod's own in a cluster (gatepass.kube.connection);
    its connection pools fit ``workers`` reconciles at once, and as many admission reviews beside them."""
    config = configuration(kubeconfig, context)
    connections = max(workers * 2, 16)
    config.connection_pool_maxsize = connections
    return ApiClient(config, connections)


def connection_info(client: kubernetes.client.ApiClient) -> kopf.ConnectionInfo:
    """What kopf logs in with: the same server, credentials and CA as ``client``."""
    config = client.configuration
    token = (config.api_key or {}).get("authorization") or (config.api_key or {}).get("BearerToken")
    scheme = None
    if token and " " in token:
        scheme, token = token.split(" ", 1)
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        scheme=scheme or ("Bearer" if token else None),
        token=token,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
        default_namespace="default",
    )
