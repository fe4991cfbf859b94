"""Entry point of the `kubectl-access` executable (``kubectl access ...``).

Parses the command line, connects as the user, runs the verb, and turns every
user-facing failure into ``error: <one line>`` on stderr and a non-zero exit
code (see ``errors``). Programming errors still show a traceback.

Start-up is part of every command's time: the command line is parsed before
anything else is imported, so ``--help`` and usage errors load no client, no
schema models and no YAML; the verbs' modules load after. Only ``ui`` loads the
Web UI (``gatepass.cli.ui``, with aiohttp and jinja2).
"""

from __future__ import annotations

import sys

from . import args as cli_args
from .errors import INTERRUPTED, CliError

#: (verb, action) -> (module, function) of the command that runs it.
VERBS = {
    ("request", "create"): ("commands", "create"),
    ("request", "ls"): ("commands", "ls"),
    ("request", "show"): ("commands", "show"),
    ("request", "drop"): ("commands", "drop"),
    ("request", "search"): ("search", "search"),
    ("review", None): ("commands", "review"),
    ("exec", None): ("justintime", "execute"),
    ("login", None): ("login", "login"),
}


def run(argv: list[str]) -> int:
    args = cli_args.parse(argv)
    from importlib import import_module

    if args.verb == "ui":  # the Web UI connects itself (as the kubeconfig's user, or as each proxied user)
        return import_module(f"{__package__}.ui.command").run(args)
    if args.verb == "credential":  # connects only when the kept certificate will not do
        return import_module(f"{__package__}.login").credential(args)
    from . import commands
    from .kube import Kube

    module, function = VERBS[(args.verb, getattr(args, "action", None))]
    verb = getattr(import_module(f"{__package__}.{module}"), function)
    kube = Kube.connect(args.kubeconfig, args.context)
    return verb(commands.Context(kube, args))


def main(argv: list[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except CliError as error:
        if error.code != INTERRUPTED:
            sys.stderr.write(f"error: {error.message}\n")
        return error.code
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`kubectl access request ls | head`); say nothing more.
        sys.stderr.close()
        return 1


if __name__ == "__main__":
    sys.exit(main())
