"""kopf keeps no per-object record for Gatepass's watches (gatepass.controller.memories)."""

from __future__ import annotations

import asyncio

import kopf

from gatepass.controller.memories import Forgetful


def test_no_object_is_remembered_and_each_event_gets_a_fresh_memo():
    memories = Forgetful()
    body = {"metadata": {"uid": "u1", "name": "bob-dba"}}

    async def recall():
        first = await memories.recall(body, memobase=kopf.Memo(), noticed_by_listing=True)
        second = await memories.recall(body, memobase=kopf.Memo())
        return first, second

    first, second = asyncio.run(recall())
    assert first is not second and first.noticed_by_listing
    assert list(memories.iter_all_memories()) == []
    asyncio.run(memories.forget(body))  # a deletion forgets nothing, and that is fine


def test_kopf_takes_it_as_its_memories():
    import inspect

    assert "memories" in inspect.signature(kopf.operator).parameters
