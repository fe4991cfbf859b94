"""`kubectl access` driven as bob, alice and ivan against the real API server and operator.

The CLI runs as its own process with the test cluster's kubeconfig and one
context per person, exactly as a user would run it; nothing is faked.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from .helpers import can_i, create_request, get, unique, wait_for, wait_state

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "gatepass.cli.main"]
TIMEOUT = 240  # seconds for one CLI run; generous, other suites may share the machine
WAIT = 90  # seconds for the operator to act


def access(gatepass, user: str, *argv: str, kubeconfig: Path | None = None,
           timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Run `kubectl access ARGV...` as ``user``, with --kubeconfig and --context like kubectl."""
    config = kubeconfig or gatepass.cluster.kubeconfig
    command = [*CLI, f"--kubeconfig={config}", f"--context={user}", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return result


def one_error_line(result: subprocess.CompletedProcess, code: int = 1) -> str:
    """The single `error: ...` line a failed run ends with; no traceback."""
    assert result.returncode == code, f"exit {result.returncode}: {result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert sum(line.startswith("error: ") for line in lines) == 1
    return lines[-1].removeprefix("error: ")


def requests_of(gatepass, user: str) -> list[dict]:
    items = json.loads(gatepass.kubectl("get", "accessrequests", "-o", "json").stdout)["items"]
    return [r for r in items if (r["spec"].get("requester") or {}).get("username") == user]


@pytest.fixture
def bob_without_access(gatepass):
    """Bob starts without dba in payments (an earlier test's grant is revoked) and ends so."""

    def revoke_all() -> None:
        for body in requests_of(gatepass, "bob"):
            if (body.get("status") or {}).get("state") == "Approved":
                gatepass.kubectl("annotate", "accessrequest", body["metadata"]["name"],
                                 "gatepass.dev/revoke=test cleanup", check=False)
        wait_for(lambda: can_i(gatepass, "bob") == "no", timeout=WAIT, what="bob to lose access")

    revoke_all()
    yield
    revoke_all()


def approve_when_asked(gatepass, reason: str, errors: list) -> threading.Thread:
    """A reviewer pair that waits for bob's pending request with ``reason`` and approves it with the CLI."""

    def run() -> None:
        try:
            def pending():
                return next((r["metadata"]["name"] for r in requests_of(gatepass, "bob")
                             if r["spec"].get("reason") == reason
                             and (r.get("status") or {}).get("state") == "Pending"), None)

            name = wait_for(pending, timeout=WAIT, interval=0.3, what=f"bob's request for {reason!r}")
            ok(access(gatepass, "alice", "review", "--approve", "--reason=proceed with caution", name))
            ok(access(gatepass, "ivan", "review", "--approve", "--reason=ok", name))
        except BaseException as error:  # noqa: BLE001 - reported by the test thread
            errors.append(error)

    thread = threading.Thread(target=run, name="reviewers", daemon=True)
    thread.start()
    return thread


def test_seed_transcript(gatepass, bob_without_access):
    # Bob asks for dba in payments, suggesting alice and ivan, and does not wait.
    created = ok(access(gatepass, "bob", "request", "create", "--roles=dba", "--namespaces=payments",
                        "--reviewers=alice,ivan", "--reason=ticket #123", "--duration=1h", "--nowait"))
    name = created.stdout.strip()
    assert re.fullmatch(r"bob-dba-[a-z0-9]{5}", name), created.stdout
    assert f"Created AccessRequest {name}: dba in payments for 1h." in created.stderr
    body = wait_state(gatepass, name, "Pending", timeout=WAIT)
    assert body["spec"]["requester"]["username"] == "bob"  # from bob's credentials, not from the CLI
    assert body["spec"]["reviewers"] == ["alice", "ivan"]

    # `ls` shows it Pending, in the seed's columns.
    table = ok(access(gatepass, "bob", "request", "ls")).stdout.splitlines()
    assert re.split(r"\s{2,}", table[0]) == ["ID", "USER", "ROLES", "NAMESPACES", "CREATED (UTC)", "STATUS",
                                            "EXPIRES (UTC)"]
    row = next(line for line in table if line.startswith(name + " "))
    cells = re.split(r"\s{2,}", row.strip())
    assert cells[:4] == [name, "bob", "dba", "payments"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", cells[4])
    assert cells[5] == "Pending"

    # Alice sees it among what she may review; bob does not review his own.
    assert name in ok(access(gatepass, "alice", "request", "ls", "--reviewable")).stdout
    assert name not in ok(access(gatepass, "bob", "request", "ls", "--reviewable")).stdout

    # Alice approves: one of the two approvals demo-dba needs.
    approved = ok(access(gatepass, "alice", "review", "--approve", "--reason=proceed with caution", name))
    assert approved.stdout.startswith(f"Approved AccessRequest {name} as alice (AccessReview ")
    wait_for(lambda: get(gatepass, "accessrequest", name)["status"].get("approvals") == 1, timeout=WAIT,
             what="alice's approval")
    assert get(gatepass, "accessrequest", name)["status"]["state"] == "Pending"
    assert can_i(gatepass, "bob") == "no"
    shown = ok(access(gatepass, "bob", "request", "show", name)).stdout
    assert "Status:              Pending" in shown
    assert re.search(r"^  alice\s+\S+ \S+\s+proceed with caution$", shown, re.M), shown
    assert name not in ok(access(gatepass, "alice", "request", "ls", "--reviewable")).stdout

    # A second review by alice is refused, in one line.
    again = access(gatepass, "alice", "review", "--approve", name)
    assert one_error_line(again) == f"alice has already reviewed AccessRequest {name}"

    # Ivan approves: access is granted.
    ok(access(gatepass, "ivan", "review", "--approve", "--reason=ok", name))
    wait_state(gatepass, name, "Approved", timeout=WAIT)
    wait_for(lambda: can_i(gatepass, "bob") == "yes", timeout=WAIT, what="bob's access")

    shown = json.loads(ok(access(gatepass, "bob", "request", "show", name, "-o", "json")).stdout)
    assert shown["status"]["state"] == "Approved" and shown["status"]["expiresAt"]
    assert [r["reviewer"] for r in shown["status"]["reviews"]] == ["alice", "ivan"]
    assert [r["via"] for r in shown["status"]["reviews"]] == ["AccessReview", "AccessReview"]
    listed = yaml.safe_load(ok(access(gatepass, "bob", "request", "ls", "--mine", "-o", "yaml")).stdout)
    assert listed["kind"] == "List"
    assert {i["spec"]["requester"]["username"] for i in listed["items"]} == {"bob"}
    assert name in [i["metadata"]["name"] for i in listed["items"]]

    # Bob is done early: drop ends the access.
    dropped = ok(access(gatepass, "bob", "request", "drop", name))
    assert dropped.stdout == f"Dropped AccessRequest {name}: its access is being removed.\n"
    body = wait_state(gatepass, name, "Revoked", timeout=WAIT)
    assert body["status"]["revokedBy"] == "bob"
    wait_for(lambda: can_i(gatepass, "bob") == "no", timeout=WAIT, what="bob's access to end")
    assert one_error_line(access(gatepass, "bob", "request", "drop", name)) == \
        f"AccessRequest {name} is already Revoked"


def test_create_waits_and_reports_the_denial_with_the_reviewers_reason(gatepass):
    reason = unique("freeze")
    command = [*CLI, f"--kubeconfig={gatepass.cluster.kubeconfig}", "--context=bob", "request", "create",
               "--roles=dba", "--namespaces=payments", f"--reason={reason}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL)
    try:
        name = process.stdout.readline().strip()  # printed before waiting
        wait_state(gatepass, name, "Pending", timeout=WAIT)
        ok(access(gatepass, "alice", "review", "--approve", name))
        ok(access(gatepass, "ivan", "review", "--deny", "--reason=not during the freeze", name))
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 3, err
    lines = err.splitlines()
    assert lines[-1] == f"error: AccessRequest {name} was denied by ivan: not during the freeze"
    assert f"AccessRequest {name} is Pending: two-leads: 1 of 2 approvals (alice)" in lines
    assert "Traceback" not in err


def test_exec_asks_for_the_role_the_command_lacks_and_runs_it_again(gatepass, bob_without_access):
    secret = unique("cli-secret")
    gatepass.kubectl("create", "secret", "generic", secret, "-n", "payments", "--from-literal=password=x")
    kubectl = str(gatepass.cluster.kubectl.binary)
    command = [kubectl, f"--kubeconfig={gatepass.cluster.kubeconfig}", "--context=bob",
               "get", "secrets", "-n", "payments"]
    assert subprocess.run(command, capture_output=True, text=True, timeout=60).returncode != 0

    reason = unique("ticket")
    errors: list = []
    reviewers = approve_when_asked(gatepass, reason, errors)
    result = access(gatepass, "bob", "exec", f"--reason={reason}", "--", *command)
    reviewers.join(timeout=WAIT)
    assert not errors, errors

    assert result.returncode == 0, result.stderr
    assert secret in result.stdout  # the second run listed the secrets
    err = result.stderr
    assert 'User "bob" cannot list resource "secrets" in API group "" in the namespace "payments"' in err
    assert "Access denied: bob may not list secrets in namespace payments." in err
    assert "Role dba in payments (AccessPolicy demo-dba) allows it." in err
    assert "Running the command again." in err
    [request] = [r for r in requests_of(gatepass, "bob") if r["spec"].get("reason") == reason]
    assert request["spec"]["roles"] == ["dba"] and request["spec"]["namespaces"] == ["payments"]
    assert request["status"]["state"] == "Approved"
    assert [r["reviewer"] for r in request["status"]["reviews"]] == ["alice", "ivan"]
    ok(access(gatepass, "bob", "request", "drop", request["metadata"]["name"]))


def test_exec_says_plainly_when_no_policy_could_allow_it(gatepass):
    kubectl = str(gatepass.cluster.kubectl.binary)
    command = [kubectl, f"--kubeconfig={gatepass.cluster.kubeconfig}", "--context=carol",
               "get", "secrets", "-n", "payments"]
    result = access(gatepass, "carol", "exec", "--reason=x", "--", *command)
    assert one_error_line(result) == \
        "no AccessPolicy offers carol a role that allows list secrets in namespace payments"
    assert requests_of(gatepass, "carol") == []


@pytest.mark.parametrize("user, argv, message", [
    ("bob", ["request", "show", "no-such-request"], 'AccessRequest "no-such-request" not found'),
    ("alice", ["review", "--approve", "no-such-request"], 'AccessRequest "no-such-request" not found'),
    ("carol", ["request", "create", "--roles=dba", "--namespaces=payments", "--reason=x", "--nowait"],
     'carol may not request role "dba": no AccessPolicy offers it to carol or groups [contractors]'),
    ("bob", ["request", "create", "--roles=dba", "--namespaces=payments", "--reason=x", "--duration=9h"],
     "duration 9h is longer than the 8h AccessPolicy demo-dba allows"),
])
def test_user_errors_are_one_line(gatepass, user, argv, message):
    assert one_error_line(access(gatepass, user, *argv)) == message


def test_a_bad_flag_value_is_a_usage_error(gatepass):
    result = access(gatepass, "bob", "request", "create", "--roles=dba", "--namespaces=payments", "--reason=x",
                    "--duration=1d")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("usage: kubectl access request create")
    assert result.stderr.splitlines()[-1] == ('kubectl access request create: error: argument --duration: invalid '
                                              'duration "1d": unknown unit "d" (there is no day unit, write 24h)')


def test_a_requester_may_not_review(gatepass):
    name = unique("own")
    create_request(gatepass, name)
    assert one_error_line(access(gatepass, "bob", "review", "--approve", name)) == (
        'accessreviews.gatepass.dev is forbidden: User "bob" cannot create resource "accessreviews" '
        'in API group "gatepass.dev" at the cluster scope')
    assert get(gatepass, "accessrequest", name)["status"]["approvals"] == 0


def test_an_unreachable_cluster_is_one_line(gatepass, tmp_path):
    config = yaml.safe_load(Path(gatepass.cluster.kubeconfig).read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = "https://127.0.0.1:1"
    unreachable = tmp_path / "kubeconfig"
    unreachable.write_text(yaml.safe_dump(config))
    result = access(gatepass, "bob", "request", "ls", kubeconfig=unreachable)
    assert one_error_line(result) == "cannot reach the cluster at https://127.0.0.1:1: connection refused"


def test_kubectl_runs_it_as_the_access_plugin(gatepass, tmp_path):
    plugin = tmp_path / "kubectl-access"
    plugin.write_text(f"#!/bin/sh\nexec {sys.executable} -m gatepass.cli.main \"$@\"\n")
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}"}
    kubectl = str(gatepass.cluster.kubectl.binary)
    listed = subprocess.run([kubectl, "plugin", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert str(plugin) in listed.stdout
    helped = subprocess.run([kubectl, "access", "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert helped.returncode == 0 and "request create" in helped.stdout and "exec" in helped.stdout
    table = subprocess.run([kubectl, "access", "request", "ls", f"--kubeconfig={gatepass.cluster.kubeconfig}",
                            "--context=bob"], capture_output=True, text=True, env=env, timeout=TIMEOUT)
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith("ID ") or table.stderr == "No access requests found.\n"


def kubeconfig_of(gatepass) -> dict:
    return yaml.safe_load(Path(gatepass.cluster.kubeconfig).read_text())


def test_output_formats_and_flags_after_the_verb(gatepass):
    created = ok(access(gatepass, "bob", "request", "create", "--roles=dba", "--namespaces=payments",
                        f"--reason={unique('formats')}", "--nowait"))
    name = created.stdout.strip()
    wait_state(gatepass, name, "Pending", timeout=WAIT)
    late = [*CLI, "request", "ls", "-o", "name", f"--kubeconfig={gatepass.cluster.kubeconfig}", "--context=bob"]
    names = ok(subprocess.run(late, capture_output=True, text=True, timeout=TIMEOUT)).stdout.splitlines()
    assert f"accessrequest.gatepass.dev/{name}" in names
    assert all(line.startswith("accessrequest.gatepass.dev/") for line in names)
    # kubectl reads the same names back.
    got = gatepass.kubectl("get", f"accessrequest.gatepass.dev/{name}", "-o", "name").stdout.strip()
    assert got == f"accessrequest.gatepass.dev/{name}"
    wide = ok(access(gatepass, "bob", "-o", "wide", "request", "ls")).stdout.splitlines()
    assert re.split(r"\s{2,}", wide[0])[-4:] == ["POLICY", "APPROVALS", "DENIALS", "REASON"]
    row = re.split(r"\s{2,}", next(line for line in wide if line.startswith(name + " ")).strip())
    assert row[-4:-1] == ["demo-dba", "0", "0"]
    assert ok(access(gatepass, "bob", "request", "show", name, "-o", "name")).stdout == \
        f"accessrequest.gatepass.dev/{name}\n"
    bad = access(gatepass, "bob", "request", "ls", "-o", "jsonpath")
    assert bad.returncode == 2 and "invalid choice: 'jsonpath'" in bad.stderr
    ok(access(gatepass, "bob", "request", "drop", name))


def test_exec_of_a_missing_command_exits_127(gatepass, tmp_path):
    result = access(gatepass, "bob", "exec", "--", str(tmp_path / "no-such-tool"), "get", "pods")
    assert one_error_line(result, code=127) == f"{tmp_path / 'no-such-tool'}: command not found"


def test_kubeconfig_lists_token_files_and_exec_plugins_work_as_with_kubectl(gatepass, tmp_path):
    config = kubeconfig_of(gatepass)
    bob = next(u["user"] for u in config["users"] if u["name"] == "bob")
    operator = next(u["user"] for u in config["users"] if u["name"] == "operator")

    # $KUBECONFIG lists two files: the cluster in one, the users and contexts in the other.
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "operator-token").write_text(operator["token"] + "\n")
    cluster_file = tmp_path / "cluster.yaml"
    cluster_file.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": config["clusters"]}))
    credential = tmp_path / "conf" / "bob-credential"
    pem = {"clientCertificateData": base64.b64decode(bob["client-certificate-data"]).decode(),
           "clientKeyData": base64.b64decode(bob["client-key-data"]).decode()}
    credential.write_text(f"#!{sys.executable}\nimport json, os\n"
                          "assert json.loads(os.environ['KUBERNETES_EXEC_INFO'])['kind'] == 'ExecCredential'\n"
                          f"print(json.dumps({{'apiVersion': 'client.authentication.k8s.io/v1', "
                          f"'kind': 'ExecCredential', 'status': {pem!r}}}))\n")
    credential.chmod(0o755)
    cluster = config["clusters"][0]["name"]
    users_file = tmp_path / "conf" / "users.yaml"
    users_file.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "bob-exec",
        "users": [{"name": "bob-exec", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                                          "command": "./bob-credential",
                                                          "interactiveMode": "Never"}}},
                  {"name": "operator-file", "user": {"tokenFile": "operator-token"}}],
        "contexts": [{"name": "bob-exec", "context": {"cluster": cluster, "user": "bob-exec"}},
                     {"name": "operator-file", "context": {"cluster": cluster, "user": "operator-file"}}],
    }))
    env = {**os.environ, "KUBECONFIG": f"{cluster_file}{os.pathsep}{users_file}"}

    def run(*argv: str) -> subprocess.CompletedProcess:
        return ok(subprocess.run([*CLI, *argv], capture_output=True, text=True, env=env, timeout=TIMEOUT,
                                 stdin=subprocess.DEVNULL))

    created = run("request", "create", "--roles=dba", "--namespaces=payments", "--reason=exec plugin", "--nowait")
    name = created.stdout.strip()
    assert get(gatepass, "accessrequest", name)["spec"]["requester"]["username"] == "bob"  # the plugin's cert
    assert f"accessrequest.gatepass.dev/{name}" in run("request", "ls", "--mine", "-o", "name").stdout
    listed = json.loads(run("--context", "operator-file", "request", "ls", "-o", "json").stdout)
    assert name in [item["metadata"]["name"] for item in listed["items"]]
    run("request", "drop", name)


def test_a_ca_file_and_tls_server_name_are_honoured(gatepass, tmp_path):
    config = kubeconfig_of(gatepass)
    cluster = config["clusters"][0]["cluster"]
    (tmp_path / "ca.crt").write_bytes(base64.b64decode(cluster.pop("certificate-authority-data")))
    cluster["certificate-authority"] = "ca.crt"  # relative to the kubeconfig, as kubectl reads it

    def ls(server_name: str) -> subprocess.CompletedProcess:
        cluster["tls-server-name"] = server_name
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump(config))
        return access(gatepass, "bob", "request", "ls", "-o", "name", kubeconfig=path)

    ok(ls("localhost"))  # a name the API server's certificate holds
    assert one_error_line(ls("not-the-api-server.example")) == \
        f"cannot reach the cluster at {cluster['server']}: its certificate is not trusted by your kubeconfig"
