"""The operator's connection to the API server: one client for the operator's own calls, and kopf's login."""

from __future__ import annotations

import os

import kopf
import kubernetes


def api_client(kubeconfig: str | None, context: str | None, workers: int) -> kubernetes.client.ApiClient:
    """A client from ``kubeconfig`` (or $KUBECONFIG), or the in-cluster one when running in a pod and no
    kubeconfig is given; its connection pool fits ``workers`` reconciles at once."""
    configuration = kubernetes.client.Configuration()
    if kubeconfig or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        kubernetes.config.load_kube_config(config_file=kubeconfig, context=context,
                                           client_configuration=configuration)
    else:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = max(workers * 2, 16)
    return kubernetes.client.ApiClient(configuration)


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
