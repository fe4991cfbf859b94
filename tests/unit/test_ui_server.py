"""The Web UI server: the event stream, one user's watch, calls through the user's client, the bounded map
of in-cluster users, the `ui` verb's one-line failures, and that no other verb loads a web server."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest

import gatepass.cli
from gatepass.cli.errors import CliError
from gatepass.cli.kube import Expired
from gatepass.cli.ui import live, users

from .ui_server_fakes import CLUSTER_HOST, FakeKube, Served, local

REPO = Path(__file__).resolve().parents[2]


def aio(test):
    @functools.wraps(test)
    def run(*args, **kwargs):
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), 20))
    return run


async def next_event(stream) -> bytes:
    """The next event of an SSE stream (comments skipped)."""
    while True:
        block = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5)
        if not block.startswith(b":"):
            return block


# -- /events --------------------------------------------------------------------------------------------

@aio
async def test_events_stream_each_change_of_the_users_watch_with_heartbeats_and_end_on_shutdown():
    kube = FakeKube("bob")
    served = Served(local(kube), heartbeat=0.05)
    async with served as browser:
        await browser.sign_in(served.registry)
        stream = await browser.client.get("/events", headers=browser.headers(None, "GET"))
        assert stream.status == 200
        assert stream.headers["Content-Type"] == "text/event-stream"
        assert stream.headers["Cache-Control"] == "no-store"
        assert await stream.content.readuntil(b"\n\n") == b": watching\n\n"
        kube.push("bob-dba-x7k2q")
        assert await next_event(stream) == b"event: request\ndata: bob-dba-x7k2q\n\n"
        assert await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5) == b": heartbeat\n\n"
        kube.push("bob-dba-second")
        assert await next_event(stream) == b"event: request\ndata: bob-dba-second\n\n"
        assert kube.watched_from[0] == "10"  # from the list's version
        await served.app.shutdown()  # as the server stopping does: every stream ends
        rest = await asyncio.wait_for(stream.content.read(), 5)  # to the end of the stream
        assert set(rest.split(b"\n\n")) <= {b"", b": heartbeat"}


@aio
async def test_events_need_a_session():
    served = Served(local())
    async with served as browser:
        assert (await browser.get("/events")).status == 401


@aio
async def test_every_open_page_of_a_user_gets_every_change_and_the_watch_stops_when_the_last_leaves():
    kube = FakeKube("bob")
    registry = local(kube)
    first, second = registry._session.changes(), registry._session.changes()
    watch = registry._session.watch
    kube.push("r1")
    assert await asyncio.wait_for(first.__anext__(), 5) == "r1"
    assert await asyncio.wait_for(second.__anext__(), 5) == "r1"
    first.close()
    assert watch.watching
    second.close()
    assert not watch.watching
    with pytest.raises(StopAsyncIteration):
        await second.__anext__()


@aio
async def test_a_subscription_closes_with_aclosing():
    registry = local(FakeKube("bob"))
    async with contextlib.aclosing(registry._session.changes()):
        assert registry._session.watch.watching
    assert not registry._session.watch.watching


@aio
async def test_a_heartbeat_timeout_does_not_lose_the_subscription():
    kube = FakeKube("bob")
    changes = local(kube)._session.changes()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(changes.__anext__(), 0.05)
    kube.push("after")
    assert await asyncio.wait_for(changes.__anext__(), 5) == "after"
    changes.close()


class SlowList(FakeKube):
    """A client whose list waits for ``gate``."""

    def __init__(self) -> None:
        super().__init__("bob")
        self.gate = threading.Event()

    def list_requests_with_version(self) -> tuple[list[dict], str]:
        self.gate.wait(5)
        return super().list_requests_with_version()


@aio
async def test_a_subscription_is_ready_once_the_watch_has_listed_so_no_later_change_is_missed():
    kube = SlowList()
    registry = local(kube)
    changes = registry._session.changes()
    ready = asyncio.ensure_future(changes.ready())
    await asyncio.sleep(0.1)
    assert not ready.done()  # a change now would be in neither the list nor the watch
    kube.gate.set()
    await asyncio.wait_for(ready, 5)
    kube.push("after")
    assert await asyncio.wait_for(changes.__anext__(), 5) == "after"
    another = registry._session.changes()  # the watch runs: ready at once
    await asyncio.wait_for(another.ready(), 1)
    another.close()
    changes.close()
    await asyncio.wait_for(changes.ready(), 1)  # no watch runs: nothing to wait for


@aio
async def test_an_expired_watch_is_relisted_and_its_names_sent_again():
    kube = FakeKube("bob")
    changes = local(kube)._session.changes()
    kube.push(Expired)
    assert await asyncio.wait_for(changes.__anext__(), 5) == "listed"  # what the relist found
    kube.push("later")
    assert await asyncio.wait_for(changes.__anext__(), 5) == "later"
    assert kube.watched_from[:2] == ["10", "10"]
    changes.close()


@aio
async def test_a_refused_watch_ends_every_stream_so_the_browser_reconnects_with_fresh_credentials():
    kube = FakeKube("bob")
    lines: list[str] = []
    watch = live.Watch(kube, asyncio.get_running_loop(), log=lines.append, user="bob")
    changes = watch.subscribe()
    kube.push(CliError("the cluster did not accept your credentials (401 Unauthorized); log in again"))
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(changes.__anext__(), 5)
    assert lines == ['ui: watch ended user="bob" reason="the cluster did not accept your credentials '
                     '(401 Unauthorized); log in again"']
    assert not watch.watching


@aio
async def test_the_watch_uses_a_client_of_its_own_for_each_run():
    kube = FakeKube("bob")
    registry = local(kube)
    assert kube.twins == 0  # nothing runs before sign-in
    registry.login(registry.token)
    assert kube.twins == 1
    registry._session.watch.stop()
    registry._session.changes().close()  # a new run, while the last may still be ending
    assert kube.twins == 2
    registry.close()


# -- calls through the user's client -----------------------------------------------------------------

@aio
async def test_a_users_calls_run_in_threads_one_at_a_time():
    kube = FakeKube("bob")
    served = Served(local(kube))
    async with served as browser:
        await browser.sign_in(served.registry)
        response = await browser.get("/calls")
        assert await response.text() == "5"
    assert kube.calls == 5 and not kube.overlapped


# -- in-cluster users: bounded, idle ones dropped -----------------------------------------------------

@aio
async def test_in_cluster_sessions_are_bounded_and_idle_ones_dropped():
    now = [0.0]
    kubes = {f"token-u{i}": FakeKube(f"u{i}") for i in range(4)}
    registry = users.ClusterUsers(lambda token: kubes[token], log=lambda line: None, max_sessions=2,
                                  idle_after=60, clock=lambda: now[0])
    first = await registry.session(cookie=None, authorization="Bearer token-u0")
    await registry.session(cookie=None, authorization="Bearer token-u1")
    await registry.session(cookie=None, authorization="Bearer token-u2")
    assert len(registry) == 2  # the least recently used went
    again = await registry.session(cookie=None, authorization="Bearer token-u0")
    assert again is not first and again.me.username == "u0"
    now[0] = 1000.0
    await registry.session(cookie=None, authorization="Bearer token-u3")
    assert len(registry) == 1  # the idle ones went
    registry.close()
    assert len(registry) == 0


@aio
async def test_an_in_cluster_session_with_an_open_stream_is_not_idle():
    now = [0.0]
    registry = users.ClusterUsers(lambda token: FakeKube(token), log=lambda line: None, idle_after=60,
                                  clock=lambda: now[0])
    bob = await registry.session(cookie=None, authorization="Bearer bob")
    changes = bob.changes()
    now[0] = 1000.0
    await registry.session(cookie=None, authorization="Bearer alice")
    assert len(registry) == 2
    changes.close()
    registry.close()


@aio
async def test_concurrent_first_requests_of_a_token_make_one_session():
    made = []

    def make(token):
        made.append(token)
        return FakeKube("bob")

    registry = users.ClusterUsers(make, log=lambda line: None)
    sessions = await asyncio.gather(*(registry.session(cookie=None, authorization="Bearer t") for _ in range(5)))
    assert len({id(s) for s in sessions}) == 1 and made == ["t"]
    registry.close()


@aio
async def test_in_cluster_kube_has_the_token_and_the_servers_address_and_nothing_else():
    kube = users.cluster_kube("https://10.96.0.1:443", "", "the-token")
    assert kube.transport.headers["Authorization"] == "Bearer the-token"
    assert kube.host == "https://10.96.0.1:443"
    assert kube.transport.endpoint.credentials.cert_file == "" and not kube.transport.endpoint.insecure


# -- the verb ----------------------------------------------------------------------------------------------

def run_verb(*args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "operator"), "HOME": "/nonexistent"}
    return subprocess.run([sys.executable, "-m", "gatepass.cli.main", "ui", "--no-browser", *args],
                          capture_output=True, text=True, timeout=60, env=env)


def test_ui_refuses_to_start_with_one_line_when_the_kubeconfig_cannot_be_used(tmp_path):
    done = run_verb("--kubeconfig", str(tmp_path / "missing"))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")


def test_ui_in_cluster_refuses_to_start_with_one_line_without_the_ca_or_the_server(tmp_path):
    done = run_verb("--in-cluster", "--allowed-host", CLUSTER_HOST, "--ca-file", str(tmp_path / "none"),
                    "--server", "https://10.0.0.1:6443")
    assert done.returncode == 1 and done.stderr == f"error: cannot read the API server's CA at {tmp_path / 'none'} (--ca-file)\n"
    (tmp_path / "ca.crt").write_text("")
    done = run_verb("--in-cluster", "--allowed-host", CLUSTER_HOST, "--ca-file", str(tmp_path / "ca.crt"))
    assert done.returncode == 1
    assert done.stderr == "error: --in-cluster needs --server, or $KUBERNETES_SERVICE_HOST as a pod has it\n"


def modules_loaded(code: str) -> set[str]:
    """The modules a fresh interpreter (importing this tree's gatepass) has loaded after running ``code``."""
    script = f"import sys, json\ntry:\n    {code}\nexcept SystemExit:\n    pass\nprint(json.dumps(sorted(sys.modules)))"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "operator"), "HOME": "/nonexistent"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_other_verbs_load_no_web_server():
    for code in ("from gatepass.cli import main, commands, justintime, kube, waiting, output, args",
                 "from gatepass.cli.main import main; main(['request', 'ls', '--help'])",
                 "from gatepass.cli.main import main; main(['ui', '--help'])",
                 "from gatepass.cli.main import main; main(['--kubeconfig', '/nonexistent', 'request', 'ls'])"):
        loaded = modules_loaded(code)
        assert "gatepass.cli.args" in loaded
        assert not {m for m in loaded if m.split(".")[0] in ("aiohttp", "jinja2")
                    or m.startswith("gatepass.cli.ui")}, code
    served = modules_loaded("from gatepass.cli.main import main; main(['ui', '--kubeconfig', '/nonexistent'])")
    assert {"gatepass.cli.ui.command", "aiohttp"} <= served  # the one verb that does load it


def test_the_contract_names_every_other_module_of_the_plugin():
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    contract = next(c for c in contracts if c["name"].startswith("Only `kubectl access ui`"))
    modules = {f"gatepass.cli.{p.stem}" for p in Path(gatepass.cli.__file__).parent.glob("*.py")
               if p.stem != "__init__"}
    assert set(contract["source_modules"]) == modules
    assert set(contract["forbidden_modules"]) == {"gatepass.cli.ui", "aiohttp", "jinja2"}
