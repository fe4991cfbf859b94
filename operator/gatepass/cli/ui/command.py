"""`kubectl access ui`: serve the Web UI until Ctrl-C or SIGTERM.

On a workstation: as the kubeconfig's user (authenticated once, at start, with a SelfSubjectReview; a
kubeconfig that cannot authenticate stops it with one line), on 127.0.0.1 only, printing the one line
``Open http://127.0.0.1:PORT/?token=...`` and opening the browser. With ``--in-cluster``: on ``--address``
for the ``--allowed-host`` names, as whoever each request's forwarded bearer token says; no credentials
of its own (no ServiceAccount token is read), only the API server's address and CA.

It may touch: the command line's values, the user's kubeconfig (through ``Kube``), one listening socket,
stdout (the one line), stderr (logs), the browser.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import threading
import webbrowser
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from ..errors import OK, CliError
from ..kube import Kube
from . import server, users

__all__ = ["run"]

#: Threads for API calls (``Session.call``), shared by all users; each user's calls run one at a time.
WORKERS = 32
#: Seconds open requests get to finish when the server stops.
SHUTDOWN_TIMEOUT = 5.0


def _log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    if args.in_cluster:
        return _in_cluster(args)
    kube = Kube.connect(args.kubeconfig, args.context)
    me = kube.whoami()  # refuse to start, with one line, if the kubeconfig cannot authenticate
    sock = _listen("127.0.0.1", args.port)
    port = sock.getsockname()[1]
    hosts = [f"127.0.0.1:{port}", f"localhost:{port}"]
    origins = [f"http://{host}" for host in hosts]

    def make_users() -> users.LocalUsers:
        return users.LocalUsers(kube, me, log=_log)

    def started(local: server.Users) -> None:
        url = f"http://127.0.0.1:{port}/?token={local.token}"  # type: ignore[attr-defined]
        sys.stdout.write(f"Open {url}\n")
        sys.stdout.flush()
        _log(f'ui: serving user="{me.username}" address=127.0.0.1:{port}')
        if args.browser:
            _open_browser(url)

    return asyncio.run(_serve(make_users, sock, hosts, origins, started))


def _in_cluster(args: argparse.Namespace) -> int:
    target = args.server or _service_url()
    ca_file = args.ca_file
    if not os.access(ca_file, os.R_OK):
        raise CliError(f"cannot read the API server's CA at {ca_file} (--ca-file)")
    hosts = list(args.allowed_host)
    origins = [f"https://{host}" for host in hosts]
    sock = _listen(args.address, args.port)

    def make_users() -> users.ClusterUsers:
        return users.ClusterUsers(lambda token: users.cluster_kube(target, ca_file, token), log=_log)

    def started(_: server.Users) -> None:
        _log(f'ui: serving in-cluster address={args.address}:{sock.getsockname()[1]} '
             f'hosts="{",".join(hosts)}" server="{target}"')

    return asyncio.run(_serve(make_users, sock, hosts, origins, started))


def _service_url() -> str:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST", ""), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise CliError("--in-cluster needs --server, or $KUBERNETES_SERVICE_HOST as a pod has it")
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def _listen(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as error:
        sock.close()
        raise CliError(f"cannot listen on {address}:{port}: {error.strerror or error}") from None
    return sock


async def _serve(make_users: Callable[[], server.Users], sock: socket.socket, hosts: list[str],
                 origins: list[str], started: Callable[[server.Users], None]) -> int:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(WORKERS, thread_name_prefix="gatepass-ui-call"))
    registry = make_users()
    app = server.make_app(registry, allowed_hosts=hosts, origins=origins)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.SockSite(runner, sock).start()
        started(registry)
        await stop.wait()
    finally:
        await runner.cleanup()
    _log("ui: stopped")
    return OK


def _open_browser(url: str) -> None:
    """The default browser, in the background; none where there is no display (a console browser would
    take over the terminal)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("BROWSER")):
        return
    threading.Thread(target=webbrowser.open, args=(url,), daemon=True, name="gatepass-ui-browser").start()
