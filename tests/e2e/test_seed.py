"""The seed scenario: bob asks for dba in payments, alice and ivan approve, access comes and goes."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.e2e


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def request_yaml(name: str, duration: str = "1h", **extra) -> str:
    spec = {"roles": ["dba"], "namespaces": ["payments"], "duration": duration,
            "reason": "ticket #123", "reviewers": ["alice", "ivan"], **extra}
    return json.dumps({"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest",
                       "metadata": {"name": name}, "spec": spec})


def get(gatepass, name: str) -> dict:
    return json.loads(gatepass.kubectl("get", "accessrequest", name, "-o", "json").stdout)


def can_bob(gatepass) -> str:
    return gatepass.kubectl("auth", "can-i", "get", "secrets", "-n", "payments", "--as", "bob",
                            check=False).stdout.strip()


def test_seed_scenario(gatepass):
    created = gatepass.kubectl("apply", "-f", "-", user="bob", input=request_yaml("seed", duration="5s"))
    assert "created" in created.stdout
    body = wait_for(lambda: get(gatepass, "seed").get("status", {}).get("state") == "Pending"
                    and get(gatepass, "seed"), what="Pending")
    assert body["spec"]["requester"]["username"] == "bob"
    assert "developers" in body["spec"]["requester"]["groups"]

    table = gatepass.kubectl("get", "accessrequests", user="bob").stdout
    header = table.splitlines()[0].split()
    for column in ("NAME", "USER", "ROLES", "STATUS", "CREATED", "EXPIRES"):
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
