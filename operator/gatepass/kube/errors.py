"""The API server's answers, as the one line a person reads.

kubectl prints an admission refusal as ``admission webhook "NAME" denied the
request: LINE``; the webhook's name says nothing to the user, so every program
shows LINE only.
"""

from __future__ import annotations

import json
import re

_WEBHOOK_PREFIX = re.compile(r'^.*?admission webhook "[^"]*" denied the request:\s*', re.S)


def refusal_line(message: str) -> str:
    """``message`` on one line, without the admission webhook's prefix."""
    return _WEBHOOK_PREFIX.sub("", " ".join(str(message or "").split()), count=1)


def status_message(body: object, fallback: str = "") -> str:
    """The ``message`` of a Kubernetes Status body (bytes, text or already parsed), as ``refusal_line`` gives
    it; ``fallback`` when the body has none."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode(errors="replace")
    parsed = body
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
    message = str(parsed.get("message") or "") if isinstance(parsed, dict) else ""
    if not message:
        message = (body.strip() if isinstance(body, str) else "") or fallback
    return refusal_line(message)


class ApiException(Exception):
    """An answer of the API server other than 2xx, as the operator's client (gatepass.kube.http) raises it.

    It has what callers read of the Kubernetes client's exception of that name, with the same meaning:
    ``status`` (the HTTP status), ``reason`` (its phrase), ``body`` (the answer, as text: usually a Status),
    ``headers``, and ``data`` (None); the operator never imports that client to catch its errors.
    """

    def __init__(self, status: int | None = None, reason: str | None = None, *, body: str | None = None,
                 headers: object = None) -> None:
        super().__init__(status, reason)
        self.status, self.reason, self.body, self.headers = status, reason, body, headers
        self.data = None

    def __str__(self) -> str:
        text = f"({self.status})\nReason: {self.reason}\n"
        if self.headers:
            text += f"HTTP response headers: {self.headers}\n"
        if self.body:
            text += f"HTTP response body: {self.body}\n"
        return text
