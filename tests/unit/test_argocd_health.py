"""The Argo CD health check (manifests/gitops/argocd-health.lua), run by Lua 5.1 as Argo CD runs it,
on the statuses the core writes for each outcome of a request."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from lupa import lua51

from gatepass.core.reconcile import decide

from .core_factories import approve, at, dba_policy, dba_request, deny, revoke

SCRIPT = (Path(__file__).resolve().parents[2] / "manifests" / "gitops" / "argocd-health.lua").read_text()


def health(obj: dict) -> dict:
    """What Argo CD would say of `obj`: the script's {status, message}."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(SCRIPT)
    return {"status": result["status"], "message": result["message"]}


def request_object(status: dict | None) -> dict:
    obj = {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest",
           "metadata": {"name": "bob-dba", "generation": 1}, "spec": {"roles": ["dba"]}}
    if status is not None:
        obj["status"] = copy.deepcopy(status)
    return obj


def status_after(*steps) -> dict:
    """The status the core writes after each (reviews, revocation, now, start_time) step in turn."""
    status: dict = {}
    for reviews, revocation, now, request in steps:
        status = decide(request, dba_policy(), reviews, revocation, status, [], now).status
    return status


REQUEST = dba_request()
LATER = dba_request(start_time=at(hours=2))
CASES = {
    "pending": ([([], None, at(1), REQUEST)], "Progressing", "Pending: default: 0 of 1 approvals"),
    "approved, not started": ([([approve("alice", at(5))], None, at(6), LATER)], "Progressing",
                              "Approved: Access starts at 2026-03-01T12:00:00Z"),
    "granted": ([([approve("alice", at(5))], None, at(6), REQUEST)], "Healthy",
                "Approved: Bound dba in payments to bob until 2026-03-01T11:00:06Z"),
    "denied": ([([deny("alice", at(5))], None, at(6), REQUEST)], "Degraded", "Denied: Denied by alice"),
    "timed out": ([([], None, at(hours=1), REQUEST)], "Degraded",
                  "Expired: No decision before 2026-03-01T11:00:00Z"),
    "ended": ([([approve("alice", at(5))], None, at(6), REQUEST), ([approve("alice", at(5))], None, at(hours=2),
                                                                   REQUEST)],
              "Degraded", "Expired: Access ended at 2026-03-01T11:00:06Z"),
    "revoked": ([([], revoke("bob", at(5), "not needed"), at(6), REQUEST)], "Degraded",
                "Revoked: Revoked by bob: not needed"),
}


@pytest.mark.parametrize(("steps", "status", "message"), CASES.values(), ids=CASES.keys())
def test_each_outcome_has_its_health(steps, status, message):
    assert health(request_object(status_after(*steps))) == {"status": status, "message": message}


def test_a_request_the_operator_has_not_read_yet_is_progressing():
    waiting = {"status": "Progressing", "message": "Waiting for the operator to read the request"}
    assert health(request_object(None)) == waiting
    assert health(request_object({"state": "Pending"})) == waiting
    stale = request_object(status_after(([deny("alice", at(5))], None, at(6), REQUEST)))
    stale["metadata"]["generation"] = 2  # a newer spec than the status speaks of
    assert health(stale) == waiting


def test_the_script_is_lua_5_1():
    assert lua51.LuaRuntime().eval("_VERSION") == "Lua 5.1"
