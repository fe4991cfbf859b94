"""Changes that land while the operator is reconciling the same request are never lost.

A reviewer may deny (or the requester revoke) a request in the very moment the operator writes its first
status. The API server answers that status write with the whole object, the reviewer's change included;
every such change must still be decided on. Here many requests are created and denied back to back, in
parallel, as bob and alice through their own credentials, and every one of them must end Denied.

On an idle operator the window is narrow (it widens under load, where it was found), so this end-to-end
check may pass without the fix; tests/unit/test_store_writes.py holds the change back deterministically.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from .helpers import request_manifest, unique, wait_for

pytestmark = pytest.mark.e2e

COUNT = 40


def test_requests_denied_right_after_their_creation_all_end_denied(gatepass):
    bob, alice = gatepass.cluster.custom("bob"), gatepass.cluster.custom("alice")
    prefix = unique("race")
    names = [f"{prefix}-{i}" for i in range(COUNT)]

    def create_then_deny(name: str) -> None:
        bob.create_cluster_custom_object("gatepass.dev", "v1alpha1", "accessrequests",
                                         json.loads(request_manifest(name)))
        alice.patch_cluster_custom_object("gatepass.dev", "v1alpha1", "accessrequests", name,
                                          {"metadata": {"annotations": {"gatepass.dev/deny": "not today"}}})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create_then_deny, names))

    def states() -> dict[str, str]:
        items = json.loads(gatepass.kubectl("get", "accessrequests", "-o", "json").stdout)["items"]
        return {i["metadata"]["name"]: (i.get("status") or {}).get("state") for i in items
                if i["metadata"]["name"].startswith(prefix)}

    try:
        wait_for(lambda: (s := states()) and all(v == "Denied" for v in s.values()) and len(s) == COUNT,
                 timeout=60, what=f"all {COUNT} requests to be Denied")
    finally:
        seen = states()
        stuck = {name: state for name, state in seen.items() if state != "Denied"}
        assert not stuck, f"{len(stuck)} of {COUNT} not Denied: {stuck}"
        gatepass.kubectl("delete", "accessrequests", *names, "--wait=false", check=False)
