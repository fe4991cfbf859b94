"""An asynchronous client of the API server's REST interface, on aiohttp, for a program's frequent calls.

The Kubernetes client is synchronous: every call made from an event loop runs in a thread, and the
loop is woken for each answer; its connection pool, once full, drops connections and opens new TLS
ones. This client sends the same requests from the loop itself over one pool of keep-alive
connections, with the server, CA, client certificate and credentials of the client's
``Configuration`` (kubeconfig or in-cluster, as gatepass.kube.connection builds it; a refreshed
in-cluster or exec token is asked for on each request, as the client does). Bodies are JSON,
encoded and decoded once, by pydantic-core's JSON (several times quicker than the standard library's).

An answer other than 2xx raises the Kubernetes client's ``ApiException`` with the same status,
reason, body (text) and headers, so callers catch and read it as they would the client's.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
from kubernetes.client import ApiException
from pydantic_core import from_json, to_json

if TYPE_CHECKING:
    import kubernetes

__all__ = ["ApiHttp", "path_of", "ssl_context"]

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
_RETRIED = (aiohttp.ServerDisconnectedError, aiohttp.ClientConnectionResetError)
MAX_RETRIES = 10  # answers with a Retry-After waited out, as client-go waits them out
MAX_WAIT = 10.0  # seconds, at most, of one Retry-After


def retry_after(status: int, header: str | None, method: str) -> float | None:
    """How long to wait before asking again, when the API server said so (client-go's rule): a 429 (not
    processed, whatever the verb) or, for a read, a 5xx, with a Retry-After of whole seconds; else None."""
    if not (status == 429 or (status >= 500 and method in ("GET", "HEAD"))):
        return None
    value = (header or "").strip()
    return min(float(value), MAX_WAIT) if value.isdigit() else None


def path_of(*parts: str) -> str:
    """``/`` and each part, quoted (a name may hold any character a path does not)."""
    return "/" + "/".join(quote(part, safe="") for part in parts)


def ssl_context(config: "kubernetes.client.Configuration") -> ssl.SSLContext | bool:
    """The TLS the Kubernetes client would use for ``config``: its CA (or the system's), its client
    certificate, host name checking (``tls_server_name`` or ``assert_hostname`` when set); False when
    ``verify_ssl`` is off."""
    if not (config.host or "").startswith("https"):
        return False
    context = ssl.create_default_context(cafile=config.ssl_ca_cert or None)
    if config.cert_file:
        context.load_cert_chain(config.cert_file, config.key_file or None)
    if not config.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif config.assert_hostname is False:
        context.check_hostname = False
    return context


class ApiHttp:
    """Requests to the API server of ``config`` over at most ``connections`` keep-alive connections.

    The session is made on the first request, in the running loop; ``close`` ends it.
    """

    def __init__(self, config: "kubernetes.client.Configuration", *, connections: int = 16,
                 read_timeout: float = 300.0, user_agent: str = "gatepass") -> None:
        self.config, self.user_agent = config, user_agent
        self.base = (config.host or "").rstrip("/")
        self.connections = connections
        # No bound on a whole answer (a start-up list of every request may be long), only on silence.
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=15.0, sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closer: asyncio.Task | None = None
        self._ssl = ssl_context(config)
        # The SNI name and the name checked, when the configuration names one other than the host's.
        self._server_name = getattr(config, "tls_server_name", None) or (
            config.assert_hostname if isinstance(config.assert_hostname, str) else None)

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": JSON, "User-Agent": self.user_agent}
        if content_type:
            headers["Content-Type"] = content_type
        for setting in self.config.auth_settings().values():  # refreshes an expiring token first
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        return headers

    def session(self) -> aiohttp.ClientSession:
        """The session of the running loop: made on first use, closed when the loop ends (its tasks are
        cancelled, as ``asyncio.run`` does) if ``close`` was not called first."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(limit=self.connections, ssl=self._ssl, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout,
                                                  skip_auto_headers=("User-Agent",),
                                                  cookie_jar=aiohttp.DummyCookieJar())  # the API sets none
            self._loop = loop
            self._closer = loop.create_task(_close_at_end(self._session), name="gatepass-api-session")
        return self._session

    async def request(self, method: str, path: str, body: Any = None, *, content_type: str | None = None,
                      query: Mapping[str, str] | None = None) -> Any:
        """The decoded JSON answer to ``method path`` (None for an empty one); raises ApiException for a
        status other than 2xx. A request other than a create whose connection the server closed (one kept
        idle too long) is sent once more on a new one; an answer saying when to ask again (``retry_after``) is waited out, up to MAX_RETRIES times."""
        data = None if body is None else to_json(body)
        headers = self._headers(content_type or (JSON if data is not None else None))
        options: dict[str, Any] = {}
        if self._server_name:
            options["server_hostname"] = self._server_name
        if self.config.proxy:
            options["proxy"] = self.config.proxy
        waits, reconnected = 0, method == "POST"  # a create the server may have made is not sent again
        while True:
            try:
                async with self.session().request(method, self.base + path, data=data, headers=headers,
                                                  params=query, **options) as response:
                    raw = await response.read()
                    status, reason, answered = response.status, response.reason, response.headers
            except _RETRIED:
                if reconnected:
                    raise
                reconnected = True
                continue
            wait = retry_after(status, answered.get("Retry-After"), method)
            if wait is None or waits >= MAX_RETRIES:
                break
            waits += 1
            await asyncio.sleep(wait)
            headers = self._headers(content_type or (JSON if data is not None else None))
        if not 200 <= status < 300:
            error = ApiException(status=status, reason=reason)
            error.body, error.headers = raw.decode(errors="replace"), answered
            raise error
        return from_json(raw) if raw else None

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            if self._closer is not None and self._closer.get_loop() is asyncio.get_running_loop():
                self._closer.cancel()  # it closes the session
                await asyncio.gather(self._closer, return_exceptions=True)
            await session.close()


async def _close_at_end(session: aiohttp.ClientSession) -> None:
    """Waits until cancelled, then closes ``session``."""
    try:
        await asyncio.get_running_loop().create_future()
    finally:
        await session.close()
