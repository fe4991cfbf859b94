"""kopf's memory of each watched object, kept for none.

kopf keeps a record per object it has seen (by UID, until it sees it deleted): a memo, an error throttler,
and what its daemons, timers, indexes and resumable handlers need. Gatepass uses none of them: its
handlers are plain event handlers (``gatepass.controller.handlers``), with no daemons, timers, indexes,
patches or memo. The records are still some 800 bytes per object, and every request, review and managed
binding is watched: with 100,000 ended requests kept, that was some 80 MiB for nothing. ``Forgetful``
gives each event a fresh record, kept by no one: the one thing lost is kopf's throttling of an object's
events after an error outside the handlers (the next event of that object is processed at once).

The operator process hands it to ``kopf.operator(memories=...)``.
"""

from __future__ import annotations

from kopf._core.reactor.inventory import ResourceMemories, ResourceMemory


class Forgetful(ResourceMemories):
    """kopf's per-object memories, remembered for no object (see the module)."""

    async def recall(self, raw_body, *, memobase=None, noticed_by_listing: bool = False,
                     ephemeral: bool = False) -> ResourceMemory:
        return await super().recall(raw_body, memobase=memobase, noticed_by_listing=noticed_by_listing,
                                    ephemeral=True)
