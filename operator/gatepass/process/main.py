"""The operator's entry point: ``gatepass-operator`` (or ``python -m gatepass``).

``main`` reads the flags, sets up logging, wires the parts (``Operator.create``)
and runs kopf with a registry that holds every handler, added explicitly: the
process's own (login, start-up, clean-up), the controller's watches and the
admission webhooks.
"""

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
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from gatepass.core.durations import checked_duration
from gatepass.core.leases import Timing, handover_margin

from . import logs
from .args import parse_args

if TYPE_CHECKING:  # imported where they are used: --help, and the first log line, need none of them
    import kopf
    import kubernetes

    from gatepass.notify.config import NotifyConfig

    from . import endpoints
    from .certificates import WebhookCertificates
    from .leadership import LeaderElection
    from .runtime import Runtime
    from gatepass.webhooks.guard import WebhookServer

logger = logging.getLogger("gatepass")

CERTIFICATE_CHECK_INTERVAL = 60.0  # seconds between checks of the caBundles and the certificate's expiry
#: kopf logs every handler call's success here at INFO ("Handler 'request_event' succeeded."), for every
#: watch event and admission review; above debug, only its warnings and errors are kept.
KOPF_HANDLER_LOGGER = "kopf.objects"


class UsageError(Exception):
    """A flag the operator cannot start with; the message says which and why (exit code 2)."""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logs.configure(args.log_format, args.log_level)
    quiet_handler_successes(args.log_level)
    logger.info("Starting gatepass-operator (pid %d)", os.getpid())  # before the heavy imports: kopf, the client
    try:
        operator = Operator.create(args)
    except UsageError as error:
        logger.error("%s", error)
        return 2
    if operator.election is not None:
        logger.info("Leader election on: lease %s as %s", operator.election.lease, operator.election.identity)
    asyncio.run(operator.run())
    logger.info("Stopped.")
    return 0


def quiet_handler_successes(level: str) -> None:
    """kopf's line per successful handler call is left out, unless logging at debug; its failures stay
    (an admission refusal, which guard logs at INFO, passes: kopf logs it as an error first)."""
    debug = logs.level_of(level) <= logging.DEBUG
    logging.getLogger(KOPF_HANDLER_LOGGER).setLevel(logging.NOTSET if debug else logging.WARNING)


# ------------------------------------------------------------------ the flags, read
def retention(args: argparse.Namespace) -> timedelta | None:
    """How long ended requests are kept (None: forever)."""
    try:
        return checked_duration(args.retention, zero=True) or None
    except ValueError as error:
        raise UsageError(f"--retention: {error}") from None  # what the chart's check of operator.retention says


def notifications(args: argparse.Namespace) -> NotifyConfig | None:
    if not args.notifications:
        return None
    from gatepass.notify.config import ConfigError, load
    try:
        config = load(args.notifications)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    logger.info("Notifications: receivers %s", ", ".join(config.receivers) or "none")
    return config


def identity(args: argparse.Namespace) -> str:
    """This replica's name in the Lease: the flag's, else the pod's (or host's) name and a random suffix."""
    return args.leader_identity or f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def election(args: argparse.Namespace, client: kubernetes.client.ApiClient, runtime: Runtime) -> LeaderElection | None:
    """The leader election (None with --no-leader-elect); a leader that stops finishes its reconciles in time
    for a standby to take over."""
    if not args.leader_elect:
        return None
    from .leadership import LeaderElection
    timing = Timing(args.lease_duration, args.lease_renew_deadline, args.lease_retry_period)
    runtime.stop_grace = min(runtime.stop_grace, handover_margin(timing))
    return LeaderElection(client, args.namespace, args.lease_name, identity(args), timing,
                          on_started=runtime.start, on_stopped=runtime.stop)


def certificates(args: argparse.Namespace, client: kubernetes.client.ApiClient) -> WebhookCertificates | None:
    """The self-kept serving certificate (--webhook-secret), unless one is given (--webhook-cert/--webhook-key)."""
    if (args.webhook_cert and args.webhook_key) or not args.webhook_secret:
        return None
    from .certificates import WebhookCertificates, service_hosts
    hosts = (service_hosts(args.webhook_service, args.namespace) if args.webhook_service else []) + args.webhook_host
    if not hosts:
        raise UsageError("--webhook-secret needs --webhook-service or --webhook-host: whom is the certificate for?")
    folder = Path(args.cert_dir or tempfile.mkdtemp(prefix="gatepass-webhook-"))
    return WebhookCertificates(client, args.namespace, args.webhook_secret, hosts, folder,
                               configuration=args.webhook_configuration)


def slack_buttons(config: NotifyConfig | None, runtime: Runtime) -> list[tuple[str, endpoints.Handler]]:
    """POST /slack/actions, when a Slack receiver has a signing secret (the buttons are off otherwise)."""
    receivers = [r for r in (config.slack_receivers() if config else ()) if r.signing_secret]
    if not receivers:
        return []
    from gatepass.notify.slack_actions import PATH as SLACK_ACTIONS_PATH
    from gatepass.notify.slack_actions import SlackActions
    return [(SLACK_ACTIONS_PATH, SlackActions(receivers, runtime.kube, runtime.cluster().get_policy).handle)]


# ------------------------------------------------------------------ the process
@dataclass
class Operator:
    """The wired parts of one operator process, and what it runs."""

    args: argparse.Namespace
    client: kubernetes.client.ApiClient
    runtime: Runtime
    election: LeaderElection | None = None
    certificates: WebhookCertificates | None = None
    notifications: NotifyConfig | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    stop_flag: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: dict[str, asyncio.Task] = field(default_factory=dict)  # background work that must not end
    prepared: asyncio.Future | None = None  # the CEL parser, built in a thread after the start-up

    @classmethod
    def create(cls, args: argparse.Namespace) -> "Operator":
        """Reads the flags and wires the parts; raises UsageError for a flag it cannot start with."""
        from gatepass.kube.connection import ConfigError as KubeConfigError

        from .connection import api_client
        from .leadership import LEADER
        from .runtime import Runtime

        LEADER.set(0)  # gatepass_leader is served from the start, elected or not
        kept, config = retention(args), notifications(args)
        try:
            client = api_client(args.kubeconfig, args.context, args.workers)
        except KubeConfigError as error:
            raise UsageError(f"cannot connect: {error}") from None
        runtime = Runtime.create(client, workers=args.workers, retention=kept, notifications=config,
                                 credentials_namespace=args.credentials_namespace)
        return cls(args, client, runtime, election=election(args, client, runtime),
                   certificates=certificates(args, client), notifications=config)

    def registry(self) -> kopf.OperatorRegistry:
        """Every handler kopf runs: the process's own, the controller's watches and the admission webhooks."""
        import kopf

        from gatepass.controller.metrics import ERRORS
        from gatepass.webhooks import registration

        registry = kopf.OperatorRegistry()
        kopf.on.login(registry=registry)(self.login)
        kopf.on.startup(registry=registry)(self.configure)
        kopf.on.cleanup(registry=registry)(self.cleanup)
        self.runtime.register(registry)
        registration.register(registry, self.runtime.cluster(), on_error=ERRORS.labels("admission").inc)
        return registry

    async def run(self) -> None:
        """Serves the endpoints and runs kopf until SIGTERM or SIGINT (or a renewed certificate), then stops
        the background work: the election steps down and hands the lease back."""
        import kopf

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_flag.set)
        server = await self.serve() if self.args.http_port else None
        try:
            await kopf.operator(registry=self.registry(), clusterwide=True, standalone=True,
                                stop_flag=self.stop_flag)
        finally:
            for task in self.tasks.values():
                task.cancel()
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
            if server is not None:
                await server.cleanup()

    # ------------------------------------------------------------ kopf's handlers
    def login(self, **_) -> kopf.ConnectionInfo:
        from .connection import connection_info
        return connection_info(self.client)

    async def configure(self, settings: kopf.OperatorSettings, **_) -> None:
        """At kopf's start-up: the settings, the webhook server and its certificate, then the work
        (at once, or when this replica becomes the leader)."""
        settings.posting.enabled = False  # Gatepass posts its own audit Events
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 60
        settings.admission.server = await self.webhook_server()
        settings.admission.managed = None  # the configurations ship with the manifests, failing closed
        if self.election is None:
            await self.runtime.start()
            from .leadership import LEADER
            LEADER.set(1)  # it reconciles: what gatepass_leader says, and the alert on no leader reads
        else:
            self.tasks["leadership"] = asyncio.create_task(self.election.run(), name="gatepass-leadership")
        self.started.set()
        from gatepass.rules.expressions import prepare
        self.prepared = asyncio.get_running_loop().run_in_executor(None, prepare)  # the CEL parser, meanwhile

    async def cleanup(self, **_) -> None:
        await self.runtime.stop()

    async def webhook_server(self) -> WebhookServer | None:
        """kopf's webhook server (refusing what is too deeply nested to read) with the given certificate,
        or with the self-kept one, made sure of and then kept up; None without either."""
        from gatepass.webhooks.guard import WebhookServer

        certfile, keyfile = self.args.webhook_cert, self.args.webhook_key
        if self.certificates is not None:
            certfile, keyfile = await self.certificates.ensure()
            await self.certificates.inject()
            self.tasks["certificates"] = asyncio.create_task(
                self.certificates.maintain(CERTIFICATE_CHECK_INTERVAL, on_renewed=self.stop_flag.set),
                name="gatepass-certificates")
        if not (certfile and keyfile):
            return None
        return WebhookServer(addr=self.args.webhook_addr, port=self.args.webhook_port, certfile=str(certfile),
                             pkeyfile=str(keyfile))

    # ------------------------------------------------------------ the HTTP endpoints
    async def serve(self):
        from . import endpoints
        return await endpoints.serve(self.args.http_addr, self.args.http_port, alive=self.alive, ready=self.ready,
                                     posts=slack_buttons(self.notifications, self.runtime))

    def alive(self) -> str | None:
        """None while the background work runs, else what stopped."""
        for name, task in self.tasks.items():
            if task.done():
                return f"{name} stopped"
        return None

    async def ready(self) -> str | None:
        """None once started and, if it serves webhooks, listening for them; else why not."""
        if not self.started.is_set():
            return "starting"
        if self.args.webhook_cert or self.certificates is not None:
            return await self.webhook_listening()
        return None

    async def webhook_listening(self) -> str | None:
        host = "127.0.0.1" if self.args.webhook_addr in ("0.0.0.0", "::") else self.args.webhook_addr
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, self.args.webhook_port), timeout=1)
        except (OSError, asyncio.TimeoutError):
            return "the webhook server is not listening yet"
        writer.close()
        return None


if __name__ == "__main__":
    sys.exit(main())
