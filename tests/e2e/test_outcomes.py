"""What people and pipelines see of a request with kubectl alone, against the real API server and operator:
its columns, `kubectl wait` on its outcome, and its history, as bob (the requester) and alice (a reviewer)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from .helpers import approve, create_request, get, unique, wait_for, wait_state

pytestmark = pytest.mark.e2e

# docs/concepts.md ("Waiting on a request"): what a pipeline runs. The timeout is far longer than any
# decision here takes: a wait that only ended at its timeout would exit 1 ("timed out waiting").
WAIT_TIMEOUT = "300s"


@pytest.fixture(autouse=True)
def no_grant_left(gatepass):
    """Later tests start from bob holding nothing in payments: what these tests approve is revoked after."""
    yield
    items = json.loads(gatepass.kubectl("get", "accessrequests", "-o", "json").stdout)["items"]
    for item in items:
        if ((item["spec"].get("requester") or {}).get("username") == "bob"
                and (item.get("status") or {}).get("state") in ("Pending", "Approved")):
            gatepass.kubectl("annotate", "accessrequest", item["metadata"]["name"],
                             "gatepass.dev/revoke=test clean-up", check=False)
    wait_for(lambda: gatepass.kubectl("auth", "can-i", "get", "secrets", "-n", "payments", user="bob",
                                      check=False).stdout.strip() == "no", what="bob to hold no grant")


def start_wait(gatepass, name: str, condition: str, user: str = "bob") -> subprocess.Popen:
    kubectl = gatepass.cluster.kubectl
    return subprocess.Popen(
        [str(kubectl.binary), f"--kubeconfig={kubectl.kubeconfig}", f"--context={user}", "wait",
         f"accessrequest/{name}", f"--for=condition={condition}", f"--timeout={WAIT_TIMEOUT}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(wait: subprocess.Popen) -> tuple[int, str]:
    try:
        out, err = wait.communicate(timeout=320)
    except subprocess.TimeoutExpired:
        wait.kill()
        raise
    return wait.returncode, (out + err).strip()


def state_as(gatepass, name: str, user: str) -> str:
    return gatepass.kubectl("get", f"accessrequest/{name}", "-o", "jsonpath={.status.state}", user=user).stdout


def get_as(gatepass, name: str, user: str) -> dict:
    return json.loads(gatepass.kubectl("get", "accessrequest", name, "-o", "json", user=user).stdout)


def test_kubectl_wait_for_decided_returns_when_a_request_is_denied(gatepass):
    name = unique("wait-denied")
    create_request(gatepass, name)
    wait = start_wait(gatepass, name, "Decided")
    try:
        gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/deny=not now", user="alice")
    finally:
        code, output = finished(wait)
    assert (code, output) == (0, f"accessrequest.gatepass.dev/{name} condition met")
    assert state_as(gatepass, name, "bob") == "Denied"
    # once decided, a wait returns at once, and the grant is never to come
    assert finished(start_wait(gatepass, name, "Decided"))[0] == 0
    assert finished(start_wait(gatepass, name, "Stalled"))[0] == 0


def test_kubectl_wait_for_decided_then_ready_when_a_request_is_approved(gatepass):
    name = unique("wait-approved")
    create_request(gatepass, name)
    wait = start_wait(gatepass, name, "Decided")
    try:
        approve(gatepass, name)  # alice and ivan: the demo policy's two leads
    finally:
        code, output = finished(wait)
    assert (code, output) == (0, f"accessrequest.gatepass.dev/{name} condition met")
    assert state_as(gatepass, name, "bob") == "Approved"
    assert finished(start_wait(gatepass, name, "Ready")) == (0, f"accessrequest.gatepass.dev/{name} condition met")
    conditions = {c["type"]: c["status"] for c in get(gatepass, "accessrequest", name)["status"]["conditions"]}
    assert conditions == {"Approved": "True", "Denied": "False", "Decided": "True", "Ready": "True",
                          "Reconciling": "False", "Stalled": "False", "Granted": "True"}


def test_kubectl_get_shows_plain_roles_a_readable_expiry_and_denials(gatepass):
    name = unique("columns")
    create_request(gatepass, name)
    pending = gatepass.kubectl("get", "accessrequest", name, "--no-headers", user="bob").stdout.split()
    assert pending[:6] == [name, "bob", "dba", "Pending", "0", "0"]
    assert len(pending) == 7 and re.fullmatch(r"\d+[smhd]", pending[6]), pending  # EXPIRES is empty
    approve(gatepass, name)
    body = wait_state(gatepass, name, "Approved")
    expires = wait_for(lambda: get(gatepass, "accessrequest", name)["status"].get("expiresAt"), what="expiresAt")
    table = gatepass.kubectl("get", "accessrequest", name, user="bob").stdout.splitlines()
    assert table[0].split() == ["NAME", "USER", "ROLES", "STATUS", "APPROVALS", "DENIALS", "EXPIRES", "AGE"]
    row = table[1].split()
    assert row[:7] == [name, "bob", "dba", "Approved", "2", "0", expires]
    assert re.fullmatch(r"\d+[smhd]", row[7]), row
    wide = gatepass.kubectl("get", "accessrequest", name, "-o", "wide", user="alice").stdout.splitlines()
    assert wide[0].split()[8:10] == ["NAMESPACES", "POLICY"]
    assert wide[1].split()[8:10] == ["payments", body["status"]["policy"]]

    denied = unique("columns-denied")
    create_request(gatepass, denied)
    gatepass.kubectl("annotate", "accessrequest", denied, "gatepass.dev/deny=no", user="alice")
    wait_state(gatepass, denied, "Denied")
    row = gatepass.kubectl("get", "accessrequest", denied, "--no-headers", user="bob").stdout.split()
    assert row[1:6] == ["bob", "dba", "Denied", "0", "1"]  # no expiry: the column is empty


def test_the_requester_and_a_reviewer_see_the_history_without_reading_events(gatepass):
    name = unique("history")
    create_request(gatepass, name)
    gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/deny=not this week", user="alice")
    wait_state(gatepass, name, "Denied")
    wanted = [("Requested", "bob"), ("Reviewed", "alice"), ("Denied", None)]
    for user in ("bob", "alice"):
        # neither may read the Events (RBAC cannot narrow Events to one object): the history is in the request
        assert gatepass.kubectl("auth", "can-i", "list", "events", "-n", "default", user=user,
                                check=False).stdout.strip() == "no"
        history = wait_for(lambda: get_as(gatepass, name, user)["status"].get("history"), what="history")
        assert [(h["reason"], h.get("by")) for h in history] == wanted
        described = gatepass.kubectl("describe", "accessrequest", name, user=user).stdout
        assert "History:" in described
        assert 'alice denied bob\'s request for dba in payments (via annotation): "not this week"' in described
        assert "Denied bob's request for dba in payments (denials: alice)" in described
    # the Events are kept too, for whoever may read them
    events = gatepass.kubectl("get", "events", "-n", "default", "--field-selector",
                              f"involvedObject.name={name}", "-o", "jsonpath={.items[*].reason}").stdout.split()
    assert {"Reviewed", "Denied"} <= set(events)


def test_who_may_not_read_the_request_sees_none_of_its_history(gatepass):
    name = unique("history-hidden")
    create_request(gatepass, name)
    # an authenticated user holding none of the Gatepass roles
    result = gatepass.kubectl("get", "accessrequest", name, "-o", "jsonpath={.status.history}",
                              "--as=mallory", "--as-group=system:authenticated", check=False)
    assert result.returncode != 0 and "Forbidden" in result.stderr
    assert result.stdout == ""
