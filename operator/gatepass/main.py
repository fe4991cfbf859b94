"""The operator's entry point: ``gatepass-operator`` (or ``python -m gatepass``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import kopf
import kubernetes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gatepass-operator", description="Run the Gatepass operator.")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context to use")
    parser.add_argument("--webhook-addr", default="0.0.0.0", help="address the admission webhook listens on")
    parser.add_argument("--webhook-port", type=int, default=9443)
    parser.add_argument("--webhook-cert", help="TLS certificate file for the webhook")
    parser.add_argument("--webhook-key", help="TLS private key file for the webhook")
    parser.add_argument("--health-port", type=int, default=8080, help="port of /healthz (0 = off)")
    parser.add_argument("--workers", type=int, default=8, help="requests reconciled at once")
    parser.add_argument("--retention", default="720h",
                        help='how long ended requests are kept before deletion, as a Go duration ("0" keeps them)')
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def api_client(args: argparse.Namespace) -> kubernetes.client.ApiClient:
    configuration = kubernetes.client.Configuration()
    if args.kubeconfig or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        kubernetes.config.load_kube_config(
            config_file=args.kubeconfig, context=args.context, client_configuration=configuration
        )
    else:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = max(args.workers * 2, 16)
    return kubernetes.client.ApiClient(configuration)


def connection_info(client: kubernetes.client.ApiClient) -> kopf.ConnectionInfo:
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    # Registers the handlers with kopf's default registry.
    from gatepass.controller import handlers as _watch  # noqa: F401
    from gatepass.controller.runtime import Runtime
    from gatepass.core.durations import parse_duration
    from gatepass.webhooks import handlers as _admission  # noqa: F401

    client = api_client(args)
    retention = parse_duration(args.retention) or None
    runtime = Runtime.create(client, workers=args.workers, retention=retention)

    @kopf.on.login()
    def login(**_):
        return connection_info(client)

    @kopf.on.startup()
    async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_):
        settings.posting.enabled = False  # Gatepass posts its own audit Events
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 60
        if args.webhook_cert and args.webhook_key:
            settings.admission.server = kopf.WebhookServer(
                addr=args.webhook_addr, port=args.webhook_port,
                certfile=args.webhook_cert, pkeyfile=args.webhook_key,
            )
        settings.admission.managed = None  # the configurations ship with the manifests, failing closed
        await runtime.start(memo)

    @kopf.on.cleanup()
    async def stop(**_):
        await runtime.stop()

    stop_flag: asyncio.Event | None = None

    async def run() -> None:
        nonlocal stop_flag
        stop_flag = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_flag.set)
        await kopf.operator(
            clusterwide=True,
            standalone=True,
            memo=kopf.Memo(),
            stop_flag=stop_flag,
            liveness_endpoint=f"http://0.0.0.0:{args.health_port}/healthz" if args.health_port else None,
        )

    asyncio.run(run())
    logging.getLogger("gatepass").info("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
