"""`kubectl access exec`: refused, role found, request made, approved, run again (stand-in API, real commands)."""

from __future__ import annotations

import io
import sys
import textwrap

import pytest

from gatepass.cli import justintime
from gatepass.cli.commands import Context
from gatepass.cli.errors import NOT_GRANTED, CliError
from gatepass.core.rbac import RoleKey, Rule
from gatepass.core.types import Identity

from .cli_fakes import DEMO_POLICY, FakeKube, Streams, args, request_obj, review

REFUSED = ('Error from server (Forbidden): secrets is forbidden: User "bob" cannot list resource "secrets" '
           'in API group "" in the namespace "payments"')
DBA_RULES = {RoleKey("ClusterRole", "dba"): [Rule.of(["get", "list"], [""], ["secrets", "pods"])]}


def refused_once(tmp_path, refusal: str = REFUSED) -> list[str]:
    """A command refused the first time it runs and allowed afterwards, like kubectl before and after a grant."""
    marker = tmp_path / "ran"
    script = textwrap.dedent(f"""
        import pathlib, sys
        marker = pathlib.Path({str(marker)!r})
        if not marker.exists():
            marker.write_text("1")
            sys.stderr.write({refusal!r} + "\\n")
            sys.exit(1)
        print("db-password   Opaque   1")
    """)
    return [sys.executable, "-c", script]


def granted(name: str = "bob-dba-abcde") -> dict:
    return request_obj(name, "Approved", granted=True, expiresAt="2026-11-24T10:31:00Z", version="2",
                       reviews=[review("alice"), review("ivan")])


def execute(kube, command, **values):
    streams = Streams()
    values = {"role": None, "reason": "ticket #9", "duration": None, "reviewers": [], **values}
    code = justintime.execute(Context(kube, args(command=command, **values), streams.out, streams.err))
    return code, streams.err.getvalue()


def test_run_passes_output_through_and_keeps_stderr(capfd):
    err = io.StringIO()
    code, text = justintime.run([sys.executable, "-c", "import sys; print('out'); sys.stderr.write('bad\\n'); sys.exit(4)"],
                                err)
    assert (code, text, err.getvalue()) == (4, "bad\n", "bad\n")
    assert capfd.readouterr().out == "out\n"


def test_run_an_unknown_command():
    with pytest.raises(CliError, match="no-such-command-here: command not found") as raised:
        justintime.run(["no-such-command-here"], io.StringIO())
    assert raised.value.code == 127


@pytest.mark.parametrize("executable, code, says", [(None, 127, "command not found"), (False, 126, "permission denied")])
def test_exec_exits_as_a_shell_does_when_the_command_cannot_run(tmp_path, capsys, monkeypatch, executable, code, says):
    from gatepass.cli.main import main

    from .test_cli_errors import kubeconfig

    monkeypatch.setenv("KUBECONFIG", kubeconfig(tmp_path, "https://127.0.0.1:1"))
    command = tmp_path / "tool"
    if executable is not None:
        command.write_text("#!/bin/sh\nexit 0\n")
        command.chmod(0o644)
    assert main(["exec", "--", str(command), "get", "pods"]) == code
    assert capsys.readouterr().err == f"error: {command}: {says}\n"


def test_the_just_in_time_flow(tmp_path, capfd):
    kube = FakeKube(rules=DBA_RULES, watches=[[("MODIFIED", granted())]])
    code, err = execute(kube, refused_once(tmp_path))
    assert code == 0
    assert capfd.readouterr().out == "db-password   Opaque   1\n"
    assert kube.created == [{
        "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest", "metadata": {"generateName": "bob-dba-"},
        "spec": {"roles": ["dba"], "namespaces": ["payments"], "duration": "1h", "reason": "ticket #9"}}]
    lines = err.splitlines()
    assert lines[0] == REFUSED
    assert lines[1:4] == [
        "Access denied: bob may not list secrets in namespace payments.",
        "Role dba in payments (AccessPolicy demo-dba) allows it.",
        "Created AccessRequest bob-dba-abcde; waiting for it to be approved.",
    ]
    assert lines[-2:] == ["AccessRequest bob-dba-abcde is Approved: access granted until 2026-11-24 10:31:00 UTC",
                          "Running the command again."]


def test_a_command_that_works_or_fails_otherwise_is_left_alone(tmp_path):
    kube = FakeKube()
    assert execute(kube, [sys.executable, "-c", "pass"])[0] == 0
    assert execute(kube, [sys.executable, "-c", "import sys; sys.stderr.write('not found\\n'); sys.exit(3)"]) == \
        (3, "not found\n")
    assert kube.created == []


def test_nothing_to_run():
    with pytest.raises(CliError, match="name the command to run after --"):
        execute(FakeKube(), [])


def test_no_policy_offers_a_role_that_allows_it(tmp_path):
    carol = FakeKube(me=Identity("carol", frozenset({"contractors"})), rules=DBA_RULES)
    refusal = REFUSED.replace('"bob"', '"carol"')
    with pytest.raises(CliError) as caught:
        execute(carol, refused_once(tmp_path, refusal))
    assert caught.value.message == "no AccessPolicy offers carol a role that allows list secrets in namespace payments"
    assert carol.created == []


def test_unreadable_roles_ask_for_role(tmp_path):
    kube = FakeKube(rules={})
    with pytest.raises(CliError) as caught:
        execute(kube, refused_once(tmp_path))
    assert caught.value.message == ("cannot tell which role allows list secrets in namespace payments: bob may not "
                                    "read ClusterRole dba; name one of the roles offered (dba) with --role")


def test_role_names_the_role_without_reading_rules(tmp_path, capfd):
    kube = FakeKube(rules={}, watches=[[("MODIFIED", granted())]])
    code, _ = execute(kube, refused_once(tmp_path), role="dba")
    assert code == 0 and kube.created[0]["spec"]["roles"] == ["dba"]


def test_role_must_be_offered_where_it_is_needed(tmp_path):
    with pytest.raises(CliError, match='no AccessPolicy offers bob role "nope" where it is needed'):
        execute(FakeKube(), refused_once(tmp_path), role="nope")


def test_a_command_run_as_someone_else_is_not_guessed_at(tmp_path):
    with pytest.raises(CliError) as caught:
        execute(FakeKube(rules=DBA_RULES), refused_once(tmp_path, REFUSED.replace('"bob"', '"carol"')))
    assert caught.value.message == ("the command ran as carol, but kubectl access is using the credentials of bob; "
                                    "give both the same --kubeconfig and --context")


def test_a_reason_is_needed_when_the_policy_asks_for_one(tmp_path):
    kube = FakeKube(rules=DBA_RULES)
    with pytest.raises(CliError, match="AccessPolicy demo-dba requires a reason: pass --reason"):
        execute(kube, refused_once(tmp_path), reason=None)
    assert kube.created == []


def test_denied_means_the_command_is_not_run_again(tmp_path):
    denied = request_obj("bob-dba-abcde", "Denied", reviews=[review("ivan", "Deny", "use the replica")], version="2")
    kube = FakeKube(rules=DBA_RULES, watches=[[("MODIFIED", denied)]])
    with pytest.raises(CliError) as caught:
        execute(kube, refused_once(tmp_path))
    assert caught.value.code == NOT_GRANTED
    assert caught.value.message == "AccessRequest bob-dba-abcde was denied by ivan: use the replica"


def test_the_duration_is_what_was_asked_or_at_most_an_hour(tmp_path, capfd):
    short = {**DEMO_POLICY, "spec": {**DEMO_POLICY["spec"], "maxDuration": "15m"}}
    kube = FakeKube(policies=[short], rules=DBA_RULES, watches=[[("MODIFIED", granted())]])
    execute(kube, refused_once(tmp_path))
    assert kube.created[0]["spec"]["duration"] == "15m"
    (tmp_path / "ran").unlink()
    kube = FakeKube(rules=DBA_RULES, watches=[[("MODIFIED", granted())]])
    execute(kube, refused_once(tmp_path), duration="2h", reviewers=["alice"])
    assert kube.created[0]["spec"]["duration"] == "2h"
    assert kube.created[0]["spec"]["reviewers"] == ["alice"]


def test_a_pending_request_for_the_same_access_is_waited_for_not_asked_again(tmp_path):
    waiting = request_obj("bob-dba-abcde", "Pending")
    kube = FakeKube(rules=DBA_RULES, requests=[waiting], watches=[[("MODIFIED", granted())]])
    code, err = execute(kube, refused_once(tmp_path), reason=None)  # no reason needed: nothing is created
    assert code == 0 and kube.created == []
    assert "AccessRequest bob-dba-abcde already asks for it; waiting for it to be approved." in err.splitlines()


@pytest.mark.parametrize("other, reused", [
    (request_obj("a", "Pending"), True),
    (request_obj("a", "Pending", namespaces=("payments", "billing")), True),  # asks for more: covers it
    (request_obj("a", "Pending", namespaces=("billing",)), False),
    (request_obj("a", "Pending", namespaces=()), False),  # cluster-wide is another request
    (request_obj("a", "Denied"), False),
    (request_obj("a", "Approved"), False),
    (request_obj("a", "Pending", requester="carol"), False),
    (request_obj("a", None), True),  # not reconciled yet: Pending
])
def test_which_request_is_taken_as_already_asking(other, reused):
    found = justintime.pending_for([other], "bob", "dba", ["payments"])
    assert found == ("a" if reused else None)
    other = {**other, "spec": {**other["spec"], "roles": ["view"]}}
    assert justintime.pending_for([other], "bob", "dba", ["payments"]) is None


@pytest.mark.parametrize("command, expected", [
    (["kubectl", "get", "secrets"], ["kubectl", "get", "secrets"]),
    (["kubectl", "--context=bob", "get", "secrets"], ["kubectl", "--context=bob@r", "get", "secrets"]),
    (["/usr/bin/kubectl", "get", "--context", "bob", "secrets"],
     ["/usr/bin/kubectl", "get", "--context=bob@r", "secrets"]),
    (["kubectl", "exec", "pod", "--", "tool", "--context=x"], ["kubectl", "exec", "pod", "--", "tool", "--context=x"]),
    (["helm", "--kube-context=bob", "ls"], ["helm", "--kube-context=bob", "ls"]),
])
def test_a_kubectl_command_runs_again_in_the_grants_context(command, expected):
    assert justintime.in_context(command, "bob@r") == expected


def test_without_a_grant_context_the_command_is_left_alone():
    assert justintime.in_context(["kubectl", "--context=bob", "get", "pods"], "") == \
        ["kubectl", "--context=bob", "get", "pods"]


def with_credential(obj: dict, mode: str | None) -> dict:
    if mode:
        obj["status"]["credential"] = {"mode": mode, "group": "gatepass:grant:u"}
    return obj


@pytest.mark.parametrize("obj, found", [
    (with_credential(granted("bob-dba-cert"), "certificate"), True),
    (with_credential(granted("bob-dba-tok"), "token"), True),
    (with_credential(granted("bob-dba-user"), None), False),  # bob's usual context has it already
    (with_credential(request_obj("bob-dba-p", "Pending"), "certificate"), False),
    (with_credential(request_obj("bob-dba-s", "Approved", granted=False), "certificate"), False),  # not started
    (with_credential(request_obj("bob-dba-e", "Expired", granted=False), "certificate"), False),
    (with_credential(request_obj("carol-dba", "Approved", granted=True, requester="carol"), "certificate"), False),
    (with_credential(request_obj("bob-dba-o", "Approved", granted=True, namespaces=("other",)), "certificate"),
     False),
])
def test_a_grant_with_its_own_credential_is_used_instead_of_asking_again(obj, found):
    got = justintime.granted_for([obj], "bob", "dba", ["payments"])
    assert (got is not None) == found
    if found:
        assert got["metadata"]["name"] == obj["metadata"]["name"]
