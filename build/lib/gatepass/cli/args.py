"""The command line of `kubectl access`: verbs and flags, modelled on `tsh request`.

``--kubeconfig`` and ``--context`` work anywhere on the line, as in kubectl.
Nothing here talks to the cluster; ``main`` does that after parsing.
"""

from __future__ import annotations

import argparse

from gatepass.core.durations import format_duration
from gatepass.core.types import DEFAULT_DURATION

from .output import FORMATS

PROG = "kubectl access"

VERBS = """\
verbs:
  request create   ask for roles:        kubectl access request create --roles=dba --namespaces=payments \\
                                             --reviewers=alice,ivan --reason="ticket #123" [--duration=1h] [--nowait]
  request ls       list requests:        kubectl access request ls [--mine] [--reviewable] [-o table|json|yaml]
  request show     one request:          kubectl access request show NAME [-o table|json|yaml]
  request drop     cancel or end early:  kubectl access request drop NAME [--reason=...]
  review           approve or deny:      kubectl access review --approve|--deny [--reason=...] NAME
  exec             run a command, and ask for the role it lacks if it is refused:
                                         kubectl access exec [--reason=...] -- kubectl get secrets -n payments

Every verb takes kubectl's --kubeconfig and --context. Exit codes: 0 done, 1 error,
2 bad command line, 3 the request was denied, expired or revoked, 130 interrupted.
"""


def _connection() -> argparse.ArgumentParser:
    """--kubeconfig and --context; SUPPRESS keeps a verb's parser from resetting values given earlier."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("cluster")
    group.add_argument("--kubeconfig", default=argparse.SUPPRESS, metavar="PATH",
                       help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    group.add_argument("--context", default=argparse.SUPPRESS, metavar="NAME",
                       help="kubeconfig context to use (default: the current context)")
    return parser


def _output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", choices=FORMATS, default="table",
                        help="table (default), or the objects as json or yaml")


def _list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _request_flags(parser: argparse.ArgumentParser, *, roles: bool) -> None:
    if roles:
        parser.add_argument("--roles", required=True, type=_list, metavar="ROLE[,ROLE]",
                            help="roles to ask for, as AccessPolicies name them")
        parser.add_argument("--namespaces", type=_list, default=[], metavar="NS[,NS]",
                            help="namespaces to bind the roles in (none: cluster-wide)")
    parser.add_argument("--reason", help="why the access is needed (e.g. a ticket)")
    parser.add_argument("--duration", metavar="DURATION",
                        help='how long the access lasts once granted, e.g. "30m", "1h30m" '
                        f"(default {format_duration(DEFAULT_DURATION)})")
    parser.add_argument("--reviewers", type=_list, default=[], metavar="USER[,USER]",
                        help="suggested reviewers (who may review is up to the policy)")


def build_parser() -> argparse.ArgumentParser:
    connection = _connection()
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[connection],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Ask for just-in-time access to Kubernetes roles, review requests, "
        "and run commands that ask for the access they lack.",
        epilog=VERBS,
    )
    verbs = parser.add_subparsers(dest="verb", metavar="{request,review,exec}", required=True)

    request = verbs.add_parser("request", parents=[connection], help="create, list, show or drop access requests",
                               description="Create, list, show or drop AccessRequests.")
    actions = request.add_subparsers(dest="action", metavar="{create,ls,show,drop}", required=True)

    create = actions.add_parser("create", parents=[connection], help="ask for roles",
                                description="Create an AccessRequest, print its name, and wait until it is "
                                "approved (exit 0) or denied, expired or revoked (exit 3).")
    _request_flags(create, roles=True)
    create.add_argument("--start", metavar="RFC3339", help="access starts no earlier than this time")
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
    show.add_argument("name", metavar="NAME")
    _output(show)

    drop = actions.add_parser("drop", parents=[connection], help="cancel a pending request or end access early",
                              description="Revoke your AccessRequest with the gatepass.dev/revoke annotation: "
                              "a pending request is cancelled, a granted one ends now.")
    drop.add_argument("name", metavar="NAME")
    drop.add_argument("--reason", default="", help="why (recorded with the revocation)")

    review = verbs.add_parser("review", parents=[connection], help="approve or deny a request",
                              description="Approve or deny an AccessRequest by creating an AccessReview; "
                              "the API server records you as the reviewer.")
    decision = review.add_mutually_exclusive_group(required=True)
    decision.add_argument("--approve", action="store_const", dest="decision", const="Approve")
    decision.add_argument("--deny", action="store_const", dest="decision", const="Deny")
    review.add_argument("--reason", default="", help="why you decided so")
    review.add_argument("name", metavar="NAME")

    run = verbs.add_parser("exec", parents=[connection],
                           help="run a command; if it is refused, ask for a role that allows it and run it again",
                           description="Run COMMAND. If the API server refuses it (Forbidden), find a role an "
                           "AccessPolicy offers you that allows what was refused, ask for it, wait until it is "
                           "granted, and run COMMAND again. Exits with COMMAND's exit code.",
                           usage="%(prog)s [--role ROLE] [--reason REASON] [--duration DURATION] "
                           "[--reviewers USER,...] -- COMMAND [ARG...]")
    run.add_argument("--role", help="the role to ask for, instead of working it out from the policies")
    _request_flags(run, roles=False)
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND",
                     help="the command to run, after --")
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    if args.verb == "exec":
        command = list(args.command)
        if command[:1] == ["--"]:
            command = command[1:]
        args.command = command
    if args.verb == "request" and args.action == "list":
        args.action = "ls"
    args.kubeconfig = getattr(args, "kubeconfig", None)
    args.context = getattr(args, "context", None)
    return args
