"""kopf builds no essence of the watched objects (gatepass.controller.diffbase): the operator's handlers
still hear every event, and nothing the diff base was for is registered."""

from __future__ import annotations

import asyncio
import copy
import logging

import kopf
from kopf._cogs.structs import ephemera, references
from kopf._core.actions import lifecycles
from kopf._core.engines import indexing
from kopf._core.reactor import processing

from gatepass.controller import handlers
from gatepass.controller.diffbase import NoDiffBase
from gatepass.controller.memories import Forgetful
from gatepass.controller.store import Store
from gatepass.core.names import GROUP, REQUESTS, VERSION

REQUEST = {
    "apiVersion": f"{GROUP}/{VERSION}", "kind": "AccessRequest",
    "metadata": {"name": "bob-dba", "uid": "u1", "resourceVersion": "7",
                 "annotations": {"kopf.zalando.org/last-handled-configuration": '{"spec": {}}'}},
    "spec": {"role": "dba", "namespace": "payments", "duration": "1h", "reason": "incident"},
    "status": {"state": "Pending", "conditions": []},
}


class Keys:
    def __init__(self) -> None:
        self.added: list[str] = []

    def add(self, key: str) -> None:
        self.added.append(key)


def test_no_essence_is_built_read_or_stored():
    storage = NoDiffBase()
    body = kopf.Body(copy.deepcopy(REQUEST))
    patch = kopf.Patch()
    assert storage.build(body=body) is None and storage.fetch(body=body) is None
    storage.store(body=body, patch=patch, essence={"spec": {}})
    assert not patch


def test_the_watch_handlers_hear_every_event_and_nothing_is_patched(caplog):
    store, keys = Store(), Keys()
    registry = kopf.OperatorRegistry()
    handlers.register(registry, store, keys)
    settings = kopf.OperatorSettings()
    settings.persistence.diffbase_storage = NoDiffBase()
    resource = references.Resource(GROUP, VERSION, REQUESTS, namespaced=False)

    seen = []

    async def events():
        patched = []
        for kind, version, state in (("ADDED", "7", "Pending"), ("MODIFIED", "8", "Approved"), ("DELETED", "9", None)):
            body = copy.deepcopy(REQUEST)
            body["metadata"]["resourceVersion"] = version
            body["status"]["state"] = state or "Approved"
            patched.append(await processing.process_resource_event(
                lifecycle=lifecycles.all_at_once, registry=registry, settings=settings,
                indexers=indexing.OperatorIndexers(), memories=Forgetful(), memobase=ephemera.Memo(),
                resource=resource, raw_event={"type": kind, "object": body}, event_queue=asyncio.Queue()))
            seen.append("bob-dba" in store.requests)
        return patched

    with caplog.at_level(logging.DEBUG):
        assert asyncio.run(events()) == [None, None, None], "no patch: kopf writes nothing to the object"
    assert seen == [True, True, False], "every event reached the store, the deletion too"
    assert keys.added[:2] == ["bob-dba", "bob-dba"], "and queued the request"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_no_handler_that_would_read_the_diff_base_is_registered():
    """NoDiffBase is right only while kopf has no changing handlers (on.create/update/resume/delete/field)
    and no daemons or timers, which read the essence: adding one means removing NoDiffBase."""
    registry = kopf.OperatorRegistry()
    handlers.register(registry, Store(), Keys())
    assert registry._changing.get_all_handlers() == []
    assert registry._spawning.get_all_handlers() == []
    assert len(registry._watching.get_all_handlers()) == len(handlers.WATCHES)
