"""What every page handler is given for the signed-in user: who they are, their CSRF token, their API.

The server (``server``) makes one ``Session`` per signed-in browser and stores it on each aiohttp request
under ``SESSION``. Handlers never build a client themselves: ``call`` runs one of the plugin's blocking
``Kube`` methods with this user's credentials in a worker thread, ``requests`` gives the requests this user
can see (kept by this user's own watch), and ``changes`` yields their names as they change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol, TypeVar

from aiohttp import web

from gatepass.core.types import Identity

from ..kube import Kube

__all__ = ["SESSION", "Changes", "Session"]

T = TypeVar("T")

class Session(Protocol):
    """The signed-in user, as the API server authenticated them."""

    #: The user as the API server says (SelfSubjectReview), never from a header, cookie or form.
    me: Identity
    #: The token every state-changing form must send back as the ``csrf`` field (or X-CSRF-Token header).
    csrf: str

    async def call(self, fn: Callable[[Kube], T]) -> T:
        """``fn(kube)`` with this user's client, in a worker thread; ``CliError`` on an API failure."""
        ...

    async def requests(self) -> list[dict]:
        """Every AccessRequest this user may see, from this user's own watch once it has listed, else from a
        list call; ``CliError`` when the API server refuses that list."""
        ...

    def saw(self, obj: dict) -> None:
        """Record the API server's answer to this user's own write (a created or patched request), so that the
        next page shows it even before the watch's event for it arrives."""
        ...

    def changes(self) -> Changes:
        """The names of the AccessRequests this user can see, each time one is added, changed or deleted.

        Close it when done (``contextlib.aclosing``): it is an attachment to the user's running watch."""
        ...


class Changes(Protocol):
    """One open page's view of the user's watch: ``async for name in changes``."""

    def __aiter__(self) -> AsyncIterator[str]: ...

    async def __anext__(self) -> str: ...

    async def ready(self) -> None:
        """Return once every later change will be yielded (the watch has listed)."""
        ...

    def close(self) -> None: ...

    async def aclose(self) -> None: ...


#: The key under which the server stores the ``Session`` on every aiohttp request it lets through.
SESSION: web.RequestKey[Session] = web.RequestKey("gatepass.session", Session)
