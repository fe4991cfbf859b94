"""Two replicas, one active: the leader is killed mid-way through a grant, and the standby finishes it.

The suite's operator steps aside for the test (it hands its lease back); two operator processes run
with the RBAC of manifests/rbac and a short lease. In a cluster the webhook Service stops sending
admission reviews to a dead pod; here the webhook configurations are pointed at the survivor.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest

from gatepass.devcluster.operator import OperatorProcess
from gatepass.process.logs import audit_records

from .helpers import approve, bindings_of, can_i, create_request, get, parse_time, unique, wait_for, wait_state

pytestmark = pytest.mark.e2e

LEASE = ("--lease-duration=4", "--lease-renew-deadline=3", "--lease-retry-period=0.5")


def holder(gatepass) -> str | None:
    result = gatepass.kubectl("get", "lease", "gatepass-operator", "-n", "gatepass-system", "-o", "json", check=False)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)["spec"].get("holderIdentity")


def leading(operator: OperatorProcess) -> float:
    status, text = operator.get("/metrics")
    assert status == 200
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith("gatepass_leader "))


def audit_lines(operator: OperatorProcess, request: str) -> list[dict]:
    return [r for r in audit_records(operator.log()) if r.get("request") == request]


def events(gatepass, request: str) -> list[str]:
    out = json.loads(gatepass.kubectl("get", "events", "-n", "default", "--field-selector",
                                      f"involvedObject.name={request}", "-o", "json").stdout)
    return [event["reason"] for event in out["items"]]


def test_the_standby_takes_over_and_the_grant_ends_on_its_deadline(gatepass, tmp_path):
    cluster = gatepass.cluster
    gatepass.operator.stop()  # graceful: it hands the lease back
    first = OperatorProcess(cluster.plane, cluster.kubectl, tmp_path / "a", name="replica-a", extra_args=LEASE)
    second = OperatorProcess(cluster.plane, cluster.kubectl, tmp_path / "b", name="replica-b", extra_args=LEASE)
    try:
        first.start()
        wait_for(lambda: holder(gatepass) == "replica-a", timeout=30, what="replica-a to lead")
        second.start(install_webhooks=False)
        assert second.get("/readyz") == (200, "ok")  # a standby is ready: it answers admission too
        assert leading(first) == 1 and leading(second) == 0

        name = unique("failover")
        create_request(gatepass, name, duration="20s")
        approve(gatepass, name)
        body = wait_state(gatepass, name, "Approved")
        expires_at = parse_time(body["status"]["expiresAt"])
        [binding] = wait_for(lambda: bindings_of(gatepass, name), what="the binding")
        assert can_i(gatepass, "bob") == "yes"

        first.kill()  # SIGKILL mid-grant: no chance to hand the lease back
        killed = time.monotonic()
        second.install_webhooks()  # what the Service does when the dead pod's endpoint goes
        wait_for(lambda: holder(gatepass) == "replica-b", timeout=60, what="replica-b to take over")
        took_over = time.monotonic() - killed
        assert leading(second) == 1

        if (expires_at - datetime.now(timezone.utc)).total_seconds() > 2:
            # Taking over re-read everything: the live grant's binding is the same object, not a new one.
            assert [b["metadata"]["uid"] for b in bindings_of(gatepass, name)] == [binding["metadata"]["uid"]]

        seconds_left = (expires_at - datetime.now(timezone.utc)).total_seconds()
        ended = wait_state(gatepass, name, "Expired", timeout=max(seconds_left, 0) + 60)
        assert bindings_of(gatepass, name) == []
        assert can_i(gatepass, "bob") == "no"
        # Not extended, not granted twice.
        assert ended["status"]["expiresAt"] == body["status"]["expiresAt"]
        assert ended["status"]["grantedAt"] == body["status"]["grantedAt"]
        wait_for(lambda: "Expired" in events(gatepass, name), what="the Expired event")
        assert events(gatepass, name).count("Granted") == 1
        assert [line["event"] for line in audit_lines(second, name)] == ["Expired"]
        assert [line["event"] for line in audit_lines(first, name)].count("Granted") == 1
        applied = [line for op in (first, second) for line in op.log().splitlines()
                   if "Applied RoleBinding" in line and binding["metadata"]["name"] in line]
        assert len(applied) == 1, applied

        status, text = second.get("/metrics")
        lag = [line for line in text.splitlines() if line.startswith('gatepass_expiry_lag_seconds_sum{deadline="access"}')]
        print(f"\nreplica-b held the lease {took_over:.1f}s after replica-a was killed (lease duration 4s) "
              f"and ended the grant {float(lag[0].split()[-1]) * 1000:.0f} ms after its deadline")
    finally:
        second.stop()
        first.stop()
        gatepass.operator.start()
