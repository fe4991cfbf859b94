"""What goes wrong, as one line for the user, and the exit codes scripts can rely on.

Every failure a user can cause (an unknown request, a refusal, a bad flag, an
unreachable cluster) becomes a ``CliError`` that ``main`` prints as
``error: <message>`` on stderr; nothing else reaches the user as a traceback.
"""

from __future__ import annotations

from gatepass.kube.errors import status_message

__all__ = ["FAILED", "INTERRUPTED", "NOT_EXECUTABLE", "NOT_FOUND", "NOT_GRANTED", "OK", "USAGE", "CliError", "api_error", "status_message"]

#: The command worked (the request was created, approved, the review recorded).
OK = 0
#: Something went wrong: the one line on stderr says what.
FAILED = 1
#: The command line itself was wrong (argparse's own code).
USAGE = 2
#: The request ended without access: denied, expired or revoked.
NOT_GRANTED = 3
#: ``exec``: the command exists but cannot be run (as a shell says it).
NOT_EXECUTABLE = 126
#: ``exec``: there is no such command (as a shell says it).
NOT_FOUND = 127
#: Interrupted with Ctrl-C; the request, if any, stays as it is.
INTERRUPTED = 130


class CliError(Exception):
    """A failure to report as one line, with the exit code to leave with."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.message = " ".join(str(message).split())
        self.code = code


def api_error(status: int | None, body: object, reason: str = "", *, not_found: str = "") -> CliError:
    """A CliError for an API response that was not a success."""
    if status == 404 and not_found:
        return CliError(not_found)
    if status == 401:
        return CliError("the cluster did not accept your credentials (401 Unauthorized); log in again")
    message = status_message(body, fallback=reason or f"the API server answered {status}")
    return CliError(message)
