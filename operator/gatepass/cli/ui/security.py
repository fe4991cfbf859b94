"""The checks every request passes before a page handler runs, and the headers every response carries.

Pure checks on header values (no aiohttp request in, no I/O): the Host allow-list against DNS rebinding,
the Origin of a state-changing request (a SameSite cookie is not enough on localhost, where every port is
the same site), the CSRF token compared in constant time, and the response headers (CSP, no framing, no
caching, no sniffing, no referrer; never a CORS header). ``server`` applies them in its middleware.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, MutableMapping

__all__ = ["CSP", "HEADERS", "SAFE_METHODS", "csrf_for_token", "secret_matches", "host_allowed", "origin_allowed",
           "secure_headers", "token_digest"]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")

#: On every response: pages, redirects, errors, static files and the event stream.
HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # Not "no-referrer": under it a browser sends `Origin: null` with every form POST, even from the UI's own
    # pages, and the Origin check refuses them all. "same-origin" keeps the Origin of our own pages and sends
    # neither a referrer nor an origin anywhere else.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Server": "gatepass",
}

#: Methods that change nothing, so need no Origin and no CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD"})


def host_allowed(values: list[str], allowed: Iterable[str]) -> bool:
    """Whether the request names exactly one Host, and it is one of ``allowed`` (case aside, nothing else:
    no trailing dot, no other port, no other spelling of the address)."""
    if len(values) != 1:
        return False
    return values[0].lower() in {host.lower() for host in allowed}


def origin_allowed(values: list[str], allowed: Iterable[str]) -> bool:
    """Whether the request names exactly one Origin, and it is one this server serves (``"null"``, another
    port, another scheme and a missing Origin are all refused)."""
    if len(values) != 1:
        return False
    return values[0].lower() in {origin.lower() for origin in allowed}


def secret_matches(sent: str | None, expected: str) -> bool:
    """Whether a secret sent (a CSRF or sign-in token) equals the expected one, compared in constant time."""
    if not sent or not expected:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


def token_digest(token: str) -> str:
    """What a bearer token is known by inside the server: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_for_token(secret: bytes, digest: str) -> str:
    """The CSRF token of a bearer token (by its digest): an HMAC with this process's secret, so that it is
    the same on every request with that bearer token and another for any other."""
    return hmac.new(secret, f"gatepass-ui csrf {digest}".encode(), hashlib.sha256).hexdigest()


def secure_headers(headers: MutableMapping[str, str]) -> None:
    """Put ``HEADERS`` on a response's headers, and take away any CORS header."""
    for name in {name.lower() for name in headers if name.lower().startswith("access-control-")}:
        while name in headers:
            del headers[name]
    headers.update(HEADERS)
