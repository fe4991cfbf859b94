"""The operator's command line: ``gatepass-operator --help``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from gatepass.core.credentials import DEFAULT_CREDENTIALS_NAMESPACE

from .logs import FORMATS as LOG_FORMATS
from .logs import LEVELS as LOG_LEVELS


class _HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Says each flag's default in --help, except where there is none (None, off, an empty list)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gatepass-operator", description="Run the Gatepass operator.",
                                     formatter_class=_HelpWithDefaults)
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context to use")
    parser.add_argument("--webhook-addr", default="0.0.0.0", help="address the admission webhook listens on")
    parser.add_argument("--webhook-port", type=int, default=9443, help="port the admission webhook listens on")
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
                        help="the operator's namespace: its Lease and certificate Secret live there ($POD_NAMESPACE, "
                             "else the ServiceAccount's, else gatepass-system)")
    parser.add_argument("--credentials-namespace", default=DEFAULT_CREDENTIALS_NAMESPACE,
                        help="where token-mode grants get their ServiceAccount and the Secret of its token "
                             f"(default {DEFAULT_CREDENTIALS_NAMESPACE}; see docs/credentials.md)")
    parser.add_argument("--leader-elect", action=argparse.BooleanOptionalAction, default=True,
                        help="run the reconciler only while holding the Lease (for several replicas)")
    parser.add_argument("--leader-identity", help="this replica's name in the Lease (default: host name + random)")
    parser.add_argument("--lease-name", default="gatepass-operator",
                        help="the Lease in --namespace that elects the replica that reconciles")
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
                             "AccessPolicies' spec.notify routes name (YAML; see docs/notifications.md)")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default="text",
                        help="text: one line per record for people (\"<time> <level> <logger>: <message>\"); "
                             "json: one JSON object per record, with time, level, logger and message. In both, "
                             "an audit record is its bare JSON object on its own line, with level and logger")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info",
                        help="the least severe records logged; the HTTP access log only at debug")
    parser.add_argument("--verbose", action="store_true",
                        help="log at debug level (--log-level=debug, which it overrides)")
    args = parser.parse_args(argv)
    if args.verbose:
        args.log_level = "debug"
    return args


def default_namespace() -> str:
    """$POD_NAMESPACE, else the namespace of the mounted ServiceAccount, else gatepass-system."""
    mounted = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        return mounted.read_text().strip() or "gatepass-system"
    except OSError:
        return "gatepass-system"
