"""`kubectl access exec` asks for the least it needs: the refused resources, where a policy's bound allows it."""

from __future__ import annotations

import sys

import pytest

from gatepass.cli import justintime
from gatepass.cli.errors import CliError
from gatepass.core.rbac import RoleKey, Rule
from gatepass.core.resources import Ask, Bound
from gatepass.core.types import Identity, Policy, Subjects

from .cli_fakes import DEMO_POLICY, RESOURCE_POLICY, FakeKube, request_obj, review
from .test_cli_exec import DBA_RULES, execute, refused_once

LOG_REFUSED = ('Error from server (Forbidden): pods "db-1" is forbidden: User "bob" cannot get resource "pods" '
               'in API group "" in the namespace "payments"')
READER = {RoleKey("ClusterRole", "pod-reader"): [Rule.of(["get", "list"], [""], ["pods", "pods/log"])]}
BOTH = {**DBA_RULES, **READER}
BOB = Identity("bob", frozenset({"developers"}))
POD_AND_LOG = [
    {"apiGroup": "", "resource": "pods", "namespace": "payments", "names": ["db-1"], "verbs": ["get"]},
    {"apiGroup": "", "resource": "pods", "subresource": "log", "namespace": "payments", "names": ["db-1"],
     "verbs": ["get"]},
]


def logs_refused_once(tmp_path):
    """`kubectl logs db-1 -n payments`, refused the first time (a stand-in named kubectl)."""
    command = refused_once(tmp_path, LOG_REFUSED)
    tool = tmp_path / "kubectl"
    tool.write_text(f"#!{sys.executable}\n{command[2]}")
    tool.chmod(0o755)
    return [str(tool), "logs", "db-1", "-n", "payments"]


def granted(name: str = "bob-pods-db-1-abcde") -> dict:
    obj = request_obj(name, "Approved", granted=True, expiresAt="2026-11-24T10:31:00Z", version="2",
                      reviews=[review("alice"), review("ivan")], policy="pod-logs", namespaces=())
    obj["spec"].pop("roles")
    obj["spec"]["resources"] = POD_AND_LOG
    return obj


def test_exec_asks_for_exactly_what_kubectl_logs_needs(tmp_path, capfd):
    kube = FakeKube(policies=[DEMO_POLICY, RESOURCE_POLICY], rules=BOTH, watches=[[("MODIFIED", granted())]])
    code, err = execute(kube, logs_refused_once(tmp_path), whole_role=False)
    assert code == 0
    assert kube.created == [{
        "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest",
        "metadata": {"generateName": "bob-pods-db-1-"},
        "spec": {"resources": POD_AND_LOG, "duration": "1h", "reason": "ticket #9"}}]
    lines = err.splitlines()
    assert lines[1:5] == [
        'Access denied: bob may not get pods db-1 in namespace payments.',
        "Least access that allows it: get pods db-1 in payments; get pods/log db-1 in payments "
        "(AccessPolicy pod-logs).",
        "(--whole-role asks for a whole role that allows it instead.)",
        "Created AccessRequest bob-pods-db-1-abcde; waiting for it to be approved.",
    ]
    assert lines[-1] == "Running the command again."


def test_whole_role_asks_for_the_role_as_before(tmp_path, capfd):
    kube = FakeKube(policies=[DEMO_POLICY, RESOURCE_POLICY], rules=BOTH,
                    watches=[[("MODIFIED", request_obj("bob-dba-abcde", "Approved", granted=True, version="2",
                                                       expiresAt="2026-11-24T10:31:00Z"))]])
    code, err = execute(kube, logs_refused_once(tmp_path), whole_role=True)
    assert code == 0
    assert kube.created[0]["spec"]["roles"] == ["dba"] and "resources" not in kube.created[0]["spec"]
    assert "Role dba in payments (AccessPolicy demo-dba) allows it." in err.splitlines()


def test_without_a_bound_that_allows_it_the_role_is_asked_for_and_it_says_why(tmp_path, capfd):
    narrow = {RoleKey("ClusterRole", "pod-reader"): [Rule.of(["get"], [""], ["pods"])], **DBA_RULES}
    kube = FakeKube(policies=[DEMO_POLICY, RESOURCE_POLICY], rules=narrow,
                    watches=[[("MODIFIED", request_obj("bob-dba-abcde", "Approved", granted=True, version="2",
                                                       expiresAt="2026-11-24T10:31:00Z"))]])
    code, err = execute(kube, logs_refused_once(tmp_path), whole_role=False)
    assert code == 0 and kube.created[0]["spec"]["roles"] == ["dba"]
    assert ("Asking for a role instead: no AccessPolicy's resource bound allows bob get pods db-1 in payments; "
            "get pods/log db-1 in payments.") in err.splitlines()


def test_an_unreadable_bound_is_said_and_the_role_asked_for(tmp_path, capfd):
    kube = FakeKube(policies=[DEMO_POLICY, RESOURCE_POLICY], rules=DBA_RULES,
                    watches=[[("MODIFIED", request_obj("bob-dba-abcde", "Approved", granted=True, version="2",
                                                       expiresAt="2026-11-24T10:31:00Z"))]])
    code, err = execute(kube, logs_refused_once(tmp_path), whole_role=False)
    assert code == 0 and kube.created[0]["spec"]["roles"] == ["dba"]
    assert ("Asking for a role instead: cannot tell whether a policy's bound allows get pods db-1 in payments; "
            "get pods/log db-1 in payments: bob may not read ClusterRole pod-reader.") in err.splitlines()


def test_neither_resources_nor_a_role_is_one_line(tmp_path):
    kube = FakeKube(policies=[RESOURCE_POLICY], rules={})
    with pytest.raises(CliError, match="no AccessPolicy offers bob a role that allows get pods db-1"):
        execute(kube, logs_refused_once(tmp_path), whole_role=False)
    assert kube.created == []


def test_a_pending_request_for_the_same_resources_is_waited_for(tmp_path, capfd):
    waiting = granted("bob-pods-db-1-qqqqq")
    waiting["status"] = {"state": "Pending"}
    kube = FakeKube(policies=[RESOURCE_POLICY], rules=READER, requests=[waiting],
                    watches=[[("MODIFIED", granted("bob-pods-db-1-qqqqq"))]])
    code, err = execute(kube, logs_refused_once(tmp_path), whole_role=False, reason=None)
    assert code == 0 and kube.created == []
    assert "AccessRequest bob-pods-db-1-qqqqq already asks for it; waiting for it to be approved." in err.splitlines()


def policy(*bounds: Bound, name: str = "p") -> Policy:
    return Policy(name=name, requesters=Subjects.of(groups=["developers"]), roles=(),
                  reviewers=Subjects.of(users=["alice"]), resources=bounds)


LOG = Ask(resource="pods", verbs=("get",), subresource="log", namespace="payments", names=("db-1",))
RULES = {"pod-reader": [Rule.of(["get"], [""], ["pods/log"])]}


def test_the_bounding_policy_is_the_first_whose_bound_allows_every_ask():
    first, second = policy(Bound("pod-reader", ("billing",)), name="a"), policy(Bound("pod-reader", ("payments",)),
                                                                                 name="b")
    assert justintime.bounding_policy([LOG], BOB, [second, first], RULES) == (second, ())
    assert justintime.bounding_policy([LOG], BOB, [first], RULES) == (None, ())
    exec_too = Ask(resource="pods", verbs=("create",), subresource="exec", namespace="payments", names=("db-1",))
    assert justintime.bounding_policy([LOG, exec_too], BOB, [second], RULES) == (None, ())


def test_a_bound_that_cannot_be_read_is_not_taken_to_allow_anything():
    payments = policy(Bound("pod-reader", ("payments",)))
    assert justintime.bounding_policy([LOG], BOB, [payments], {"pod-reader": None}) == (None, ("pod-reader",))
    assert justintime.bounding_policy([LOG], BOB, [payments], {}) == (None, ("pod-reader",))


def test_a_policy_not_naming_the_user_does_not_count():
    other = Policy(name="p", requesters=Subjects.of(users=["carol"]), roles=(), reviewers=Subjects.of(users=["a"]),
                   resources=(Bound("pod-reader", ("payments",)),))
    assert justintime.bounding_policy([LOG], BOB, [other], RULES) == (None, ())


@pytest.mark.parametrize("have, reused", [
    (POD_AND_LOG, True),
    (POD_AND_LOG[:1], False),  # asks for less
    ([{**POD_AND_LOG[1], "names": []}, POD_AND_LOG[0]], True),  # any name covers db-1
    ([{**POD_AND_LOG[1], "namespace": "billing"}, POD_AND_LOG[0]], False),
])
def test_which_resource_request_is_taken_as_already_asking(have, reused):
    obj = request_obj("a", "Pending", namespaces=())
    obj["spec"].pop("roles")
    obj["spec"]["resources"] = have
    wanted = [Ask(resource="pods", verbs=("get",), namespace="payments", names=("db-1",)), LOG]
    assert justintime.pending_for_asks([obj], "bob", wanted) == ("a" if reused else None)


class Terminal:
    """stdin as a terminal that answers with ``lines``."""

    def __init__(self, *lines: str) -> None:
        self.lines = list(lines)

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        return self.lines.pop(0) + "\n"


def approved_role() -> list:
    return [[("MODIFIED", request_obj("bob-dba-abcde", "Approved", granted=True, version="2",
                                      expiresAt="2026-11-24T10:31:00Z"))]]


@pytest.mark.parametrize("answers, role", [(("",), False), (("1",), False), (("3", "x", "2"), True)])
def test_on_a_terminal_the_whole_role_is_offered_beside_the_least(tmp_path, capfd, monkeypatch, answers, role):
    monkeypatch.setattr(sys, "stdin", Terminal(*answers))
    watches = approved_role() if role else [[("MODIFIED", granted())]]
    kube = FakeKube(policies=[DEMO_POLICY, RESOURCE_POLICY], rules=BOTH, watches=watches)
    code, err = execute(kube, logs_refused_once(tmp_path), whole_role=False)
    assert code == 0
    assert ("roles" in kube.created[0]["spec"]) is role and ("resources" in kube.created[0]["spec"]) is not role
    assert err.splitlines()[3:6] == [
        "What to ask for?",
        "  1) get pods db-1 in payments; get pods/log db-1 in payments (AccessPolicy pod-logs) (default)",
        "  2) role dba in payments (AccessPolicy demo-dba)",
    ]
    assert "--whole-role asks" not in err
