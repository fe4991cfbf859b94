"""The aiohttp application: the checks before every handler, sign-in, the event stream, health, static files.

``make_app`` wires it together. Its middleware lets a request reach a handler only if:
1. its Host is one the server answers to (DNS rebinding), else 421; ``/healthz`` is exempt (probes name
   the pod's address, and it says nothing);
2. in local mode, ``GET /?token=T`` with the one-time token sets the session cookie and redirects (303)
   to the same URL without the token; a used or wrong token is 403;
3. a state-changing method carries the Origin this server is served at, else 403;
4. it belongs to a user (the session cookie in local mode, the forwarded bearer token in the cluster),
   else 401 (``/healthz`` and ``/static/`` need no user);
5. a state-changing method carries the session's CSRF token (form field ``csrf`` or ``X-CSRF-Token``),
   else 403.
Handlers find the user's ``Session`` under ``request[SESSION]``. A refusal, an API error (``CliError``,
its message as the API server gave it) or a failure of the server's own becomes one line for the user (or
the page ``render_error`` makes of it) and one line on stderr; never a traceback. Every response, errors
and static files and the event stream included, carries ``security.HEADERS`` and no CORS header.

It may touch: aiohttp, the users registry (``users``), the security checks; never a user's name from a
header, a cookie or a form.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Protocol

from aiohttp import web

from ..errors import CliError
from . import security
from .session import SESSION, Session
from .users import COOKIE, Unauthenticated

__all__ = ["HEARTBEAT", "STATIC", "Refused", "error_response", "make_app"]

#: The package's static files (styles, vendored htmx), served under /static/.
STATIC = Path(__file__).parent / "static"
#: Seconds between the comments that keep an idle event stream open.
HEARTBEAT = 15.0
#: Bytes a request body may have (forms are small).
MAX_BODY = 256 * 1024

ErrorRenderer = Callable[[web.Request, int, str], web.StreamResponse]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Users(Protocol):
    in_cluster: bool

    async def session(self, *, cookie: str | None, authorization: str | None) -> Session: ...

    def close(self) -> None: ...


class Refused(Exception):
    """A request the server will not serve: the status and the one line that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def plain_error(request: web.Request, status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n", content_type="text/plain")


class _Config:
    def __init__(self, allowed_hosts: Iterable[str], origins: Iterable[str], render_error: ErrorRenderer,
                 log: Callable[[str], None], heartbeat: float) -> None:
        self.allowed_hosts = frozenset(host.lower() for host in allowed_hosts)
        self.origins = frozenset(origin.lower() for origin in origins)
        self.render_error = render_error
        self.log = log
        self.heartbeat = heartbeat


_USERS = web.AppKey("gatepass.users", Users)
_CONFIG = web.AppKey("gatepass.config", _Config)


def error_response(request: web.Request, status: int, message: str) -> web.StreamResponse:
    """The response for a failure, as the app renders them (``render_error``), logged as one line."""
    config = request.app[_CONFIG]
    message = " ".join(message.split())
    config.log(f'ui: failed status={status} method={request.method} path="{_path(request)}" '
               f'reason="{message}"')
    return config.render_error(request, status, message)


def _path(request: web.Request) -> str:
    """The path as sent (percent-encoded: one line), never the query (it may hold the sign-in token)."""
    return request.rel_url.raw_path


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def make_app(users: Users, *, allowed_hosts: Iterable[str], origins: Iterable[str],
             add_routes: Callable[[web.Application], None] | None = None,
             render_error: ErrorRenderer | None = None, static_dir: Path = STATIC,
             log: Callable[[str], None] = _stderr, heartbeat: float = HEARTBEAT) -> web.Application:
    """The Web UI for ``users``, answering to ``allowed_hosts`` (Host values) and accepting state changes
    from ``origins``. The pages come from ``add_routes`` (default ``pages.add_routes``) and errors are
    rendered by ``render_error`` (default ``pages.render_error`` if the pages module has one, else a
    line of plain text)."""
    if add_routes is None:
        from . import pages  # type: ignore[attr-defined]

        add_routes = pages.add_routes
        render_error = render_error or getattr(pages, "render_error", None)
    app = web.Application(middlewares=[_guard], client_max_size=MAX_BODY)
    app[_USERS] = users
    app[_CONFIG] = _Config(allowed_hosts, origins, render_error or plain_error, log, heartbeat)
    app.on_response_prepare.append(_secure)
    app.on_shutdown.append(_close_users)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/events", _events)
    if static_dir.is_dir():
        app.router.add_static("/static/", static_dir)
    add_routes(app)
    return app


# -- the checks -----------------------------------------------------------------------------------------

_PUBLIC = ("/static/",)


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await _checked(request, handler)
    except Refused as refused:
        return error_response(request, refused.status, refused.message)
    except Unauthenticated as missing:
        return error_response(request, 401, missing.message)
    except CliError as error:
        return error_response(request, 400, error.message)
    except web.HTTPException as http:
        if http.status < 400:
            raise
        text = (http.text or "").strip()
        return error_response(request, http.status, http.reason if text.startswith(f"{http.status}: ") or not text
                              else text)
    except Exception as error:  # a failure of our own: one line, no traceback to the user
        problem = " ".join(f"{type(error).__name__}: {error}".split())
        config = request.app[_CONFIG]
        config.log(f'ui: internal error method={request.method} path="{_path(request)}" error="{problem}"')
        return config.render_error(request, 500, "internal error of the Web UI; see its log")


async def _checked(request: web.Request, handler: Handler) -> web.StreamResponse:
    config = request.app[_CONFIG]
    users = request.app[_USERS]
    if request.path == "/healthz":
        return await handler(request)
    if not security.host_allowed(request.headers.getall("Host", []), config.allowed_hosts):
        raise Refused(421, "this server does not answer to that host name")
    if not users.in_cluster and request.method == "GET" and request.path == "/" and "token" in request.query:
        return _login(request, users)
    unsafe = request.method not in security.SAFE_METHODS
    if unsafe and not security.origin_allowed(request.headers.getall("Origin", []), config.origins):
        raise Refused(403, "refused: the request did not come from this server's own pages (Origin)")
    if request.path.startswith(_PUBLIC):
        return await handler(request)
    session = await users.session(cookie=request.cookies.get(COOKIE),
                                  authorization=request.headers.get("Authorization"))
    if unsafe and not security.secret_matches(await _sent_csrf(request), session.csrf):
        raise Refused(403, "refused: the form's CSRF token is missing or wrong; reload the page and try again")
    request[SESSION] = session
    return await handler(request)


def _login(request: web.Request, users: Users) -> web.StreamResponse:
    session_id = users.login(request.query["token"])  # type: ignore[attr-defined]
    if session_id is None:
        raise Refused(403, "this sign-in link was already used or is wrong: run `kubectl access ui` again")
    location = request.rel_url.with_query([(k, v) for k, v in request.query.items() if k != "token"])
    response = web.Response(status=303, headers={"Location": str(location)})
    response.set_cookie(COOKIE, session_id, httponly=True, samesite="Strict", path="/")
    request.app[_CONFIG].log(f'ui: signed in path="{_path(request)}"')
    return response


async def _sent_csrf(request: web.Request) -> str | None:
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.post()).get("csrf")  # cached: the handler reads the same form
        sent = value if isinstance(value, str) else None
    return sent


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    security.secure_headers(response.headers)


async def _close_users(app: web.Application) -> None:
    app[_USERS].close()  # every watch stops, every event stream ends


# -- the routes of the server ---------------------------------------------------------------------------

async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n", content_type="text/plain")


async def _events(request: web.Request) -> web.StreamResponse:
    """``event: request`` / ``data: NAME`` for each change this user's watch sees; a comment every
    HEARTBEAT seconds; ends when the watch ends (shutdown, refused credentials) or the browser leaves."""
    config = request.app[_CONFIG]
    subscription = request[SESSION].changes()
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
    try:
        # Open the stream (the browser's `htmx:sseOpen`, on which the pages fetch their content again) only
        # once the watch has listed: a change between the page's rendering and now is then in that content,
        # and every later one comes as an event.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(subscription.ready(), config.heartbeat)
        await response.prepare(request)
        await response.write(b": watching\n\n")
        while True:
            try:
                name = await asyncio.wait_for(subscription.__anext__(), config.heartbeat)
            except TimeoutError:
                await response.write(b": heartbeat\n\n")
                continue
            except StopAsyncIteration:
                break
            clean = "".join(ch for ch in name if ch not in "\r\n")
            await response.write(f"event: request\ndata: {clean}\n\n".encode())
    except ConnectionResetError:
        pass  # the browser went away
    finally:
        subscription.close()
    return response
