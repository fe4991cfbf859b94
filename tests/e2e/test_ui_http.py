"""`kubectl access ui` as its own process against the real API server and operator, driven over HTTP.

Locally it runs as bob's kubeconfig context (a client certificate) and a browser signs in with the
printed link; in the cluster's mode (started here on 127.0.0.1 with the test API server's address and CA)
every request carries a bearer token. The development cluster's people (bob, alice, ivan, ...) are
certificate users, so the two token users here are ServiceAccounts with tokens from `kubectl create token`:
one bound to gatepass-requester, one bound to nothing. Nothing is faked.
"""

from __future__ import annotations

import http.client
import queue
import re
import signal
import socket
import threading
import time
from urllib.parse import urlencode

import pytest
import yaml

from .helpers import approve, request_manifest, unique
from .ui import OPEN, UI, call

pytestmark = pytest.mark.e2e

SERVING = re.compile(r'^ui: serving in-cluster address=127\.0\.0\.1:(\d+) ')
IN_TIME = 1.0  # seconds from a change to its event


def signed_in_as(user: str) -> str:
    """The page header naming the signed-in user."""
    return f'Signed in as <strong class="user" hx-disable>{user}</strong>'


class Events:
    """/events, read in a thread: (event, data, arrival time) in a queue; None at its end."""

    def __init__(self, port: int, *, host: str, headers: dict) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.connection.request("GET", "/events", headers={"Host": host, **headers})
        self.response = self.connection.getresponse()
        assert self.response.status == 200, self.response.read()
        assert self.response.headers["Content-Type"] == "text/event-stream"
        self.events: queue.Queue = queue.Queue()
        self.first = self.response.readline()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            while line := self.response.readline().decode():
                if line == "\n":
                    if fields:
                        self.events.put((fields.get("event"), fields.get("data"), time.monotonic()))
                    fields = {}
                elif not line.startswith(":"):
                    key, _, value = line.rstrip("\n").partition(": ")
                    fields[key] = value
        except OSError:
            pass
        self.events.put(None)

    def arrival(self, name: str, timeout: float) -> float:
        """When the next ``request`` event naming ``name`` arrived (waiting up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                break
            assert event is not None, "the event stream ended"
            if event[:2] == ("request", name):
                return event[2]
        raise AssertionError(f"no event for {name} within {timeout}s")

    def ended(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                if self.events.get(timeout=left) is None:
                    return True
            except queue.Empty:
                return False
        return False

    def close(self) -> None:
        try:
            self.connection.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()


def change_as_bob_then_alice(gatepass, events: Events) -> None:
    """bob asks for access (an event within seconds: the watch may still be starting), then alice approves
    it: that change's event comes within IN_TIME of her approval."""
    name = unique("ui-live")
    gatepass.kubectl("apply", "-f", "-", user="bob", input=request_manifest(name))
    events.arrival(name, timeout=20)
    time.sleep(0.5)  # the operator's own updates after the create come and go
    while True:
        try:
            events.events.get_nowait()
        except queue.Empty:
            break
    approve(gatepass, name, "alice")
    approved = time.monotonic()
    assert events.arrival(name, timeout=10) - approved < IN_TIME


def created_then_listed(port: int, host: str, signed_in: dict) -> None:
    """A request bob makes in the UI is in his next list at once (the list reads his session's watch, and the
    create's answer goes into it)."""
    _, _, form = call(port, "GET", "/requests/new", host=host, headers=signed_in)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)[1]
    posting = {**signed_in, "Origin": f"http://{host}", "Content-Type": "application/x-www-form-urlencoded"}
    fields = {"csrf": csrf, "roles": "dba", "namespaces": "payments", "duration": "1h", "start": "",
              "reason": "ticket #123", "reviewers": "alice, ivan", "action": "create"}
    status, headers, body = call(port, "POST", "/requests/new", host=host, headers=posting, body=urlencode(fields))
    assert status == 303, body
    name = headers["Location"].rsplit("/", 1)[1]
    listed = call(port, "GET", "/?tab=mine", host=host, headers=signed_in)[2]
    assert f'href="/requests/{name}"' in listed


@pytest.fixture
def local_ui(gatepass):
    ui = UI(f"--kubeconfig={gatepass.cluster.kubeconfig}", "--context=bob")
    try:
        yield ui
    finally:
        ui.kill()


def test_local_ui_signs_in_once_serves_bob_and_streams_his_changes(gatepass, local_ui):
    opened = OPEN.match(local_ui.line(local_ui.process.stdout))
    assert opened, local_ui.err
    port, token = int(opened[1]), opened[2]
    host = f"127.0.0.1:{port}"
    local_ui.err_line(re.compile(r'^ui: serving user="bob" '))  # whoami, once, at start

    assert call(port, "GET", "/", host=host)[0] == 401
    status, headers, _ = call(port, "GET", f"/?token={token}", host=f"localhost:{port}")
    assert status == 303 and headers["Location"] == "/"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    session = re.match(r"gatepass_session=([^;]+);", cookie)[1]
    assert token not in session
    assert call(port, "GET", f"/?token={token}", host=host)[0] == 403  # the link works once

    signed_in = {"Cookie": f"gatepass_session={session}"}
    status, headers, body = call(port, "GET", "/", host=host, headers=signed_in)
    assert status == 200 and signed_in_as("bob") in body
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert call(port, "GET", "/", host=f"evil.example:{port}", headers=signed_in)[0] == 421
    assert call(port, "POST", "/requests/new", host=host, headers=signed_in, body="csrf=x")[0] == 403
    assert call(port, "GET", "/healthz", host=host)[:3:2] == (200, "ok\n")

    created_then_listed(port, host, signed_in)

    events = Events(port, host=host, headers=signed_in)
    try:
        change_as_bob_then_alice(gatepass, events)
        code, out, err = local_ui.stop(signal.SIGINT)  # with the stream still open
        assert events.ended(10)
    finally:
        events.close()
    assert code == 0, err
    assert out == ""  # the Open line was the only one
    assert "Traceback" not in err and token not in err


@pytest.fixture
def token_users(gatepass, namespace):
    """Two ServiceAccounts with tokens: (name, token) of one that may use Gatepass, and of one that may not."""
    users = []
    binding = f"{namespace}-ui-requester"
    for account in ("ui-requester", "ui-nobody"):
        gatepass.kubectl("create", "serviceaccount", account, "-n", namespace)
        token = gatepass.kubectl("create", "token", account, "-n", namespace, "--duration=10m").stdout.strip()
        users.append((f"system:serviceaccount:{namespace}:{account}", token))
    gatepass.kubectl("create", "clusterrolebinding", binding, "--clusterrole=gatepass-requester",
                     f"--serviceaccount={namespace}:ui-requester")
    try:
        yield users
    finally:
        gatepass.kubectl("delete", "clusterrolebinding", binding, check=False)


@pytest.fixture
def cluster_ui(gatepass):
    plane = gatepass.cluster.plane
    ui = UI("--in-cluster", "--address=127.0.0.1", "--port=0", "--allowed-host=ui.test",
            f"--server={plane.server}", f"--ca-file={plane.pki / 'ca.crt'}")
    try:
        yield ui
    finally:
        ui.kill()


def test_in_cluster_ui_serves_each_bearer_token_as_its_own_user(gatepass, token_users, cluster_ui):
    (requester, requester_token), (nobody, nobody_token) = token_users
    port = int(cluster_ui.err_line(SERVING)[1])
    host = "ui.test"
    as_requester = {"Authorization": f"Bearer {requester_token}"}
    as_nobody = {"Authorization": f"Bearer {nobody_token}"}

    status, _, body = call(port, "GET", "/", host=host, headers={"X-Forwarded-User": "alice"})
    assert status == 401 and body.count("\n") == 1
    assert call(port, "GET", "/", host=host, headers={"Authorization": "Bearer not-a-token"})[0] == 401
    status, _, body = call(port, "GET", "/", host=host, headers=as_requester)
    assert status == 200 and signed_in_as(requester) in body
    status, _, claimed = call(port, "GET", "/", host=host,
                              headers={**as_requester, "X-Forwarded-User": "alice", "X-Remote-User": "alice",
                                       "X-Forwarded-Email": "alice@example.com"})
    assert claimed == body and "alice" not in claimed
    status, _, body = call(port, "GET", "/", host=host, headers=as_nobody)  # RBAC lets it list nothing
    assert status == 502 and signed_in_as(nobody) in body and requester not in body, body
    assert f'User &#34;{nobody}&#34; cannot list resource &#34;accessrequests&#34;' in body, body
    assert call(port, "GET", "/", host="evil.example", headers=as_requester)[0] == 421
    assert call(port, "POST", "/requests/new", host=host, body="csrf=x",
                headers={**as_requester, "Origin": "https://ui.test",
                         "Content-Type": "application/x-www-form-urlencoded"})[0] == 403

    nobodys = Events(port, host=host, headers=as_nobody)  # may not watch requests: the stream ends
    events = Events(port, host=host, headers=as_requester)
    try:
        assert nobodys.ended(15)
        change_as_bob_then_alice(gatepass, events)
        code, _, err = cluster_ui.stop(signal.SIGTERM)
        assert events.ended(10)
    finally:
        events.close()
        nobodys.close()
    assert code == 0, err
    assert f'ui: watch ended user="{nobody}"' in err
    assert requester_token not in err and nobody_token not in err and "Traceback" not in err


def test_local_ui_refuses_to_start_with_one_line_when_the_kubeconfig_cannot_authenticate(gatepass, tmp_path):
    config = yaml.safe_load(gatepass.cluster.kubeconfig.read_text())
    config["users"].append({"name": "ghost", "user": {"token": "not-a-token"}})
    config["contexts"].append({"name": "ghost", "context": {"cluster": "gatepass-dev", "user": "ghost"}})
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    ui = UI(f"--kubeconfig={kubeconfig}", "--context=ghost")
    try:
        out, err = ui.process.communicate(timeout=60)
    finally:
        ui.kill()
    assert ui.process.returncode == 1 and out == ""
    assert err == "error: the cluster did not accept your credentials (401 Unauthorized); log in again\n"
