"""``gatepass-reviewer MODULE:FUNCTION`` (or ``python -m gatepass.reviewers``): run a reviewer function."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from gatepass.core.durations import parse_duration

from .kube import ReviewerError
from .loading import LoadError, load_reviewer
from .runner import run

USAGE_EXAMPLE = """examples:
  gatepass-reviewer examples/reviewers/tickets.py:review --context review-bot
  gatepass-reviewer mybots.oncall:review            # in a pod: as its ServiceAccount
"""


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text).total_seconds()
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if seconds < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is shorter than a second")
    return seconds


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="gatepass-reviewer",
        description="Run a Python function as a Gatepass reviewer, with its own Kubernetes identity. "
        "It reviews each Pending AccessRequest once; the governing AccessPolicy decides whether its "
        "review counts.",
        epilog=USAGE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("reviewer", metavar="MODULE:FUNCTION",
                        help="the function: an importable module (pkg.mod:review) or a file (path/bot.py:review)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config; "
                        "in a pod without either, its ServiceAccount)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument("--recheck", metavar="DURATION", type=_duration,
                        help='ask again about Pending requests it abstained on this often ("5m"); '
                             "default: once per run")
    parser.add_argument("--log-level", default=os.environ.get("GATEPASS_LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default INFO")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    try:
        review = load_reviewer(args.reviewer)
        run(review, kubeconfig=args.kubeconfig, context=args.context, recheck=args.recheck)
    except (LoadError, ReviewerError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
