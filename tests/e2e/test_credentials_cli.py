"""`kubectl access login`, `credential` and `exec` with a grant's own credential, on the real control plane.

Bob runs the plugin as its own process with his own kubeconfig (a copy of the harness's, his context
current), and kubectl runs the context `login` writes exactly as it would on his machine: the exec plugin
`kubectl-access` is on PATH. The operator approves the CSRs, the controller manager signs them with the
CA the API server trusts, and the API server alone says what each credential may do.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from .helpers import approve, create_request, get, policy_body, unique, wait_for, wait_state

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "gatepass.cli.main"]
TIMEOUT = 240  # seconds for one command; generous, other suites may share the machine
WAIT = 90  # seconds for the operator (or RBAC's cache) to act


class Bob:
    """Bob's machine: his kubeconfig (his context current), PATH with kubectl and the plugin."""

    def __init__(self, gatepass, folder: Path, user: str = "bob") -> None:
        self.gatepass = gatepass
        self.user = user
        config = yaml.safe_load(Path(gatepass.cluster.kubeconfig).read_text())
        config["current-context"] = user
        self.kubeconfig = folder / "kube" / "config"
        self.kubeconfig.parent.mkdir(parents=True)
        self.kubeconfig.write_text(yaml.safe_dump(config))
        os.chmod(self.kubeconfig, 0o600)
        bin_dir = folder / "bin"
        bin_dir.mkdir()
        plugin = bin_dir / "kubectl-access"
        plugin.write_text(f"#!/bin/sh\nexec {sys.executable} -m gatepass.cli.main \"$@\"\n")
        plugin.chmod(0o755)
        self.kubectl_binary = str(gatepass.cluster.kubectl.binary)
        kubectl_dir = str(Path(self.kubectl_binary).resolve().parent)
        self.env = {**os.environ, "KUBECONFIG": str(self.kubeconfig),
                    "PATH": os.pathsep.join([str(bin_dir), kubectl_dir, os.environ.get("PATH", "")])}

    def access(self, *argv: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=timeout, env=self.env,
                              stdin=subprocess.DEVNULL)

    def kubectl(self, *argv: str, context: str | None = None) -> subprocess.CompletedProcess:
        flags = [f"--context={context}"] if context else []
        return subprocess.run([self.kubectl_binary, *flags, *argv], capture_output=True, text=True,
                              timeout=TIMEOUT, env=self.env, stdin=subprocess.DEVNULL)

    def whoami(self, context: str) -> dict:
        done = self.kubectl("auth", "whoami", "-o", "json", context=context)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["status"]["userInfo"]


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stdout}{result.stderr}"
    return result


def one_error_line(result: subprocess.CompletedProcess, code: int = 1) -> str:
    """The single `error: ...` line a failed run ends with; no traceback."""
    assert result.returncode == code, f"exit {result.returncode}: {result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert sum(line.startswith("error: ") for line in lines) == 1
    return lines[-1].removeprefix("error: ")


@pytest.fixture
def bob(gatepass, tmp_path) -> Bob:
    return Bob(gatepass, tmp_path / "bob")


@pytest.fixture
def alice(gatepass, tmp_path) -> Bob:
    return Bob(gatepass, tmp_path / "alice", user="alice")


class Offer:
    """A policy that offers role ``role`` (the ClusterRole dba) in ``namespace`` with ``credentials``."""

    def __init__(self, gatepass, namespace: str, credentials: str) -> None:
        self.gatepass = gatepass
        self.namespace = namespace
        self.role = unique("cred")
        self.policy = unique(f"cred-{credentials}")
        self.secret = unique("cred-secret")
        body = policy_body(self.policy, role=self.role, namespaces=(namespace,), credentials=credentials)
        gatepass.kubectl("apply", "-f", "-", input=json.dumps(body))
        gatepass.kubectl("create", "secret", "generic", self.secret, "-n", namespace, "--from-literal=password=x")

    def request(self, user: str = "bob", duration: str = "1h") -> str:
        name = unique(f"{user}-{self.role}")
        create_request(self.gatepass, name, user=user, roles=(self.role,), namespaces=(self.namespace,),
                       duration=duration)
        return name

    def grant(self, user: str = "bob") -> str:
        name = self.request(user)
        approve(self.gatepass, name, "alice")  # one approval: the policy sets no threshold
        wait_for(lambda: is_granted(get(self.gatepass, "accessrequest", name)), timeout=WAIT,
                 what=f"{name} to be granted")
        return name

    def remove(self) -> None:
        self.gatepass.kubectl("delete", "accesspolicy", self.policy, "--ignore-not-found", check=False)


def is_granted(obj: dict) -> bool:
    status = obj.get("status") or {}
    return status.get("state") == "Approved" and status.get("credential") is not None and any(
        c.get("type") == "Granted" and c.get("status") == "True" for c in status.get("conditions") or ())


@pytest.fixture
def certificate_offer(gatepass, namespace):
    offer = Offer(gatepass, namespace, "certificate")
    yield offer
    offer.remove()


@pytest.fixture
def token_offer(gatepass, namespace):
    offer = Offer(gatepass, namespace, "token")
    yield offer
    offer.remove()


def revoke(gatepass, name: str) -> None:
    gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/revoke=done")
    wait_state(gatepass, name, "Revoked", timeout=WAIT)


def refused(bob: Bob, context: str, offer: Offer) -> bool:
    done = bob.kubectl("get", "secret", offer.secret, "-n", offer.namespace, context=context)
    return done.returncode != 0


# -- certificate mode --------------------------------------------------------------------------------


def test_login_gives_a_certificate_for_the_grant_group_that_works_until_revoke(gatepass, bob, certificate_offer):
    offer = certificate_offer
    name = offer.grant()
    obj = get(gatepass, "accessrequest", name)
    group = obj["status"]["credential"]["group"]
    assert group == f"gatepass:grant:{obj['metadata']['uid']}"

    # The grant is bound to its group only: bob's own credentials get nothing from it.
    assert refused(bob, "bob", offer)

    result = ok(bob.access("login", name))
    context = f"bob@{name}"
    assert result.stdout == context + "\n"
    assert f"Filed CertificateSigningRequest gatepass-{name}-" in result.stderr
    assert f"Wrote context {context} to {bob.kubeconfig}." in result.stderr

    # The key stayed here, private; the CSR was filed by bob, for the grant group, approved by the operator.
    key = bob.kubeconfig.parent / "gatepass" / "bob" / f"{name}.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    csrs = json.loads(gatepass.kubectl("get", "csr", "-l", f"gatepass.dev/request={name}", "-o", "json").stdout)
    [csr] = csrs["items"]
    assert csr["spec"]["username"] == "bob"
    assert csr["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client"
    assert csr["spec"]["usages"] == ["client auth"]
    assert any(c["type"] == "Approved" and c["status"] == "True" for c in csr["status"]["conditions"])

    # kubectl runs the plugin: bob, in the grant's group, may read the secret.
    who = bob.whoami(context)
    assert who["username"] == "bob" and group in who["groups"]
    assert "developers" not in who["groups"]  # the certificate carries the grant, nothing else of bob's
    done = ok(bob.kubectl("get", "secret", offer.secret, "-n", offer.namespace, "-o", "name", context=context))
    assert done.stdout.strip() == f"secret/{offer.secret}"
    # The plugin's own kubeconfig reader runs the plugin too: bob is authenticated, with the grant's rights only.
    assert one_error_line(bob.access("request", "show", name, "--context", context)) == (
        f'accessrequests.gatepass.dev "{name}" is forbidden: User "bob" cannot get resource "accessrequests" '
        'in API group "gatepass.dev" at the cluster scope')

    # Revoking deletes the binding: the certificate is still valid, and gets nothing.
    revoke(gatepass, name)
    wait_for(lambda: refused(bob, context, offer), timeout=WAIT, what="the certificate to lose access")
    done = bob.kubectl("get", "secret", offer.secret, "-n", offer.namespace, context=context)
    assert "Forbidden" in done.stderr and 'User "bob" cannot get resource "secrets"' in done.stderr
    # And no new certificate is to be had for it.
    assert one_error_line(bob.access("login", name), code=3).startswith(f"AccessRequest {name} is Revoked, ended")


def test_credential_renews_a_certificate_that_is_gone_while_the_grant_lasts(gatepass, bob, certificate_offer):
    name = certificate_offer.grant()
    context = ok(bob.access("login", name)).stdout.strip()
    folder = bob.kubeconfig.parent / "gatepass" / "bob"
    (folder / f"{name}.crt").unlink()  # as if it had expired: nothing kept that kubectl may use
    ok(bob.kubectl("get", "secret", certificate_offer.secret, "-n", certificate_offer.namespace, context=context))
    assert (folder / f"{name}.crt").exists()
    csrs = json.loads(gatepass.kubectl("get", "csr", "-l", f"gatepass.dev/request={name}", "-o", "json").stdout)
    assert len(csrs["items"]) == 2 and {c["spec"]["username"] for c in csrs["items"]} == {"bob"}
    revoke(gatepass, name)


def exec_until_granted(gatepass, bob: Bob, offer: Offer,
                       command: list[str]) -> tuple[subprocess.CompletedProcess, str]:
    """`kubectl access exec -- COMMAND` as bob, with alice approving the request it makes; the run and the
    request's name."""
    reason = unique("ticket")
    errors: list = []

    def reviewers() -> None:
        try:
            def pending():
                items = json.loads(gatepass.kubectl("get", "accessrequests", "-o", "json").stdout)["items"]
                return next((r["metadata"]["name"] for r in items if r["spec"].get("reason") == reason), None)

            approve(gatepass, wait_for(pending, timeout=WAIT, interval=0.3, what="bob's request"), "alice")
        except BaseException as error:  # noqa: BLE001 - reported by the test thread
            errors.append(error)

    thread = threading.Thread(target=reviewers, daemon=True)
    thread.start()
    result = bob.access("exec", f"--reason={reason}", "--", *command)
    thread.join(timeout=WAIT)
    assert not errors, errors
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"secret/{offer.secret}"
    assert f"Role {offer.role} in {offer.namespace} (AccessPolicy {offer.policy}) allows it." in result.stderr
    [name] = [r["metadata"]["name"] for r in json.loads(gatepass.kubectl("get", "accessrequests", "-o",
                                                                         "json").stdout)["items"]
              if r["spec"].get("reason") == reason]
    assert f"Running the command again as context bob@{name}." in result.stderr
    return result, name


def test_exec_logs_in_and_runs_the_command_again_as_the_grant(gatepass, bob, certificate_offer):
    offer = certificate_offer
    command = ["kubectl", "get", "secret", offer.secret, "-n", offer.namespace, "-o", "name"]
    result, name = exec_until_granted(gatepass, bob, offer, command)
    assert "Filed CertificateSigningRequest" in result.stderr
    assert refused(bob, "bob", offer)  # bob's own context still has nothing

    # Refused again in his usual context, exec uses the grant there is instead of asking for another.
    again = bob.access("exec", "--reason=never asked", "--", *command)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"secret/{offer.secret}"
    assert f"AccessRequest {name} grants it, to its own credential; logging in." in again.stderr
    assert "Filed CertificateSigningRequest" not in again.stderr  # the kept certificate is still good
    items = json.loads(gatepass.kubectl("get", "accessrequests", "-o", "json").stdout)["items"]
    assert not [r for r in items if r["spec"].get("reason") == "never asked"]
    revoke(gatepass, name)


def test_login_refuses_in_one_line(gatepass, bob, alice, certificate_offer):
    offer = certificate_offer
    pending = offer.request()
    assert one_error_line(bob.access("login", pending), code=3) == \
        f"AccessRequest {pending} is Pending, not granted yet: there is no access to log in with"
    granted = offer.grant()
    assert one_error_line(alice.access("login", granted)).startswith(f"AccessRequest {granted} is bob's, not alice's")
    assert one_error_line(bob.access("login", "no-such-request")) == 'AccessRequest "no-such-request" not found'
    # A request under a policy without credentials of its own: bob's usual context already has the access.
    user_mode = unique("bob-user")
    create_request(gatepass, user_mode)
    approve(gatepass, user_mode)
    wait_state(gatepass, user_mode, "Approved", timeout=WAIT)
    assert "has credentials: user" in one_error_line(bob.access("login", user_mode))
    revoke(gatepass, user_mode)
    # From a grant's own context, there is no logging in again.
    context = ok(bob.access("login", granted)).stdout.strip()
    assert one_error_line(bob.access("login", granted, "--context", context)) == \
        f"context {context} is a grant's own context: log in from your usual context (pass --context)"
    revoke(gatepass, granted)


def test_login_with_the_operator_down_times_out_in_one_line(gatepass, bob, certificate_offer):
    name = certificate_offer.grant()
    gatepass.operator.stop()
    try:
        result = bob.access("login", name, "--timeout=3s")
    finally:
        gatepass.operator.start()
    message = one_error_line(result)
    assert message.startswith(f"CertificateSigningRequest gatepass-{name}-")
    assert message.endswith("was not issued within 3s (Pending: waiting for the operator to approve it); "
                            "is the Gatepass operator running?")
    revoke(gatepass, name)


# -- token mode ----------------------------------------------------------------------------------------


def test_token_login_works_until_revoke_and_the_token_is_bobs_alone(gatepass, bob, alice, token_offer):
    offer = token_offer
    name = offer.grant()
    credential = get(gatepass, "accessrequest", name)["status"]["credential"]
    assert refused(bob, "bob", offer)

    result = ok(bob.access("login", name))
    context = result.stdout.strip()
    assert context == f"bob@{name}"
    assert f"Read the token of ServiceAccount {credential['namespace']}/{credential['serviceAccount']}" \
        in result.stderr
    who = bob.whoami(context)
    assert who["username"] == f"system:serviceaccount:{credential['namespace']}:{credential['serviceAccount']}"
    ok(bob.kubectl("get", "secret", offer.secret, "-n", offer.namespace, context=context))

    # The token's Secret is for bob only: alice may not read it, nor log in with bob's request.
    taken = alice.kubectl("get", "secret", credential["secret"], "-n", credential["namespace"], context="alice")
    assert taken.returncode != 0 and "Forbidden" in taken.stderr
    assert one_error_line(alice.access("login", name)).startswith(f"AccessRequest {name} is bob's, not alice's")
    secret = json.loads(gatepass.kubectl("get", "secret", credential["secret"], "-n", credential["namespace"],
                                         "-o", "json").stdout)
    assert base64.b64decode(secret["data"]["token"]).decode()  # there is one, and bob's context used it

    revoke(gatepass, name)
    wait_for(lambda: refused(bob, context, offer), timeout=WAIT, what="the token to lose access")
    assert one_error_line(bob.access("credential", name, "--context=bob"), code=3).startswith(
        f"AccessRequest {name} is Revoked, ended")


def test_exec_runs_the_command_again_with_the_grants_token(gatepass, bob, token_offer):
    offer = token_offer
    command = ["kubectl", "get", "secret", offer.secret, "-n", offer.namespace, "-o", "name"]
    result, name = exec_until_granted(gatepass, bob, offer, command)
    credential = get(gatepass, "accessrequest", name)["status"]["credential"]
    assert f"Read the token of ServiceAccount {credential['namespace']}/{credential['serviceAccount']}" \
        in result.stderr
    assert refused(bob, "bob", offer)
    revoke(gatepass, name)
    wait_for(lambda: refused(bob, f"bob@{name}", offer), timeout=WAIT, what="the token to lose access")
