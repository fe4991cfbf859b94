"""`kubectl access ui` as a process of its own, for the end-to-end tests that drive it over HTTP or in a browser.

``UI(*argv)`` starts the plugin from this tree (``--no-browser`` always) and reads what it prints;
``LocalUI`` is one user's local UI (``--context USER``): its port, its one-time sign-in link, and
``sign_in(context)`` to give a browser context that user's session cookie. ``call`` makes one raw HTTP
request with any Host header, for what a browser would never send.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: Runs `kubectl access` from this tree.
LAUNCH = "import sys; from gatepass.cli.main import main; sys.exit(main(sys.argv[1:]))"
OPEN = re.compile(r"^Open http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+)\n$")
COOKIE = "gatepass_session"


class UI:
    """One `kubectl access ui` process."""

    def __init__(self, *argv: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO / "operator")}
        self.process = subprocess.Popen([sys.executable, "-c", LAUNCH, "ui", "--no-browser", *argv],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                        stdin=subprocess.DEVNULL)
        self.err: list[str] = []

    def line(self, stream, timeout: float = 60) -> str:
        ready, _, _ = select.select([stream], [], [], timeout)
        assert ready, f"no output in {timeout}s; stderr: {self.err}"
        return stream.readline()

    def err_line(self, pattern: re.Pattern) -> re.Match:
        while True:
            line = self.line(self.process.stderr)
            assert line, f"exited {self.process.wait()}: {self.err}"
            self.err.append(line)
            if found := pattern.search(line):
                return found

    def stop(self, signum: int = signal.SIGINT) -> tuple[int, str, str]:
        self.process.send_signal(signum)
        out, err = self.process.communicate(timeout=20)
        self.err.append(err)
        return self.process.returncode, out, "".join(self.err)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def call(port: int, method: str, path: str, *, host: str, headers: dict | None = None, body: str | None = None):
    """One raw HTTP request to 127.0.0.1:``port`` naming ``host``: (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        connection.close()


class LocalUI:
    """`kubectl access ui --context USER` on 127.0.0.1: the link it printed, and the session it gave."""

    def __init__(self, kubeconfig: Path, user: str) -> None:
        self.user = user
        self.ui = UI(f"--kubeconfig={kubeconfig}", f"--context={user}")
        try:
            opened = OPEN.match(self.ui.line(self.ui.process.stdout))
            assert opened, self.ui.err
        except BaseException:
            self.ui.kill()
            raise
        self.port, self.token = int(opened[1]), opened[2]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        self.cookies: list[dict] = []

    def url(self, path: str = "/") -> str:
        return self.origin + path

    def sign_in(self, context) -> None:
        """Give ``context`` this user's session: the first time by opening the printed one-time link in it
        (the browser gets the cookie and lands on the list), then by copying that cookie."""
        if self.cookies:
            context.add_cookies(self.cookies)
            return
        page = context.new_page()
        page.goto(f"{self.origin}/?token={self.token}")
        assert page.url == self.url("/"), page.url  # redirected without the token
        self.cookies = [c for c in context.cookies(self.origin) if c["name"] == COOKIE]
        assert self.cookies and self.cookies[0]["httpOnly"] and self.cookies[0]["sameSite"] == "Strict"
        page.close()

    @property
    def cookie_header(self) -> dict:
        assert self.cookies, "sign in first"
        return {"Cookie": f"{COOKIE}={self.cookies[0]['value']}"}

    def close(self) -> None:
        self.ui.kill()


def drop_as(kubeconfig: Path, user: str, name: str) -> None:
    """Drop ``name`` with the plugin as ``user`` (a cleanup: a request already ended stays as it is)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "operator")}
    subprocess.run([sys.executable, "-c", LAUNCH, "request", "drop", name, f"--kubeconfig={kubeconfig}",
                    f"--context={user}", "--reason=end of the UI test"],
                   env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)


def reviewers_of(gatepass, name: str) -> list[str]:
    """Who the AccessReviews of request ``name`` record as reviewers (spec.reviewer.username, as admission
    stamped it), read by the admin."""
    listed = json.loads(gatepass.kubectl("get", "accessreviews", "-o", "json").stdout)
    return sorted(item["spec"]["reviewer"]["username"] for item in listed["items"]
                  if item["spec"]["request"] == name)


def csrf_of(html: str) -> str:
    """The CSRF token a page of the UI carries in its forms."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found[1]


def live_region(response) -> bool:
    return "/fragments/" in response.url


def goto_live(page, url: str):
    """Open a page of the UI and wait until its live region has fetched itself again, as each does once its
    event stream is open (so that nothing typed afterwards is swapped away)."""
    with page.expect_response(live_region):
        answer = page.goto(url)
    return answer
