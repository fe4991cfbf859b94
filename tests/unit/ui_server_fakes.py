"""A stand-in Kube and page routes for the Web UI server's unit tests, and a client that talks to the app
as a browser would (Host, Origin, cookie), one request at a time."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator

from aiohttp import DummyCookieJar, web
from aiohttp.test_utils import TestClient, TestServer

from gatepass.cli.errors import CliError
from gatepass.cli.kube import Expired
from gatepass.cli.ui import server, users
from gatepass.cli.ui.session import SESSION
from gatepass.core.types import Identity

#: The port the tests pretend the UI is served on (the Host and Origin they send name it).
PORT = 8123
HOST = f"127.0.0.1:{PORT}"
ORIGIN = f"http://{HOST}"
LOCAL_HOSTS = (HOST, f"localhost:{PORT}")
LOCAL_ORIGINS = tuple(f"http://{host}" for host in LOCAL_HOSTS)
CLUSTER_HOST = "gatepass.example.com"


class FakeKube:
    """One user's client: ``whoami``, a list with a version, and a watch fed by ``push``."""

    def __init__(self, username: str = "bob", *, groups=("developers",), refuse: str = "") -> None:
        self.me = Identity(username, frozenset(groups))
        self.refuse = refuse
        self.events: queue.Queue = queue.Queue()
        self.watched_from: list[str] = []
        self.calls = 0
        self.busy = 0
        self.overlapped = False
        self.twins = 0

    def whoami(self) -> Identity:
        if self.refuse:
            raise CliError(self.refuse)
        return self.me

    def twin(self) -> FakeKube:
        self.twins += 1
        return self

    def interrupt(self) -> None:
        pass  # its watch ends by itself every 0.05 s

    def list_requests_with_version(self) -> tuple[list[dict], str]:
        return [{"metadata": {"name": "listed"}}], "10"

    def list_requests(self) -> list[dict]:
        self.calls += 1
        self.busy += 1
        self.overlapped |= self.busy > 1
        threading.Event().wait(0.01)
        self.busy -= 1
        return []

    def watch_requests(self, resource_version: str, timeout: int = 60) -> Iterator[tuple[str, dict]]:
        self.watched_from.append(resource_version)
        while True:
            try:
                event = self.events.get(timeout=0.05)
            except queue.Empty:
                return  # as the API server ends a watch; the caller renews it
            if event is Expired:
                raise Expired()
            if isinstance(event, CliError):
                raise event
            yield "MODIFIED", {"metadata": {"name": event, "resourceVersion": str(11 + len(self.watched_from))}}

    def push(self, event) -> None:
        self.events.put(event)


def add_routes(app: web.Application) -> None:
    """Pages enough to test the server: who am I, a form target, an API error, a failure of our own."""

    async def home(request: web.Request) -> web.Response:
        session = request[SESSION]
        return web.Response(text=f"{session.me.username} csrf={session.csrf}")

    async def post(request: web.Request) -> web.Response:
        form = await request.post()
        return web.Response(text=f"posted by {request[SESSION].me.username}: {form.get('reason', '')}")

    async def api_error(request: web.Request) -> web.Response:
        raise CliError('admission webhook "requests.gatepass.dev" denied the request: a reason is required')

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    async def missing(request: web.Request) -> web.Response:
        raise web.HTTPNotFound(text='AccessRequest "x" not found')

    async def see_other(request: web.Request) -> web.Response:
        raise web.HTTPSeeOther("/")

    async def calls(request: web.Request) -> web.Response:
        results = await asyncio.gather(*(request[SESSION].call(lambda kube: kube.list_requests())
                                         for _ in range(5)))
        return web.Response(text=str(len(results)))

    app.router.add_get("/", home)
    app.router.add_post("/requests/new", post)
    app.router.add_get("/api-error", api_error)
    app.router.add_get("/boom", boom)
    app.router.add_get("/moved", see_other)
    app.router.add_get("/missing", missing)
    app.router.add_get("/calls", calls)


class Browser:
    """The test client, sending Host (and, on a POST, Origin) as a browser at ORIGIN would."""

    def __init__(self, client: TestClient, host: str = HOST, origin: str = ORIGIN) -> None:
        self.client = client
        self.host = host
        self.origin = origin
        self.cookie = ""

    def headers(self, extra: dict | None, method: str) -> dict:
        headers = {"Host": self.host}
        if method not in ("GET", "HEAD") and self.origin:
            headers["Origin"] = self.origin
        if self.cookie:
            headers["Cookie"] = f"{users.COOKIE}={self.cookie}"
        headers.update(extra or {})
        return {k: v for k, v in headers.items() if v is not None}

    async def request(self, method: str, path: str, *, headers: dict | None = None, **kwargs):
        response = await self.client.request(method, path, headers=self.headers(headers, method),
                                             allow_redirects=False, **kwargs)
        await response.read()
        return response

    async def get(self, path: str, **kwargs):
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs):
        return await self.request("POST", path, **kwargs)

    async def sign_in(self, registry: users.LocalUsers) -> str:
        response = await self.get(f"/?token={registry.token}")
        assert response.status == 303, response.status
        self.cookie = response.cookies[users.COOKIE].value
        return self.cookie


class Served:
    """The app for ``registry`` under a test server, with a Browser on it; ``async with``."""

    def __init__(self, registry, *, hosts=LOCAL_HOSTS, origins=LOCAL_ORIGINS, static_dir=None,
                 heartbeat: float = server.HEARTBEAT) -> None:
        self.registry = registry
        self.lines: list[str] = []
        kwargs = {"static_dir": static_dir} if static_dir is not None else {}
        self.app = server.make_app(registry, allowed_hosts=hosts, origins=origins, add_routes=add_routes,
                                   log=self.lines.append, heartbeat=heartbeat, **kwargs)
        self.client = TestClient(TestServer(self.app), cookie_jar=DummyCookieJar())  # cookies as Browser sends them

    async def __aenter__(self) -> Browser:
        await self.client.start_server()
        return Browser(self.client)

    async def __aexit__(self, *exc) -> None:
        await self.client.close()


def local(kube: FakeKube | None = None) -> users.LocalUsers:
    """The local registry for ``kube`` (call inside the event loop)."""
    kube = kube or FakeKube()
    return users.LocalUsers(kube, kube.whoami(), log=lambda line: None)


def cluster(*kubes: FakeKube) -> tuple[users.ClusterUsers, dict[str, FakeKube]]:
    """The in-cluster registry, where bearer token ``token-<name>`` is the FakeKube of that user."""
    by_token = {f"token-{kube.me.username}": kube for kube in kubes}
    made: dict[str, FakeKube] = {}

    def make(token: str) -> FakeKube:
        kube = by_token.get(token) or FakeKube("nobody", refuse="the cluster did not accept your credentials "
                                                                "(401 Unauthorized); log in again")
        made[token] = kube
        return kube

    return users.ClusterUsers(make, log=lambda line: None), made
