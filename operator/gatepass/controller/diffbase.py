"""No diff base: kopf's essence of each watched object, built for none.

On every watch event kopf builds the object's "essence" (a deep copy of the
body without its status and system fields) and reads the last one stored in
its annotation, to tell the changing handlers (``on.create``/``on.update``/
``on.resume``) what changed. Gatepass registers none: its handlers are plain
event handlers (``gatepass.controller.handlers``), which are given the body
and compare nothing, and it never writes kopf's annotations. The copy was
the largest single cost of kopf's handling of an event. ``NoDiffBase`` builds
and reads nothing and stores nothing; kopf then sees no diff, which only
changing handlers would read.

The operator process sets it as ``settings.persistence.diffbase_storage``.
"""

from __future__ import annotations

from kopf import DiffBaseStorage


class NoDiffBase(DiffBaseStorage):
    """kopf's diff base, kept for no object (see the module)."""

    def build(self, *, body, extra_fields=None):
        return None

    def fetch(self, *, body):
        return None

    def store(self, *, body, patch, essence) -> None:
        return None
