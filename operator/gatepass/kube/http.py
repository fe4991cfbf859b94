"""An asynchronous client of the API server's REST interface, on aiohttp: the operator's only API client.

The Kubernetes client is synchronous: every call made from an event loop runs in a thread, and the
loop is woken for each answer; its connection pool, once full, drops connections and opens new TLS
ones; importing it costs some 34 MiB. This client sends the requests from the loop itself over one
pool of keep-alive connections, to the server of a ``Connection`` (gatepass.kube.credentials: a
kubeconfig or the pod's ServiceAccount), with its CA, client certificate and credentials, asked for
on each request (a rotated token file is read again, an expired exec credential asked for again).
Bodies are JSON, encoded and decoded once, by pydantic-core's JSON (several times quicker than the
standard library's).

An answer other than 2xx raises gatepass.kube.errors.ApiException with the status, reason, body (text)
and headers, the attributes of the Kubernetes client's exception of that name.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
from pydantic_core import from_json, to_json

from .credentials import Connection, Credentials, from_client_configuration, pem_file
from .errors import ApiException

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


def ssl_context(connection: Connection, credentials: Credentials | None = None) -> ssl.SSLContext | bool:
    """The TLS of ``connection``: its CA (file or data, else the system's), the client certificate of
    ``credentials`` (files or data), host name checking; False for plain HTTP, and no checks at all when
    it is ``insecure``."""
    if not connection.host.startswith("https"):
        return False
    context = ssl.create_default_context(cafile=connection.ca_file or None,
                                         cadata=connection.ca_data.decode() if connection.ca_data else None)
    credentials = credentials or Credentials()
    cert, key = credentials.cert_file, credentials.key_file
    if credentials.cert_data and credentials.key_data:
        cert, key = pem_file(credentials.cert_data, ".crt"), pem_file(credentials.key_data, ".key")
    try:
        if cert:
            context.load_cert_chain(cert, key or None)
    finally:
        if credentials.cert_data and credentials.key_data:
            os.unlink(cert)
            os.unlink(key)
    if connection.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif not connection.check_hostname:
        context.check_hostname = False
    return context


class ApiHttp:
    """Requests to the API server of ``connection`` over at most ``connections`` keep-alive connections.

    ``connection`` may also be a Kubernetes client's ``Configuration`` (a program or test that has one).
    The session is made on the first request, in the running loop; ``close`` ends it.
    """

    def __init__(self, connection: Connection | Any, *, connections: int = 16, read_timeout: float = 300.0,
                 user_agent: str = "gatepass") -> None:
        if not isinstance(connection, Connection):
            connection = from_client_configuration(connection)
        self.connection, self.user_agent = connection, user_agent
        self.base = connection.host.rstrip("/")
        self.connections = connections
        # No bound on a whole answer (a start-up list of every request may be long), only on silence.
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=15.0, sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closer: asyncio.Task | None = None
        # The TLS of the credentials last used (an exec plugin may give a new client certificate).
        self._tls: tuple[tuple[str, str, bytes, bytes], ssl.SSLContext | bool] | None = None
        # The SNI name and the name checked, when the connection names one other than the host's.
        self._server_name = connection.tls_server_name or None

    async def _credentials(self) -> Credentials:
        if self.connection.refresh_due():  # an exec plugin to run: not on the loop
            return await asyncio.to_thread(self.connection.credentials)
        return self.connection.credentials()

    def _ssl(self, credentials: Credentials) -> ssl.SSLContext | bool:
        key = (credentials.cert_file, credentials.key_file, credentials.cert_data, credentials.key_data)
        if self._tls is None or self._tls[0] != key:
            self._tls = (key, ssl_context(self.connection, credentials))
        return self._tls[1]

    def _headers(self, content_type: str | None, credentials: Credentials) -> dict[str, str]:
        headers = {"Accept": JSON, "User-Agent": self.user_agent, **self.connection.headers(credentials)}
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def session(self) -> aiohttp.ClientSession:
        """The session of the running loop: made on first use, closed when the loop ends (its tasks are
        cancelled, as ``asyncio.run`` does) if ``close`` was not called first."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(limit=self.connections, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout,
                                                  skip_auto_headers=("User-Agent",),
                                                  cookie_jar=aiohttp.DummyCookieJar())  # the API sets none
            self._loop = loop
            self._closer = loop.create_task(_close_at_end(self._session), name="gatepass-api-session")
        return self._session

    async def request(self, method: str, path: str, body: Any = None, *, content_type: str | None = None,
                      query: Mapping[str, str] | None = None, timeout: float | None = None) -> Any:
        """The decoded JSON answer to ``method path`` (None for an empty one); raises ApiException for a
        status other than 2xx. ``timeout``: seconds the whole answer may take (else only silence is bounded).
        A request other than a create whose connection the server closed (one kept idle too long) is sent
        once more on a new one; an answer saying when to ask again (``retry_after``) is waited out, up to
        MAX_RETRIES times."""
        data = None if body is None else to_json(body)
        credentials = await self._credentials()
        headers = self._headers(content_type or (JSON if data is not None else None), credentials)
        options: dict[str, Any] = {"ssl": self._ssl(credentials)}
        if self._server_name:
            options["server_hostname"] = self._server_name
        if self.connection.proxy:
            options["proxy"] = self.connection.proxy
        if timeout is not None:
            options["timeout"] = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 15.0))
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
            credentials = await self._credentials()
            headers = self._headers(content_type or (JSON if data is not None else None), credentials)
            options["ssl"] = self._ssl(credentials)
        if not 200 <= status < 300:
            raise ApiException(status=status, reason=reason, body=raw.decode(errors="replace"), headers=answered)
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
