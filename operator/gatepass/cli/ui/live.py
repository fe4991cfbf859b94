"""One user's watch of AccessRequests: that user's view of the requests, and the changes for their open pages.

A ``Watch`` belongs to one user session and uses that user's own client (a ``Kube.twin()`` for each run of
its thread, so the thread never shares a connection with the page handlers or with a thread that is still
ending); nothing in it is shared with another user. It runs
one thread from ``start()`` (the session is made) until ``stop()`` (the session is dropped, or the server
stops): list once, then ``Kube.watch_requests`` from the list's resourceVersion, renewed when it times out
and relisted when the version has expired (410). ``stop()`` interrupts a watch call in progress, so no
thread outlives its session by more than the call it is in.

The thread hands what it sees to the event loop (``call_soon_threadsafe``), which keeps:
- the **view**: every request the list and the watch returned, by name (``managedFields`` left out), which
  ``view()`` gives the pages once the thread has listed. ``apply()`` puts in the answer of the user's own
  write (a create, a patch), so the page after a POST shows it before its watch event arrives; an object
  replaces the one the view holds only when its resourceVersion is newer.
- the **subscriptions**: every event's request name is queued for each open page (``subscribe()``); the
  pages attach to the running watch, with no list of their own.

When the API server refuses the list or the watch (an expired token, a revoked permission, RBAC without
``watch``), the thread ends: every subscription ends, so that the browser reconnects with fresh credentials
instead of waiting on a dead stream, and ``view()`` answers None so that the pages list for themselves and
show the API server's refusal. A new subscription starts the thread again; ``view()`` does once
``RETRY_AFTER`` seconds have passed since it ended.

``Subscription.ready()`` returns once the watch thread has listed, so that every change after that moment
reaches the subscriber: a page that fetches its content again after its stream opened (the templates do,
on htmx's ``htmx:sseOpen``) misses nothing that changed between its first rendering and its subscription.

It may touch: the user's ``Kube`` (its watch, list and interrupt calls), one thread, the event loop it is
given.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping

from ..errors import CliError
from ..kube import Expired, Kube

__all__ = ["Subscription", "Watch"]

#: Seconds one watch call stays open before it is renewed.
RENEW_AFTER = 30
#: Names queued for one subscriber before the oldest are dropped (a page that reads nothing).
BACKLOG = 1000
#: Seconds after the watch ended (refused) before a page's ``view()`` starts it again.
RETRY_AFTER = 30.0

_END = None  # queued for a subscriber when its stream ends


class Subscription:
    """The names of requests as they change, for one open page; ``async for name in subscription``.

    ``__anext__`` may be cancelled (e.g. by a heartbeat timeout) without losing the subscription. Close it
    when done (``close()``, or ``async with contextlib.aclosing(session.changes()) as changes``)."""

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
        await self._watch.settled()

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


def _version(obj: Mapping) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _newer(obj: Mapping, than: Mapping | None) -> bool:
    """Whether ``obj`` is a later state than ``than`` (resourceVersions compared as the API server's integers;
    one that is not an integer counts as newer)."""
    if than is None:
        return True
    try:
        return int(_version(obj)) > int(_version(than))
    except ValueError:
        return True


def _lean(obj: dict) -> dict:
    """The object without its managedFields, which no page shows."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and "managedFields" in metadata:
        obj = {**obj, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}
    return obj


class Watch:
    """The watch of one user session and its view of the requests (see the module doc)."""

    def __init__(self, kube: Kube, loop: asyncio.AbstractEventLoop, *, log: Callable[[str], None],
                 user: str = "", renew_after: int = RENEW_AFTER, clock: Callable[[], float] | None = None) -> None:
        self._kube = kube
        self._loop = loop
        self._log = log
        self._user = user
        self._renew_after = renew_after
        self._clock = clock or loop.time
        self._subscribers: set[Subscription] = set()
        self._stop: threading.Event | None = None
        self._settled = asyncio.Event()  # the running thread has listed, or no thread runs
        self._settled.set()
        self._listed = False
        self._ended_at: float | None = None
        self._objects: dict[str, dict] = {}
        self._running: Kube | None = None  # the client of the running thread
        self.thread: threading.Thread | None = None

    @property
    def watching(self) -> bool:
        """Whether any page is subscribed."""
        return bool(self._subscribers)

    @property
    def running(self) -> bool:
        return self._stop is not None

    def start(self) -> None:
        """Start the thread (list, then watch) unless it runs."""
        if self._stop is not None:
            return
        self._stop = threading.Event()
        self._settled = asyncio.Event()
        self._listed = False
        self._objects = {}
        self._running = self._kube.twin()
        self.thread = threading.Thread(target=self._run, args=(self._running, self._stop), daemon=True,
                                       name=f"gatepass-ui-watch {self._user}")
        self.thread.start()

    def subscribe(self) -> Subscription:
        """A new subscription to the running watch (started again if it had ended)."""
        subscription = Subscription(self)
        self._subscribers.add(subscription)
        self.start()
        return subscription

    async def settled(self) -> None:
        """Wait until the running thread has listed (at once when it has, or when no thread runs)."""
        await self._settled.wait()

    async def view(self, timeout: float) -> list[dict] | None:
        """Every request the watch holds, once it has listed (waiting at most ``timeout`` seconds); None when
        it has not listed by then or cannot run (the caller then lists for itself)."""
        if self._stop is None and (self._ended_at is None or self._clock() - self._ended_at >= RETRY_AFTER):
            self.start()
        if self._stop is None:
            return None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), timeout)
        if self._stop is None or not self._listed:
            return None
        return list(self._objects.values())

    def apply(self, obj: Mapping) -> None:
        """Put the answer of the user's own write into the view (if it is newer than what the view holds)."""
        name = str((obj.get("metadata") or {}).get("name") or "")
        if self._listed and name and _newer(obj, self._objects.get(name)):
            self._objects[name] = _lean(dict(obj))

    def leave(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def stop(self) -> None:
        """Ends every subscription and the thread (its watch call is interrupted)."""
        if self._stop is not None:
            self._stop.set()
            self._stop = None
            if self._running is not None:
                self._running.interrupt()
                self._running = None
        self._listed = False
        self._objects = {}
        self._settled.set()  # nothing to wait for any more
        for subscription in list(self._subscribers):
            subscription.put(_END)
        self._subscribers.clear()

    # -- in the event loop -----------------------------------------------------------

    def _notify(self, names: Iterable[str]) -> None:
        for name in names:
            for subscription in list(self._subscribers):
                subscription.put(name)

    def _listed_all(self, items: list[dict], relisting: bool, stop: threading.Event) -> None:
        if stop is not self._stop:
            return
        before = self._objects
        self._objects = {str(obj["metadata"]["name"]): obj for obj in items}
        self._listed = True
        self._settled.set()
        if relisting:  # events may have been missed while the version expired
            self._notify(sorted(set(before) | set(self._objects)))

    def _changed(self, kind: str, obj: dict, stop: threading.Event) -> None:
        if stop is not self._stop:
            return
        name = str(obj["metadata"]["name"])
        held = self._objects.get(name)
        if kind == "DELETED":
            if held is None or _newer(obj, held) or _version(obj) == _version(held):
                self._objects.pop(name, None)
        elif _newer(obj, held):
            self._objects[name] = obj
        self._notify((name,))

    def _ended(self, stop: threading.Event) -> None:
        if stop is not self._stop:
            return
        self._stop, self._running = None, None  # the thread is ending by itself
        self._ended_at = self._clock()
        self.stop()

    # -- in the watch thread ------------------------------------------------------------

    def _send(self, stop: threading.Event, fn: Callable[..., None], *args: object) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args, stop)
        except RuntimeError:  # the loop is closed: the process is stopping
            stop.set()

    def _run(self, kube: Kube, stop: threading.Event) -> None:
        try:
            version, relisting = "", False
            while not stop.is_set():
                if not version:
                    items, version = kube.list_requests_with_version()
                    items = [_lean(obj) for obj in items if (obj.get("metadata") or {}).get("name")]
                    self._send(stop, self._listed_all, items, relisting)
                try:
                    for kind, obj in kube.watch_requests(version, timeout=self._renew_after):
                        if stop.is_set():
                            return
                        version = _version(obj) or version
                        if (obj.get("metadata") or {}).get("name"):
                            self._send(stop, self._changed, kind, _lean(obj))
                except Expired:
                    version, relisting = "", True
        except CliError as error:
            if not stop.is_set():
                self._log(f'ui: watch ended user="{self._user}" reason="{error.message}"')
                self._send(stop, self._ended)
