"""Small local stand-ins for the services notifications go to, started by the tests.

* ``FakeSlack``: the Slack Web API methods Gatepass calls (``chat.postMessage``,
  ``chat.update``, ``conversations.open``), answered as Slack answers them
  (``{"ok": true, "channel": ..., "ts": ...}``; ``ok: false`` with Slack's error
  names otherwise), with the bearer token checked. It keeps every call and the
  current text and blocks of every message, and offers ``response_url``s whose
  POSTs it records, as Slack does for button clicks.
* ``WebhookReceiver``: takes the operator's signed webhook POSTs, verifies the
  ``X-Gatepass-Signature`` and records them. The paths ``/fail`` (answers 500)
  and ``/hang`` (answers only when the test run ends) stand for broken receivers.
* ``FakePagerDuty``: the Events API v2 ``/v2/enqueue`` endpoint, keeping each
  incident's state by ``dedup_key``.

Each runs a ``ThreadingHTTPServer`` on a free loopback port in a thread of the
test process; ``close()`` stops it.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Call:
    """One HTTP request a fake received."""

    path: str
    headers: dict[str, str]
    body: bytes
    args: dict[str, Any]  # the JSON body, else the form fields and query parameters
    time: float = field(default_factory=time.time)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A client that closed its connection (a timeout, a pool shutting down) is not the test's business."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Server:
    """A threaded HTTP server whose handler calls ``self.handle(call) -> (status, json body)``."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        self.closing = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                args: dict[str, Any] = dict(parse_qsl(url.query))
                kind = self.headers.get("Content-Type", "")
                if body and "json" in kind:
                    try:
                        args.update(json.loads(body))
                    except ValueError:
                        pass
                elif body:
                    args.update(parse_qsl(body.decode(errors="replace")))
                call = Call(url.path, {k.lower(): v for k, v in self.headers.items()}, body, args)
                with owner.lock:
                    owner.calls.append(call)
                status, answer = owner.handle(call)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (a timeout): nothing to answer
                    pass

            def log_message(self, *_: Any) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name=type(self).__name__, daemon=True)
        self.thread.start()

    def handle(self, call: Call) -> tuple[int, Any]:
        raise NotImplementedError

    def received(self, path: str | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if path is None or c.path == path]

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


class FakeSlack(_Server):
    """The Slack Web API at ``api_url`` (``.../api/``), for the bot token ``token``."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.api_url = f"{self.url}/api/"
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}  # (channel ID, ts) -> latest text and blocks
        self._ts = itertools.count(1)

    @staticmethod
    def channel_id(channel: str) -> str:
        """The ID Slack answers for a channel name ("#access-requests" -> "CACCESSREQUESTS")."""
        if not channel.startswith("#"):
            return channel
        return "C" + "".join(c for c in channel[1:].upper() if c.isalnum())

    @staticmethod
    def dm_channel(user: str) -> str:
        """The direct-message channel conversations.open answers for a user ID."""
        return "D" + user

    def response_url(self, key: str) -> str:
        """A response_url, as Slack puts in an interaction payload; POSTs to it are recorded."""
        return f"{self.url}/response/{key}"

    def responses(self, key: str) -> list[dict[str, Any]]:
        return [call.args for call in self.received(f"/response/{key}")]

    def api_calls(self, method: str | None = None) -> list[Call]:
        """The Web API calls received, all or of one method ("chat.postMessage")."""
        prefix = "/api/"
        return [c for c in self.received() if c.path.startswith(prefix)
                and (method is None or c.path == prefix + method)]

    def handle(self, call: Call) -> tuple[int, Any]:
        if call.path.startswith("/response/"):
            return 200, {"ok": True}
        if not call.path.startswith("/api/"):
            return 404, {"ok": False, "error": "unknown_method"}
        if call.headers.get("authorization") != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}
        method = call.path[len("/api/"):]
        args = call.args
        with self.lock:
            if method == "chat.postMessage":
                if not args.get("channel"):
                    return 200, {"ok": False, "error": "channel_not_found"}
                channel, ts = self.channel_id(str(args["channel"])), f"{time.time():.0f}.{next(self._ts):06d}"
                message = {"text": args.get("text", ""), "blocks": args.get("blocks") or []}
                self.messages[(channel, ts)] = message
                return 200, {"ok": True, "channel": channel, "ts": ts, "message": message}
            if method == "chat.update":
                key = (self.channel_id(str(args.get("channel", ""))), str(args.get("ts", "")))
                if key not in self.messages:
                    return 200, {"ok": False, "error": "message_not_found"}
                self.messages[key] = {"text": args.get("text", ""), "blocks": args.get("blocks") or []}
                return 200, {"ok": True, "channel": key[0], "ts": key[1], "text": args.get("text", "")}
            if method == "conversations.open":
                users = str(args.get("users", ""))
                if not users or "," in users:
                    return 200, {"ok": False, "error": "user_not_found" if not users else "not_supported"}
                return 200, {"ok": True, "channel": {"id": self.dm_channel(users)}}
        return 200, {"ok": False, "error": "unknown_method"}

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self.lock:
            return self.messages.get((self.channel_id(channel), ts))


@dataclass
class Delivery:
    """One webhook POST: its event, headers, body and whether its signature was right."""

    event: str
    headers: dict[str, str]
    payload: dict[str, Any]
    verified: bool
    path: str


class WebhookReceiver(_Server):
    """Receives Gatepass webhooks signed with ``secret``. ``/fail`` answers 500; ``/hang`` never answers
    in time."""

    def __init__(self, secret: str, hang_seconds: float = 120.0) -> None:
        super().__init__()
        self.secret = secret
        self.hang_seconds = hang_seconds

    @staticmethod
    def signature(secret: str, timestamp: str, body: bytes) -> str:
        """The X-Gatepass-Signature value for ``body`` sent at ``timestamp``."""
        digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return f"sha256={digest}"

    def verify(self, call: Call) -> bool:
        timestamp = call.headers.get("x-gatepass-timestamp", "")
        expected = self.signature(self.secret, timestamp, call.body)
        return bool(timestamp) and hmac.compare_digest(expected, call.headers.get("x-gatepass-signature", ""))

    def handle(self, call: Call) -> tuple[int, Any]:
        if call.path == "/fail":
            return 500, {"error": "the receiver is broken"}
        if call.path == "/hang":
            self.closing.wait(self.hang_seconds)
            return 504, {"error": "too late"}
        return (200, {"ok": True}) if self.verify(call) else (401, {"error": "bad signature"})

    def deliveries(self, path: str = "/hook", request: str | None = None) -> list[Delivery]:
        """The POSTs to ``path``, optionally only those about one request (by name)."""
        found = []
        for call in self.received(path):
            try:
                payload = json.loads(call.body)
            except ValueError:
                payload = {}
            if request is not None and (payload.get("request") or {}).get("name") != request:
                continue
            found.append(Delivery(call.headers.get("x-gatepass-event", ""), call.headers, payload,
                                  self.verify(call), call.path))
        return found


class FakePagerDuty(_Server):
    """The PagerDuty Events API v2 at ``events_url``, accepting one routing key."""

    def __init__(self, routing_key: str) -> None:
        super().__init__()
        self.routing_key = routing_key
        self.events_url = f"{self.url}/v2/enqueue"
        self.incidents: dict[str, str] = {}  # dedup_key -> "triggered" | "resolved"

    def handle(self, call: Call) -> tuple[int, Any]:
        if call.path != "/v2/enqueue":
            return 404, {"status": "invalid event", "message": "not found"}
        event = call.args
        if event.get("routing_key") != self.routing_key:
            return 400, {"status": "invalid event", "message": "Event object is invalid",
                         "errors": ["Invalid routing key"]}
        action = event.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            return 400, {"status": "invalid event", "message": "Event object is invalid",
                         "errors": ["'event_action' is invalid"]}
        key = event.get("dedup_key") or f"generated-{len(self.calls)}"
        if action == "trigger":
            payload = event.get("payload") or {}
            if not all(payload.get(f) for f in ("summary", "source", "severity")):
                return 400, {"status": "invalid event", "message": "Event object is invalid",
                             "errors": ["'payload' is missing summary, source or severity"]}
        with self.lock:
            if action == "trigger":
                self.incidents[key] = "triggered"
            elif action == "resolve" and key in self.incidents:
                self.incidents[key] = "resolved"
        return 202, {"status": "success", "message": "Event processed", "dedup_key": key}

    def events(self, dedup_key: str | None = None) -> list[dict[str, Any]]:
        return [c.args for c in self.received("/v2/enqueue")
                if dedup_key is None or c.args.get("dedup_key") == dedup_key]
