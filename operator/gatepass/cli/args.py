"""The command line of `kubectl access`: verbs and flags, modelled on `tsh request`.

``--kubeconfig``, ``--context`` and ``-o`` work anywhere on the line, as in kubectl.
Nothing here talks to the cluster; ``main`` does that after parsing. This module
imports only argparse and two small core modules, so that ``--help`` starts fast.
"""

from __future__ import annotations

import argparse

from gatepass.core import durations
from gatepass.core.durations import format_duration
from gatepass.core.timestamps import format_time, parse_time
from gatepass.core.types import DEFAULT_DURATION

PROG = "kubectl access"
#: What -o takes, as kubectl's get: a table, a wider table, kind/name lines, or the objects.
FORMATS = ("table", "wide", "name", "json", "yaml")
#: The verbs that print requests, and so take -o.
PRINTING = {("request", "ls"), ("request", "show")}
#: The request flags that only go with --resource.
RESOURCE_FLAGS = (("verbs", "--verbs"), ("namespace", "-n/--namespace"), ("subresource", "--subresource"))

VERBS = """\
verbs:
  request create   ask for roles:        kubectl access request create --roles=dba --namespaces=payments \\
                                             --reviewers=alice,ivan --reason="ticket #123" [--duration=1h] [--nowait]
                   or for resources:     kubectl access request create --resource pods/db-1 --verbs get,logs \\
                                             -n payments --reason="ticket #123"
  request search   what you may ask for: kubectl access request search [--kind pods] [-n payments] [NAME-PATTERN]
  request ls       list requests:        kubectl access request ls [--mine] [--reviewable] [-o wide|name|json|yaml]
  request show     one request:          kubectl access request show NAME [-o wide|name|json|yaml]
  request drop     cancel or end early:  kubectl access request drop NAME [--reason=...]
  review           approve or deny:      kubectl access review --approve|--deny [--reason=...] NAME
  exec             run a command, and ask for exactly what it lacks if it is refused (or --whole-role):
                                         kubectl access exec [--reason=...] -- kubectl logs db-1 -n payments
  ui               the Web UI, as you, in your browser:
                                         kubectl access ui [--port=N] [--no-browser]
  login            a grant's own credential (policies with credentials: certificate or token), and a
                   context <user>@<request> that uses it:
                                         kubectl access login bob-dba-7xk2q [--timeout=1m]
  credential       what that context runs (an exec credential plugin; kubectl runs it, not you)

Every verb takes kubectl's --kubeconfig and --context, before or after the verb. Exit codes: 0 done,
1 error, 2 bad command line, 3 the request was denied, expired or revoked, 130 interrupted; exec leaves
with the command's own code (126 not executable, 127 not found).
"""


def _connection(*, output: bool = False) -> argparse.ArgumentParser:
    """--kubeconfig and --context (and -o where given); SUPPRESS keeps a verb's parser from resetting values
    given earlier on the line."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("cluster")
    group.add_argument("--kubeconfig", default=argparse.SUPPRESS, metavar="PATH",
                       help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    group.add_argument("--context", default=argparse.SUPPRESS, metavar="NAME",
                       help="kubeconfig context to use (default: the current context)")
    if output:
        _output(parser)
    return parser


def _output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", choices=FORMATS, default=argparse.SUPPRESS, metavar="FORMAT",
                        help="table (default), wide (more columns), name (accessrequest.gatepass.dev/NAME), "
                        "or the objects as json or yaml")


def _list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _nonempty_list(text: str) -> list[str]:
    items = _list(text)
    if not items:
        raise argparse.ArgumentTypeError("name at least one")
    return items


def _duration(text: str) -> str:
    """A positive Go duration in its short form ("90m" -> "1h30m"); a usage error otherwise."""
    try:
        return format_duration(durations.checked_duration(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _time(text: str) -> str:
    try:
        return format_time(parse_time(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f'invalid time "{text}": use RFC 3339, e.g. 2026-01-02T15:04:05Z') \
            from None


def _request_flags(parser: argparse.ArgumentParser, *, roles: bool) -> None:
    if roles:
        parser.add_argument("--roles", type=_nonempty_list, default=[], metavar="ROLE[,ROLE]",
                            help="roles to ask for, as AccessPolicies name them")
        parser.add_argument("--namespaces", type=_list, default=[], metavar="NS[,NS]",
                            help="namespaces to bind the roles in (none: cluster-wide)")
        _resource_flags(parser.add_argument_group("resources (instead of, or as well as, roles)"))
    parser.add_argument("--reason", help="why the access is needed (e.g. a ticket)")
    parser.add_argument("--duration", metavar="DURATION", type=_duration,
                        help='how long the access lasts once granted, e.g. "30m", "1h30m" '
                        f"(default {format_duration(DEFAULT_DURATION)})")
    parser.add_argument("--reviewers", type=_list, default=[], metavar="USER[,USER]",
                        help="suggested reviewers (who may review is up to the policy)")


def _resource_flags(group) -> None:
    group.add_argument("--resource", action="append", default=[], metavar="TYPE[.GROUP][/NAME]",
                       help="a resource to ask for, as kubectl names it (pods/db-1, deployments.apps/web, "
                       "secrets: any name); repeatable")
    group.add_argument("--verbs", type=_nonempty_list, default=[], metavar="VERB[,VERB]",
                       help="what to do with them: RBAC verbs (get, list, watch, create, update, patch, delete), "
                       "and for pods logs, exec, attach, port-forward")
    group.add_argument("-n", "--namespace", default="", metavar="NS",
                       help="the resources' namespace (none: cluster-scoped resources)")
    group.add_argument("--subresource", default="", metavar="SUB",
                       help="a subresource of them instead (e.g. status, scale)")


def build_parser() -> argparse.ArgumentParser:
    connection = _connection()
    printing = _connection(output=True)  # -o before the verb, or between "request" and its action
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[printing],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Ask for just-in-time access to Kubernetes roles, review requests, "
        "and run commands that ask for the access they lack.",
        epilog=VERBS,
    )
    verbs = parser.add_subparsers(dest="verb", metavar="{request,review,exec,ui,login}", required=True)

    request = verbs.add_parser("request", parents=[printing], help="create, list, show or drop access requests",
                               description="Create, list, show or drop AccessRequests.")
    actions = request.add_subparsers(dest="action", metavar="{create,ls,show,drop,search}", required=True)

    create = actions.add_parser("create", parents=[connection], help="ask for roles or resources",
                                description="Create an AccessRequest for roles (--roles), resources "
                                "(--resource and --verbs) or both, print its name, and wait until it is "
                                "approved (exit 0) or denied, expired or revoked (exit 3).")
    _request_flags(create, roles=True)
    create.add_argument("--start", metavar="RFC3339", type=_time, help="access starts no earlier than this time")
    create.add_argument("--name", help="name of the request (default: generated from your name and the role)")
    create.add_argument("--nowait", action="store_true", help="print the name and return without waiting")

    ls = actions.add_parser("ls", aliases=["list"], parents=[connection], help="list access requests",
                            description="List AccessRequests, oldest first.")
    mine = ls.add_mutually_exclusive_group()
    mine.add_argument("--mine", action="store_true", help="only your own requests")
    mine.add_argument("--reviewable", action="store_true", help="only pending requests you may review")
    _output(ls)

    show = actions.add_parser("show", parents=[connection], help="show one access request",
                              description="Show an AccessRequest: who, what, why, until when, and its reviews.")
    show.add_argument("name", metavar="NAME", help="the AccessRequest to show")
    _output(show)

    drop = actions.add_parser("drop", parents=[connection], help="cancel a pending request or end access early",
                              description="Revoke your AccessRequest with the gatepass.dev/revoke annotation: "
                              "a pending request is cancelled, a granted one ends now.")
    drop.add_argument("name", metavar="NAME", help="the AccessRequest to drop")
    drop.add_argument("--reason", default="", help="why (recorded with the revocation)")

    search = actions.add_parser("search", parents=[connection], help="list the resources you may ask for",
                                description="List the resources your AccessPolicies would let you request, and "
                                "the verbs: names where you may list them (as yourself), else what you could ask "
                                "for (e.g. pods/log, any name, in payments).")
    search.add_argument("--kind", default="", metavar="TYPE[.GROUP][/SUB]",
                        help="only this resource type (e.g. pods, pods/log, deployments.apps)")
    search.add_argument("-n", "--namespace", default="", metavar="NS", help="only this namespace")
    search.add_argument("pattern", nargs="?", default="", metavar="NAME-PATTERN",
                        help="only names matching this (a glob such as db-*, or a part of the name)")

    review = verbs.add_parser("review", parents=[connection], help="approve or deny a request",
                              description="Approve or deny an AccessRequest by creating an AccessReview; "
                              "the API server records you as the reviewer.")
    decision = review.add_mutually_exclusive_group(required=True)
    decision.add_argument("--approve", action="store_const", dest="decision", const="Approve",
                          help="approve the request (it is granted once the policy's approvals are in)")
    decision.add_argument("--deny", action="store_const", dest="decision", const="Deny",
                          help="deny the request (it is denied once the policy's denials are in)")
    review.add_argument("--reason", default="", help="why you decided so")
    review.add_argument("name", metavar="NAME", help="the AccessRequest to review (see request ls --reviewable)")

    run = verbs.add_parser("exec", parents=[connection],
                           help="run a command; if it is refused, ask for what it lacks and run it again",
                           description="Run COMMAND. If the API server refuses it (Forbidden), ask for exactly "
                           "what was refused (the verb, resource, subresource, name and namespace) where an "
                           "AccessPolicy's resource bound allows it, or else for a role an AccessPolicy offers "
                           "you that allows it; wait until it is granted, and run COMMAND again. Exits with "
                           "COMMAND's exit code.",
                           usage="%(prog)s [--whole-role | --role ROLE] [--reason REASON] [--duration DURATION] "
                           "[--reviewers USER,...] -- COMMAND [ARG...]")
    whole = run.add_mutually_exclusive_group()
    whole.add_argument("--whole-role", action="store_true",
                       help="ask for a whole role that allows it, not just the refused resources")
    whole.add_argument("--role", help="the role to ask for, instead of working it out from the policies")
    _request_flags(run, roles=False)
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND",
                     help="the command to run, after --")

    _credentials(verbs, connection)
    _ui(verbs.add_parser("ui", parents=[connection], help="serve the Web UI, as you, in your browser",
                         description="Serve the Web UI on 127.0.0.1 as your kubeconfig's user, print the "
                         "one-time link that signs a browser in, and open it. Runs until Ctrl-C. With "
                         "--in-cluster, serve every user an authenticating proxy forwards with their own "
                         "bearer token (Authorization: Bearer), with no credentials of its own."))
    return parser


def _timeout(text: str) -> float:
    """Seconds of a positive Go duration ("1m" -> 60.0); a usage error otherwise."""
    try:
        return durations.checked_duration(text).total_seconds()
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _credentials(verbs: argparse._SubParsersAction, connection: argparse.ArgumentParser) -> None:
    """login, and credential (the exec plugin login's context runs; hidden from the verbs' list)."""
    timeout = {"type": _timeout, "default": 60.0, "metavar": "DURATION",
               "help": "how long to wait for the certificate to be approved and signed (default 1m)"}
    login = verbs.add_parser("login", parents=[connection], help="get a grant's own credential and a context for it",
                             description="For a request granted under a policy with credentials: certificate, "
                             "make a private key here (it never leaves this machine), file a "
                             "CertificateSigningRequest as you, wait until it is approved and signed, and write "
                             "the kubeconfig context <user>@<request>, which renews the certificate by itself "
                             "while the grant lasts. With credentials: token, the context uses the grant's "
                             "ServiceAccount token. Prints the context's name.")
    login.add_argument("name", metavar="REQUEST", help="the granted AccessRequest")
    login.add_argument("--timeout", **timeout)
    credential = verbs.add_parser("credential", parents=[connection],
                                  description="Print the ExecCredential of a grant's context for kubectl: the kept "
                                  "certificate while it is valid, else a fresh one (or the grant's token). The "
                                  "context written by login runs this; --kubeconfig and --context name your own.")
    credential.add_argument("name", metavar="REQUEST", help="the granted AccessRequest")
    credential.add_argument("--timeout", **timeout)


def _ui(ui: argparse.ArgumentParser) -> None:
    ui.add_argument("--port", type=_port, default=None, metavar="N",
                    help="port to listen on (default: any free port; 8080 with --in-cluster)")
    ui.add_argument("--no-browser", dest="browser", action="store_false",
                    help="print the link only; do not open a browser")
    cluster = ui.add_argument_group("in a cluster, behind an authenticating proxy")
    cluster.add_argument("--in-cluster", action="store_true",
                         help="serve every user by the bearer token the proxy forwards (no kubeconfig)")
    cluster.add_argument("--address", default=None, metavar="ADDRESS",
                         help="address to listen on (default 0.0.0.0; only with --in-cluster)")
    cluster.add_argument("--allowed-host", action="append", default=[], metavar="HOST[:PORT]",
                         help="a Host the UI answers to, as the browser sends it (repeatable; pages are "
                         "served to https://HOST); required with --in-cluster")
    cluster.add_argument("--ca-file", default="/etc/gatepass-ui/ca.crt", metavar="PATH",
                         help="the API server's CA (default /etc/gatepass-ui/ca.crt, from kube-root-ca.crt)")
    cluster.add_argument("--server", default="", metavar="URL",
                         help="the API server (default https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'invalid port "{text}"') from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {port}: use 0 (any free port) to 65535")
    return port


def _check_ui(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Local and in-cluster flags do not mix; in a cluster the UI must know which Host names are its own."""
    if args.in_cluster:
        if args.kubeconfig or args.context:
            parser.error("--in-cluster uses no kubeconfig: drop --kubeconfig and --context")
        if not args.allowed_host:
            parser.error("--in-cluster needs --allowed-host (the host name the browser uses for the UI)")
        args.address = args.address or "0.0.0.0"
        args.port = 8080 if args.port is None else args.port
    else:
        for flag, value in (("--address", args.address), ("--allowed-host", args.allowed_host),
                            ("--server", args.server)):
            if value:
                parser.error(f"{flag} applies to --in-cluster only (kubectl access ui serves on 127.0.0.1)")
        args.address = "127.0.0.1"
        args.port = 0 if args.port is None else args.port


def parse(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb == "exec":
        command = list(args.command)
        if command[:1] == ["--"]:
            command = command[1:]
        args.command = command
    if args.verb == "request" and args.action == "list":
        args.action = "ls"
    args.kubeconfig = getattr(args, "kubeconfig", None)
    args.context = getattr(args, "context", None)
    if (args.verb, getattr(args, "action", None)) in PRINTING:
        args.output = getattr(args, "output", "table")
    elif hasattr(args, "output"):
        parser.error("-o/--output applies to request ls and request show only")
    if args.verb == "ui":
        _check_ui(parser, args)
    if (args.verb, getattr(args, "action", None)) == ("request", "create"):
        _check_create(parser, args)
    return args


def _check_create(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Roles, resources or both; the resource flags only with --resource."""
    if not args.roles and not args.resource:
        parser.error("name what to ask for: --roles, or --resource with --verbs (or both)")
    if args.resource and not args.verbs:
        parser.error("--resource needs --verbs (e.g. --verbs get,list)")
    if not args.resource:
        for name, flag in RESOURCE_FLAGS:
            if getattr(args, name):
                parser.error(f"{flag} applies to --resource only (--namespaces says where roles are bound)")
    if args.namespaces and not args.roles:
        parser.error("--namespaces applies to --roles only (-n gives the resources' namespace)")
