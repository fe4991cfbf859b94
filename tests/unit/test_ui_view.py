"""One user's view of the requests, kept by that user's own watch: listed once, changed by the watch and by
the user's own writes, read by the pages instead of a list per page view; the pages' event streams attach
to it; its thread ends with the session, at once, even in the middle of a watch call."""

from __future__ import annotations

import asyncio
import http.server
import queue
import socketserver
import threading
from collections.abc import Iterator

import pytest

from gatepass.cli import kubeconfig
from gatepass.cli.errors import CliError
from gatepass.cli.kube import Expired, Kube, Transport
from gatepass.cli.ui import users
from gatepass.core.types import Identity

from .test_ui_server import aio
from .ui_server_fakes import Served


def obj(name: str, version: int, state: str = "Pending") -> dict:
    return {"metadata": {"name": name, "resourceVersion": str(version), "managedFields": [{"manager": "x"}]},
            "status": {"state": state}}


_CUT = object()


class ViewKube:
    """One user's client: a list of ``listed`` at version 10, then the watch events ``push``ed, each
    (kind, object), an ``Expired`` or a ``CliError``. A watch call waits ``hold`` seconds for an event, as a
    real one waits up to its timeout, unless ``interrupt`` ends it."""

    def __init__(self, listed=(), *, hold: float = 0.05, refuse_watch: str = "", refuse_list: str = "") -> None:
        self.me = Identity("bob", frozenset({"developers"}))
        self.listed = [obj(name, 5) for name in listed]
        self.hold = hold
        self.refuse_watch = refuse_watch
        self.refuse_list = refuse_list
        self.events: queue.Queue = queue.Queue()
        self.lists = 0
        self.direct_lists = 0
        self.interrupted = threading.Event()

    def whoami(self) -> Identity:
        return self.me

    def twin(self) -> ViewKube:
        return self

    def list_requests_with_version(self) -> tuple[list[dict], str]:
        self.lists += 1
        if self.refuse_list:
            raise CliError(self.refuse_list)
        return [dict(o) for o in self.listed], "10"

    def list_requests(self) -> list[dict]:
        self.direct_lists += 1
        if self.refuse_list:
            raise CliError(self.refuse_list)
        return [dict(o) for o in self.listed]

    def watch_requests(self, resource_version: str, timeout: int = 60) -> Iterator[tuple[str, dict]]:
        if self.refuse_watch:
            raise CliError(self.refuse_watch)
        while not self.interrupted.is_set():
            try:
                event = self.events.get(timeout=self.hold)
            except queue.Empty:
                return
            if event is _CUT:
                break
            if event is Expired:
                raise Expired()
            if isinstance(event, CliError):
                raise event
            yield event
        raise CliError("cannot reach the cluster: the connection was shut down")

    def interrupt(self) -> None:
        self.interrupted.set()
        self.events.put(_CUT)  # as a shut-down socket wakes its reader

    def push(self, kind: str, o: dict) -> None:
        self.events.put((kind, o))


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def names(found) -> list[str]:
    return sorted(o["metadata"]["name"] for o in found)


async def signed_in(kube) -> users.LocalUsers:
    registry = users.LocalUsers(kube, kube.whoami(), log=lambda line: None)
    assert not registry._session.watch.running  # nothing runs before someone signs in
    registry.login(registry.token)
    return registry


@aio
async def test_the_watch_starts_at_sign_in_and_the_pages_read_its_view_without_listing():
    kube = ViewKube(["a", "b"])
    registry = await signed_in(kube)
    session = registry._session
    assert session.watch.running
    assert names(await session.requests()) == ["a", "b"]
    assert names(await session.requests()) == ["a", "b"]
    assert kube.lists == 1 and kube.direct_lists == 0
    assert all("managedFields" not in o["metadata"] for o in await session.requests())
    registry.close()


@aio
async def test_the_view_follows_the_watch_and_never_goes_back_to_an_older_version():
    kube = ViewKube(["a", "b"])
    session = (await signed_in(kube))._session
    await session.requests()
    kube.push("ADDED", obj("c", 11))
    kube.push("MODIFIED", obj("a", 12, "Approved"))
    kube.push("DELETED", obj("b", 13))
    await until(lambda: "b" not in session.watch._objects)
    found = {o["metadata"]["name"]: o for o in await session.requests()}
    assert set(found) == {"a", "c"} and found["a"]["status"]["state"] == "Approved"
    session.saw(obj("c", 20, "Denied"))  # the answer of the user's own write
    assert {o["metadata"]["name"]: o["status"]["state"] for o in await session.requests()}["c"] == "Denied"
    kube.push("MODIFIED", obj("c", 14, "Pending"))  # an event from before that write
    kube.push("ADDED", obj("d", 15))
    await until(lambda: "d" in session.watch._objects)
    assert {o["metadata"]["name"]: o["status"]["state"] for o in await session.requests()}["c"] == "Denied"
    session.close()


@aio
async def test_a_request_created_here_is_in_the_next_list_before_its_watch_event():
    kube = ViewKube(["a"], hold=5)
    session = (await signed_in(kube))._session
    await session.requests()
    session.saw(obj("mine", 30))  # what create_request answered; the watch has not seen it yet
    assert names(await session.requests()) == ["a", "mine"]
    session.close()


@aio
async def test_an_expired_watch_relists_and_sends_every_name_it_may_have_missed():
    kube = ViewKube(["a", "b"])
    session = (await signed_in(kube))._session
    changes = session.changes()
    await changes.ready()
    kube.listed = [obj("a", 20), obj("c", 20)]  # b deleted, c added while the version expired
    kube.events.put(Expired)
    got = [await asyncio.wait_for(changes.__anext__(), 5) for _ in range(3)]
    assert sorted(got) == ["a", "b", "c"]
    assert names(await session.requests()) == ["a", "c"] and kube.lists == 2
    session.close()


@aio
async def test_every_page_stream_attaches_to_the_running_watch_without_a_list_of_its_own():
    kube = ViewKube(["a"])
    session = (await signed_in(kube))._session
    streams = [session.changes() for _ in range(3)]
    for stream in streams:
        await asyncio.wait_for(stream.ready(), 5)
    kube.push("MODIFIED", obj("a", 11))
    assert [await asyncio.wait_for(s.__anext__(), 5) for s in streams] == ["a", "a", "a"]
    for stream in streams:
        stream.close()
    more = session.changes()
    await asyncio.wait_for(more.ready(), 1)
    more.close()
    assert kube.lists == 1 and session.watch.running  # the watch runs as long as the session
    session.close()


@aio
async def test_when_the_watch_is_refused_the_pages_list_for_themselves_and_show_the_refusal():
    refusal = 'accessrequests.gatepass.dev is forbidden: User "bob" cannot watch resource "accessrequests"'
    kube = ViewKube(["a"], refuse_watch=refusal)
    lines: list[str] = []
    registry = users.LocalUsers(kube, kube.whoami(), log=lines.append)
    registry.login(registry.token)
    session = registry._session
    await until(lambda: not session.watch.running)
    assert lines == [f'ui: watch ended user="bob" reason="{refusal}"']
    assert names(await session.requests()) == ["a"] and kube.direct_lists == 1
    lists = kube.lists
    await session.requests()
    assert kube.lists == lists  # not started again on every page view
    kube.refuse_list = 'accessrequests.gatepass.dev is forbidden: User "bob" cannot list resource'
    with pytest.raises(CliError, match="cannot list"):
        await session.requests()
    registry.close()


@aio
async def test_a_page_waits_only_briefly_for_a_slow_first_list(monkeypatch):
    gate = threading.Event()

    class Slow(ViewKube):
        def list_requests_with_version(self):
            gate.wait(5)
            return super().list_requests_with_version()

    monkeypatch.setattr(users, "VIEW_WAIT", 0.05)
    kube = Slow(["a"])
    session = (await signed_in(kube))._session
    assert names(await session.requests()) == ["a"] and kube.direct_lists == 1
    gate.set()
    await until(lambda: session.watch._listed)
    assert names(await session.requests()) == ["a"] and kube.direct_lists == 1
    session.close()


@aio
async def test_the_watch_thread_ends_at_once_when_the_session_is_dropped_or_the_server_stops():
    kube = ViewKube(["a"], hold=30)  # a watch call that would last 30 s
    registry = await signed_in(kube)
    session = registry._session
    await session.requests()
    thread = session.watch.thread
    served = Served(registry)
    async with served:
        await served.app.shutdown()
    await asyncio.to_thread(thread.join, 2)
    assert not thread.is_alive()

    now = [0.0]
    kubes = {"t1": ViewKube(["a"], hold=30), "t2": ViewKube(["b"], hold=30)}
    cluster = users.ClusterUsers(lambda token: kubes[token], log=lambda line: None, idle_after=60,
                                 clock=lambda: now[0])
    first = await cluster.session(cookie=None, authorization="Bearer t1")
    assert names(await first.requests()) == ["a"]
    thread = first.watch.thread
    now[0] = 100.0
    await cluster.session(cookie=None, authorization="Bearer t2")  # t1 was idle: dropped
    await asyncio.to_thread(thread.join, 2)
    assert not thread.is_alive() and len(cluster) == 1
    cluster.close()


def test_interrupt_ends_a_watch_call_waiting_on_the_api_server():
    class Silent(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"2"}}}\n')
            self.wfile.flush()
            threading.Event().wait(10)  # then nothing, as a quiet watch

        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    with Server(("127.0.0.1", 0), Silent) as api:
        threading.Thread(target=api.serve_forever, daemon=True).start()
        endpoint = kubeconfig.Endpoint(server=f"http://127.0.0.1:{api.server_address[1]}")
        kube = Kube(Transport(endpoint, kubeconfig.Credentials(token="t")))
        seen, ended = [], threading.Event()

        def watching():
            try:
                for _kind, o in kube.watch_requests("1", timeout=30):
                    seen.append(o["metadata"]["name"])
            except CliError:
                pass
            ended.set()

        threading.Thread(target=watching, daemon=True).start()
        deadline = threading.Event()
        while not seen and not deadline.wait(0.01):
            pass
        kube.interrupt()
        assert ended.wait(2) and seen == ["a"]
        api.shutdown()
