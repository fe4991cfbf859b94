"""The operator's entry point: ``gatepass-operator`` (or ``python -m gatepass``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import tempfile
import uuid
from pathlib import Path

import kopf
import kubernetes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gatepass-operator", description="Run the Gatepass operator.")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context to use")
    parser.add_argument("--webhook-addr", default="0.0.0.0", help="address the admission webhook listens on")
    parser.add_argument("--webhook-port", type=int, default=9443)
    parser.add_argument("--webhook-cert", help="TLS certificate file for the webhook (e.g. from cert-manager)")
    parser.add_argument("--webhook-key", help="TLS private key file for the webhook")
    parser.add_argument("--webhook-secret",
                        help="without --webhook-cert: keep a self-signed CA and serving certificate in this Secret "
                             "of --namespace and put the CA into the webhook configurations' caBundle")
    parser.add_argument("--webhook-service", help="the webhook Service, whose DNS names the certificate is for")
    parser.add_argument("--webhook-host", action="append", default=[],
                        help="another host name or IP address for the certificate (repeatable)")
    parser.add_argument("--webhook-configuration", default="gatepass.dev",
                        help="name of the webhook configurations whose caBundle is kept")
    parser.add_argument("--cert-dir", help="where the serving certificate is written (default: a temporary folder)")
    parser.add_argument("--http-addr", default="0.0.0.0", help="address of /metrics, /healthz and /readyz")
    parser.add_argument("--http-port", "--health-port", dest="http_port", type=int, default=8080,
                        help="port of /metrics, /healthz and /readyz (0 = off)")
    parser.add_argument("--namespace", default=default_namespace(),
                        help="the operator's namespace: its Lease and certificate Secret live there")
    parser.add_argument("--leader-elect", action=argparse.BooleanOptionalAction, default=True,
                        help="run the reconciler only while holding the Lease (for several replicas)")
    parser.add_argument("--leader-identity", help="this replica's name in the Lease (default: host name + random)")
    parser.add_argument("--lease-name", default="gatepass-operator")
    parser.add_argument("--lease-duration", type=int, default=15,
                        help="seconds a standby waits for an unrenewed lease before taking over")
    parser.add_argument("--lease-renew-deadline", type=float, default=10.0,
                        help="seconds after the last renewal at which the leader stops reconciling")
    parser.add_argument("--lease-retry-period", type=float, default=2.0, help="seconds between lease attempts")
    parser.add_argument("--workers", type=int, default=8, help="requests reconciled at once")
    parser.add_argument("--retention", default="720h",
                        help='how long ended requests are kept before deletion, as a Go duration ("0" keeps them)')
    parser.add_argument("--notifications", metavar="FILE",
                        help="notifications configuration: the webhook, Slack and PagerDuty receivers that "
                             "AccessPolicies' spec.notify routes name (YAML; see the README)")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def default_namespace() -> str:
    """$POD_NAMESPACE, else the namespace of the mounted ServiceAccount, else gatepass-system."""
    mounted = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        return mounted.read_text().strip() or "gatepass-system"
    except OSError:
        return "gatepass-system"


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


def slack_buttons(notifications, runtime) -> list:
    """POST /slack/actions, when a Slack receiver has a signing secret (the buttons are off otherwise)."""
    receivers = [r for r in (notifications.slack_receivers() if notifications else ()) if r.signing_secret]
    if not receivers:
        return []
    from gatepass.notify.slack_actions import PATH, SlackActions

    async def policy(name: str):
        return await runtime.kube.get_policy(name, runtime.store)

    return [(PATH, SlackActions(receivers, runtime.kube, policy).handle)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    # Registers the handlers with kopf's default registry.
    from gatepass.controller import handlers as _watch  # noqa: F401
    from gatepass.controller import endpoints
    from gatepass.controller.certificates import WebhookCertificates, service_hosts
    from gatepass.controller.leadership import LeaderElection
    from gatepass.controller.runtime import Runtime
    from gatepass.core.durations import checked_duration
    from gatepass.core.leases import Timing, handover_margin
    from gatepass.webhooks import handlers as _admission  # noqa: F401
    from gatepass.webhooks.guard import WebhookServer

    log = logging.getLogger("gatepass")
    try:
        retention = checked_duration(args.retention, zero=True) or None
    except ValueError as error:
        log.error("--retention: %s", error)  # what the chart's check of operator.retention says
        return 2
    notifications = None
    if args.notifications:
        from gatepass.notify.config import ConfigError, load
        try:
            notifications = load(args.notifications)
        except ConfigError as error:
            log.error("%s", error)
            return 2
        log.info("Notifications: receivers %s", ", ".join(notifications.receivers) or "none")
    client = api_client(args)
    runtime = Runtime.create(client, workers=args.workers, retention=retention, notifications=notifications)
    timing = Timing(args.lease_duration, args.lease_renew_deadline, args.lease_retry_period)
    if args.leader_elect:
        runtime.stop_grace = min(runtime.stop_grace, handover_margin(timing))
    identity = args.leader_identity or f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    election = LeaderElection(client, args.namespace, args.lease_name, identity, timing,
                              on_started=runtime.start, on_stopped=runtime.stop) if args.leader_elect else None
    certificates = None
    if not (args.webhook_cert and args.webhook_key) and args.webhook_secret:
        hosts = (service_hosts(args.webhook_service, args.namespace) if args.webhook_service else []) + args.webhook_host
        if not hosts:
            log.error("--webhook-secret needs --webhook-service or --webhook-host: whom is the certificate for?")
            return 2
        folder = Path(args.cert_dir or tempfile.mkdtemp(prefix="gatepass-webhook-"))
        certificates = WebhookCertificates(client, args.namespace, args.webhook_secret, hosts, folder,
                                           configuration=args.webhook_configuration)

    # Created inside the event loop, in run().
    started: asyncio.Event | None = None
    stop_flag: asyncio.Event | None = None
    tasks: dict[str, asyncio.Task] = {}

    @kopf.on.login()
    def login(**_):
        return connection_info(client)

    @kopf.on.startup()
    async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_):
        settings.posting.enabled = False  # Gatepass posts its own audit Events
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 60
        certfile, keyfile = args.webhook_cert, args.webhook_key
        if certificates is not None:
            certfile, keyfile = await certificates.ensure()
            await certificates.inject()
            tasks["certificates"] = asyncio.create_task(
                certificates.maintain(60.0, on_renewed=stop_flag.set), name="gatepass-certificates")
        if certfile and keyfile:
            settings.admission.server = WebhookServer(  # kopf's, refusing what is too deeply nested to read
                addr=args.webhook_addr, port=args.webhook_port, certfile=str(certfile), pkeyfile=str(keyfile),
            )
        settings.admission.managed = None  # the configurations ship with the manifests, failing closed
        runtime.attach(memo)
        if election is None:
            await runtime.start()
        else:
            tasks["leadership"] = asyncio.create_task(election.run(), name="gatepass-leadership")
        started.set()

    @kopf.on.cleanup()
    async def stop(**_):
        await runtime.stop()

    def alive() -> str | None:
        for name, task in tasks.items():
            if task.done():
                return f"{name} stopped"
        return None

    async def ready() -> str | None:
        if started is None or not started.is_set():
            return "starting"
        if args.webhook_cert or certificates is not None:
            host = "127.0.0.1" if args.webhook_addr in ("0.0.0.0", "::") else args.webhook_addr
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, args.webhook_port), timeout=1)
            except (OSError, asyncio.TimeoutError):
                return "the webhook server is not listening yet"
            writer.close()
        return None

    async def run() -> None:
        nonlocal stop_flag, started
        stop_flag, started = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_flag.set)
        server = await endpoints.serve(args.http_addr, args.http_port, alive=alive, ready=ready,
                                       posts=slack_buttons(notifications, runtime)) \
            if args.http_port else None
        try:
            await kopf.operator(clusterwide=True, standalone=True, memo=kopf.Memo(), stop_flag=stop_flag)
        finally:
            for task in tasks.values():  # the election steps down and hands the lease back
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            if server is not None:
                await server.cleanup()

    if election is not None:
        log.info("Leader election on: lease %s/%s as %s", args.namespace, args.lease_name, identity)
    asyncio.run(run())
    log.info("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
