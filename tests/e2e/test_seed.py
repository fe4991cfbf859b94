"""The seed scenario: bob asks for dba in payments, alice and ivan approve, access comes and goes."""

from __future__ import annotations


import pytest

from .helpers import can_i, get as get_object, request_manifest, wait_for

pytestmark = pytest.mark.e2e


def get(gatepass, name: str) -> dict:
    return get_object(gatepass, "accessrequest", name)


def can_bob(gatepass) -> str:
    return can_i(gatepass, "bob")


def test_seed_scenario(gatepass):
    created = gatepass.kubectl("apply", "-f", "-", user="bob", input=request_manifest("seed", duration="5s"))
    assert "created" in created.stdout
    body = wait_for(lambda: get(gatepass, "seed").get("status", {}).get("state") == "Pending"
                    and get(gatepass, "seed"), what="Pending")
    assert body["spec"]["requester"]["username"] == "bob"
    assert "developers" in body["spec"]["requester"]["groups"]

    table = gatepass.kubectl("get", "accessrequests", user="bob").stdout
    header = table.splitlines()[0].split()
    for column in ("NAME", "USER", "ROLES", "STATUS", "APPROVALS", "DENIALS", "EXPIRES", "AGE"):
        assert column in header
    assert "Pending" in table and "bob" in table

    gatepass.kubectl("annotate", "accessrequest", "seed", "gatepass.dev/approve=proceed with caution", user="alice")
    wait_for(lambda: get(gatepass, "seed")["status"].get("approvals") == 1, what="alice's approval")
    assert get(gatepass, "seed")["status"]["state"] == "Pending"
    assert can_bob(gatepass) == "no"

    gatepass.kubectl("annotate", "accessrequest", "seed", "gatepass.dev/approve=ok", user="ivan")
    body = wait_for(lambda: (b := get(gatepass, "seed"))["status"].get("state") == "Approved" and b,
                    what="Approved")
    assert body["status"]["expiresAt"]
    assert [r["reviewer"] for r in body["status"]["reviews"]] == ["alice", "ivan"]
    wait_for(lambda: can_bob(gatepass) == "yes", what="bob's access")

    wait_for(lambda: get(gatepass, "seed")["status"]["state"] == "Expired", timeout=15, what="Expired")
    assert can_bob(gatepass) == "no"
