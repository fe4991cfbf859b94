"""Who is signed in: one ``UserSession`` per user, each with its own client, identity, CSRF token and watch.

``LocalUsers`` (``kubectl access ui``): the one user of the kubeconfig, authenticated once at start. A
browser signs in by trading the one-time token of the printed URL for a random session id in the
``gatepass_session`` cookie; the token works once.

``ClusterUsers`` (``kubectl access ui --in-cluster``): every request carries the user's bearer token,
forwarded by an authenticating proxy; no cookie. Each distinct token gets its own ``Kube`` (the given
server and CA, that token and nothing else), its own identity (a SelfSubjectReview with that token), its
own CSRF token (an HMAC of the token's digest) and its own watch. Nothing is shared between tokens. The
map is bounded: sessions idle for ``idle_after`` seconds, and the least recently used beyond
``max_sessions``, are dropped (their watch stopped). Tokens are kept by their SHA-256 only.

Each session's watch (``live.Watch``) starts when the session is made (local mode: at sign-in; in the
cluster: at the token's first request) and runs until the session is dropped or the server stops. The pages
read the user's requests from it (``requests()``), and ``saw()`` puts the answer of the user's own write
into it.

It may touch: the ``Kube`` clients it makes (in worker threads), ``live.Watch``; no aiohttp request.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from gatepass.core.types import Identity

from .. import kubeconfig
from ..errors import CliError
from ..kube import Kube, Transport
from . import live, security

__all__ = ["COOKIE", "ClusterUsers", "LocalUsers", "Unauthenticated", "UserSession", "cluster_kube"]

T = TypeVar("T")

#: Seconds a page waits for the user's watch to have listed before it lists for itself.
VIEW_WAIT = 2.0

#: The cookie that names a browser's session in local mode (a random id, never the sign-in token).
COOKIE = "gatepass_session"


class Unauthenticated(Exception):
    """No session for this request; the one line says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UserSession:
    """``gatepass.cli.ui.session.Session`` for one user: their client, identity, CSRF token and watch."""

    def __init__(self, kube: Kube, me: Identity, csrf: str, watch: live.Watch) -> None:
        self.kube = kube
        self.me = me
        self.csrf = csrf
        self.watch = watch
        self.last_used = time.monotonic()
        self._lock = threading.Lock()  # one Kube, one kept-alive connection: one call at a time

    async def call(self, fn: Callable[[Kube], T]) -> T:
        """``fn(kube)`` in a worker thread, one at a time for this user (even when a handler is cancelled,
        its call finishes before the next starts)."""
        return await asyncio.to_thread(self._locked, fn)

    def _locked(self, fn: Callable[[Kube], T]) -> T:
        with self._lock:
            return fn(self.kube)

    def changes(self) -> live.Subscription:
        return self.watch.subscribe()

    async def requests(self) -> list[dict]:
        """The requests this user may see: the watch's view once it has listed (waiting at most VIEW_WAIT
        seconds), else a list through the user's client (whose refusal, as a ``CliError``, is the page's)."""
        found = await self.watch.view(VIEW_WAIT)
        if found is None:
            return await self.call(lambda kube: kube.list_requests())
        return found

    def saw(self, obj: dict) -> None:
        """The answer of this user's own write, for the next page to show before its watch event arrives."""
        self.watch.apply(obj)

    def close(self) -> None:
        self.watch.stop()


def _session(kube: Kube, me: Identity, csrf: str, log: Callable[[str], None]) -> UserSession:
    watch = live.Watch(kube, asyncio.get_running_loop(), log=log, user=me.username)
    return UserSession(kube, me, csrf, watch)


class LocalUsers:
    """The kubeconfig's user, for browsers that signed in with the one-time token."""

    in_cluster = False

    def __init__(self, kube: Kube, me: Identity, *, log: Callable[[str], None]) -> None:
        self.token = secrets.token_urlsafe(32)
        self._session = _session(kube, me, secrets.token_urlsafe(32), log)
        self._ids: set[str] = set()

    def login(self, token: str) -> str | None:
        """A new session id for the one-time token, the first time only; None for any other token."""
        if not self.token or not security.secret_matches(token, self.token):
            return None
        self.token = ""  # used: it works once
        session_id = secrets.token_urlsafe(32)
        self._ids.add(session_id)
        self._session.watch.start()
        return session_id

    async def session(self, *, cookie: str | None, authorization: str | None) -> UserSession:
        if not cookie or cookie not in self._ids:
            raise Unauthenticated("not signed in: run `kubectl access ui` again and open the link it prints")
        return self._session

    def close(self) -> None:
        self._session.close()


def cluster_kube(server: str, ca_file: str, token: str) -> Kube:
    """A client for the API server at ``server`` (trusted through ``ca_file``) as the holder of ``token``."""
    endpoint = kubeconfig.Endpoint(server=server, ca_file=ca_file)
    return Kube(Transport(endpoint, kubeconfig.Credentials(token=token)))


class ClusterUsers:
    """Every user that a proxy forwards with ``Authorization: Bearer``, each on their own (module doc)."""

    in_cluster = True

    def __init__(self, make_kube: Callable[[str], Kube], *, log: Callable[[str], None],
                 max_sessions: int = 1000, idle_after: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._make_kube = make_kube
        self._log = log
        self._secret = secrets.token_bytes(32)
        self._sessions: OrderedDict[str, UserSession] = OrderedDict()
        self._pending: dict[str, asyncio.Task[UserSession]] = {}
        self.max_sessions = max_sessions
        self.idle_after = idle_after
        self._clock = clock

    def __len__(self) -> int:
        return len(self._sessions)

    async def session(self, *, cookie: str | None, authorization: str | None) -> UserSession:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("no bearer token: sign in through the authenticating proxy")
        digest = security.token_digest(token)
        self._drop_idle()
        found = self._sessions.get(digest)
        if found is None:
            pending = self._pending.get(digest)
            if pending is None:
                pending = asyncio.ensure_future(self._start(digest, token))
                self._pending[digest] = pending
                pending.add_done_callback(lambda _: self._pending.pop(digest, None))
            found = await asyncio.shield(pending)
        self._sessions.move_to_end(digest)
        found.last_used = self._clock()
        return found

    async def _start(self, digest: str, token: str) -> UserSession:
        kube = self._make_kube(token)
        try:
            me = await asyncio.to_thread(kube.whoami)
        except CliError as error:
            raise Unauthenticated(error.message) from None
        session = _session(kube, me, security.csrf_for_token(self._secret, digest), self._log)
        session.watch.start()
        session.last_used = self._clock()
        self._sessions[digest] = session
        while len(self._sessions) > self.max_sessions:
            _, oldest = self._sessions.popitem(last=False)
            oldest.close()
        return session

    def _drop_idle(self) -> None:
        now = self._clock()
        for digest, session in list(self._sessions.items()):
            if now - session.last_used > self.idle_after and not session.watch.watching:
                del self._sessions[digest]
                session.close()

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
