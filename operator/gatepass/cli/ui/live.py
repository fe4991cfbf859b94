"""One user's watch of AccessRequests, fanned out to that user's open pages.

A ``Watch`` belongs to one user and uses that user's own client (a ``Kube.twin()``, so the watch thread
never shares a connection with the page handlers). While at least one ``Subscription`` is open it runs one
thread: list (for a resourceVersion), then ``Kube.watch_requests`` from it, renewed when it times out and
relisted when the version has expired (410). Every event's request name is handed to the event loop with
``call_soon_threadsafe`` and queued for every subscriber. When the last subscriber leaves, the thread stops
at its next event or renewal (it is a daemon: it never holds up the process's exit). When the API server
refuses the watch (an expired token, a revoked permission), every subscription ends, so that the browser
reconnects with fresh credentials instead of waiting on a dead stream.

``Subscription.ready()`` returns once the watch thread has listed, so that every change after that moment
reaches the subscriber: a page that fetches its content again after its stream opened (the templates do,
on htmx's ``htmx:sseOpen``) misses nothing that changed between its first rendering and its subscription.

It may touch: the user's ``Kube`` (its watch and list calls), one thread, the event loop it is given.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from ..errors import CliError
from ..kube import Expired, Kube

__all__ = ["Subscription", "Watch"]

#: Seconds one watch call stays open before it is renewed (and a stopped watch notices it should end).
RENEW_AFTER = 30
#: Names queued for one subscriber before the oldest are dropped (a page that reads nothing).
BACKLOG = 1000

_END = None  # queued for a subscriber when its stream ends
_LISTED = object()  # handed to the event loop once the thread has listed; never queued for a subscriber


class Subscription:
    """The names of requests as they change, for one open page; ``async for name in subscription``.

    ``__anext__`` may be cancelled (e.g. by a heartbeat timeout) without losing the subscription. Close it
    when done (``close()``, or ``async with contextlib.aclosing(session.changes()) as changes``): the
    user's watch runs while any subscription is open."""

    def __init__(self, watch: Watch) -> None:
        self._watch = watch
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(BACKLOG)
        self.closed = False

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> str:
        if self.closed:
            raise StopAsyncIteration
        name = await self._queue.get()
        if name is _END:
            self.close()
            raise StopAsyncIteration
        return name

    async def ready(self) -> None:
        """Wait until the watch has listed: every change after this returns is queued for this subscriber."""
        await self._watch.ready()

    def put(self, name: str | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(name)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._watch.leave(self)

    async def aclose(self) -> None:
        self.close()


class Watch:
    """The watch of one user, run while anyone subscribes (see the module doc)."""

    def __init__(self, kube: Kube, loop: asyncio.AbstractEventLoop, *, log: Callable[[str], None],
                 user: str = "", renew_after: int = RENEW_AFTER) -> None:
        self._kube = kube
        self._loop = loop
        self._log = log
        self._user = user
        self._renew_after = renew_after
        self._subscribers: set[Subscription] = set()
        self._stop: threading.Event | None = None
        self._listed = asyncio.Event()
        self._thread: threading.Thread | None = None

    @property
    def watching(self) -> bool:
        return bool(self._subscribers)

    def subscribe(self) -> Subscription:
        """A new subscription; starts the thread if none runs."""
        subscription = Subscription(self)
        self._subscribers.add(subscription)
        if self._stop is None:
            self._stop = threading.Event()
            self._listed = asyncio.Event()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), daemon=True,
                                            name=f"gatepass-ui-watch {self._user}")
            self._thread.start()
        return subscription

    async def ready(self) -> None:
        """Wait until the running thread has listed (at once when it has, or when no thread runs)."""
        await self._listed.wait()

    def leave(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)
        if not self._subscribers:
            self.stop()

    def stop(self) -> None:
        """Ends every subscription and the thread (at its next event or renewal)."""
        if self._stop is not None:
            self._stop.set()
            self._stop = None
        self._listed.set()  # nothing to wait for any more
        for subscription in list(self._subscribers):
            subscription.put(_END)
        self._subscribers.clear()

    # -- in the event loop -----------------------------------------------------------

    def _publish(self, name: str | None | object, stop: threading.Event) -> None:
        if stop.is_set():
            return
        if name is _LISTED:
            self._listed.set()
            return
        for subscription in list(self._subscribers):
            subscription.put(name)
        if name is _END:
            self._listed.set()
            self._subscribers.clear()
            if self._stop is stop:
                self._stop = None

    # -- in the watch thread ------------------------------------------------------------

    def _send(self, name: str | None | object, stop: threading.Event) -> None:
        try:
            self._loop.call_soon_threadsafe(self._publish, name, stop)
        except RuntimeError:  # the loop is closed: the process is stopping
            stop.set()

    def _run(self, stop: threading.Event) -> None:
        try:
            version, relisting = "", False
            while not stop.is_set():
                if not version:
                    items, version = self._kube.list_requests_with_version()
                    for name in (str((obj.get("metadata") or {}).get("name") or "") for obj in items):
                        if relisting and name:
                            self._send(name, stop)  # events may have been missed while the version expired
                    self._send(_LISTED, stop)
                try:
                    for _kind, obj in self._kube.watch_requests(version, timeout=self._renew_after):
                        metadata = obj.get("metadata") or {}
                        version = str(metadata.get("resourceVersion") or version)
                        if stop.is_set():
                            return
                        if metadata.get("name"):
                            self._send(str(metadata["name"]), stop)
                except Expired:
                    version, relisting = "", True
        except CliError as error:
            self._log(f'ui: watch ended user="{self._user}" reason="{error.message}"')
            self._send(_END, stop)
