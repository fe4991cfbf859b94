"""A grant's own credential on the user's machine: key and CSR, the files, the kubeconfig, the ExecCredential."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from gatepass.cli import contexts, credentials
from gatepass.cli.errors import CliError
from gatepass.core.credentials import CLIENT_SIGNER, CLIENT_USAGES, CSR_REQUEST_LABEL, grant_group

from .credential_fakes import CA

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)
GROUP = grant_group("0b6f-uid")


# -- key and CSR ------------------------------------------------------------------------------------


def test_the_csr_names_the_user_and_exactly_the_grant_group_and_is_signed_by_the_new_key():
    key_pem, csr_pem = credentials.new_key_and_csr("bob", GROUP)
    csr = x509.load_pem_x509_csr(csr_pem)
    assert csr.is_signature_valid
    assert [a.value for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["bob"]
    assert [a.value for a in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [GROUP]
    assert len(csr.subject) == 2  # nothing else in the subject
    assert list(csr.extensions) == []  # no SANs, no extra usages: the CSR object says client auth
    key = serialization.load_pem_private_key(key_pem, None)
    assert key.public_key().public_numbers() == csr.public_key().public_numbers()
    assert b"ENCRYPTED" not in key_pem and key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_each_csr_has_a_new_key():
    assert credentials.new_key_and_csr("bob", GROUP)[0] != credentials.new_key_and_csr("bob", GROUP)[0]


@pytest.mark.parametrize("username", ["", "x" * 65, "ü" * 33])
def test_a_username_that_no_common_name_can_hold_is_one_line(username):
    with pytest.raises(CliError, match="does not fit a certificate's CommonName .* credentials: token"):
        credentials.new_key_and_csr(username, GROUP)


@pytest.mark.parametrize("username", ["x" * 64, "ü" * 32, "system:serviceaccount:ns:bot"])
def test_usernames_up_to_64_bytes_fit(username):
    _, csr_pem = credentials.new_key_and_csr(username, GROUP)
    assert x509.load_pem_x509_csr(csr_pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == username


def test_the_csr_object_asks_the_client_signer_for_client_auth_only_for_the_lifetime():
    _, csr_pem = credentials.new_key_and_csr("bob", GROUP)
    body = credentials.csr_body("bob-dba-7xk2q", csr_pem, 3600)
    assert body["apiVersion"] == "certificates.k8s.io/v1" and body["kind"] == "CertificateSigningRequest"
    assert body["metadata"] == {"generateName": "gatepass-bob-dba-7xk2q-",
                                "labels": {CSR_REQUEST_LABEL: "bob-dba-7xk2q"}}
    assert body["spec"] == {"request": base64.b64encode(csr_pem).decode(), "signerName": CLIENT_SIGNER,
                            "usages": list(CLIENT_USAGES), "expirationSeconds": 3600}
    assert "username" not in body["spec"] and "groups" not in body["spec"]  # the API server's to say


def test_a_long_request_name_still_leaves_room_for_the_suffix():
    assert len(credentials.csr_prefix("r" * 253)) + 5 <= 253


# -- where a CSR stands -----------------------------------------------------------------------------


def csr(conditions=(), certificate: bytes = b"") -> dict:
    status: dict = {"conditions": [dict(c) for c in conditions]}
    if certificate:
        status["certificate"] = base64.b64encode(certificate).decode()
    return {"metadata": {"name": "gatepass-r-abcde"}, "status": status}


APPROVED = {"type": "Approved", "status": "True", "reason": "GatepassGrant", "message": "ok"}


@pytest.mark.parametrize("obj, line", [
    (csr(), "CertificateSigningRequest gatepass-r-abcde is Pending: waiting for the operator to approve it"),
    (csr([APPROVED]), "CertificateSigningRequest gatepass-r-abcde is Approved: waiting for the signer"),
    (csr([{**APPROVED, "status": "False"}]),
     "CertificateSigningRequest gatepass-r-abcde is Pending: waiting for the operator to approve it"),
])
def test_a_csr_still_waiting_says_for_what(obj, line):
    seen = credentials.csr_progress(obj)
    assert (seen.line, seen.certificate, seen.refused) == (line, b"", "")
    assert seen.stuck == ("is the Gatepass operator running?" if "Pending" in line else
                          "does the cluster sign kubernetes.io/kube-apiserver-client certificates? (EKS does not: "
                          "use a policy with credentials: token)")


def test_a_denied_csr_says_the_operators_message():
    seen = credentials.csr_progress(csr([{"type": "Denied", "status": "True", "reason": "WrongCommonName",
                                          "message": "CN alice is not the requester bob"}]))
    assert seen.refused == "CertificateSigningRequest gatepass-r-abcde was denied: CN alice is not the requester bob"
    assert not seen.certificate


def test_a_denial_without_a_message_gives_its_reason_and_failures_count_too():
    assert credentials.csr_progress(csr([{"type": "Denied", "status": "True", "reason": "TooLong"}])).refused \
        == "CertificateSigningRequest gatepass-r-abcde was denied: TooLong"
    assert credentials.csr_progress(csr([APPROVED, {"type": "Failed", "status": "True", "reason": "SignerError",
                                                    "message": "the CA has expired"}])).refused \
        == "CertificateSigningRequest gatepass-r-abcde failed: the CA has expired"


def test_an_issued_csr_gives_its_certificate():
    seen = credentials.csr_progress(csr([APPROVED], b"-----BEGIN CERTIFICATE-----\n..."))
    assert seen.certificate == b"-----BEGIN CERTIFICATE-----\n..." and not seen.refused


# -- the files --------------------------------------------------------------------------------------


def test_the_files_live_beside_the_kubeconfig_per_context_and_request(tmp_path):
    files = credentials.files_for(str(tmp_path / "config"), "kind-dev/bob", "bob-dba-7xk2q")
    assert files.directory == tmp_path / "gatepass" / "kind-dev%2Fbob"
    assert (files.key.name, files.certificate.name) == ("bob-dba-7xk2q.key", "bob-dba-7xk2q.crt")


def test_private_files_are_0600_in_a_0700_folder_and_replaced_whole(tmp_path):
    path = tmp_path / "gatepass" / "ctx" / "r.key"
    credentials.write_private(path, b"one")
    credentials.write_private(path, b"two")
    assert path.read_bytes() == b"two"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.key"]  # no temporary file left


def test_a_kept_certificate_is_used_until_shortly_before_its_not_after(tmp_path):
    ca = CA()
    files = credentials.files_for(str(tmp_path / "config"), "bob", "r")
    key, csr_pem = credentials.new_key_and_csr("bob", GROUP)
    cert = ca.sign(csr_pem, NOW, 600)
    credentials.write_private(files.key, key)
    credentials.write_private(files.certificate, cert)
    until = NOW + timedelta(seconds=600)
    assert credentials.cached(files, NOW) == (key, cert, until)
    renew = until - timedelta(seconds=credentials.RENEW_BEFORE_SECONDS)
    assert credentials.cached(files, renew - timedelta(seconds=1)) is not None
    assert credentials.cached(files, renew) is None
    assert credentials.cached(files, until + timedelta(days=1)) is None


def test_missing_or_unreadable_files_mean_no_kept_certificate(tmp_path):
    files = credentials.files_for(str(tmp_path / "config"), "bob", "r")
    assert credentials.cached(files, NOW) is None
    credentials.write_private(files.key, b"key")
    assert credentials.cached(files, NOW) is None
    credentials.write_private(files.certificate, b"not a certificate")
    assert credentials.cached(files, NOW) is None


# -- the exec plugin's user and its answer ----------------------------------------------------------


def test_the_grant_user_runs_this_plugin_with_the_users_own_kubeconfig_and_context():
    user = credentials.exec_user("bob-dba-7xk2q", "/home/bob/.kube/config", "bob")
    assert user["exec"]["command"] == "kubectl-access"
    assert user["exec"]["args"] == ["credential", "bob-dba-7xk2q", "--kubeconfig=/home/bob/.kube/config",
                                    "--context=bob"]
    assert user["exec"]["apiVersion"] == "client.authentication.k8s.io/v1"
    assert user["exec"]["interactiveMode"] == "Never"
    assert credentials.is_grant_user(user)
    assert credentials.is_grant_user({"exec": {**user["exec"], "command": "/opt/venv/bin/kubectl-access"}})


@pytest.mark.parametrize("user", [None, {}, {"token": "x"}, {"exec": {"command": "kubectl-access", "args": ["ui"]}},
                                  {"exec": {"command": "gke-gcloud-auth-plugin"}}])
def test_other_users_are_not_grant_users(user):
    assert not credentials.is_grant_user(user)


def test_the_exec_credential_carries_the_certificate_and_key_until_not_after():
    until = NOW + timedelta(minutes=10)
    answer = credentials.exec_credential("client.authentication.k8s.io/v1", until, certificate=b"CERT", key=b"KEY")
    assert answer == {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                      "status": {"expirationTimestamp": "2026-11-24T09:40:00Z", "clientCertificateData": "CERT",
                                 "clientKeyData": "KEY"}}


def test_the_exec_credential_carries_a_token():
    answer = credentials.exec_credential("client.authentication.k8s.io/v1beta1", NOW, token="tok")
    assert answer["status"] == {"expirationTimestamp": "2026-11-24T09:30:00Z", "token": "tok"}
    assert answer["apiVersion"] == "client.authentication.k8s.io/v1beta1"


@pytest.mark.parametrize("info, version", [
    (None, "client.authentication.k8s.io/v1"),
    ("", "client.authentication.k8s.io/v1"),
    ("not json", "client.authentication.k8s.io/v1"),
    (json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential"}),
     "client.authentication.k8s.io/v1beta1"),
])
def test_the_answer_speaks_the_version_kubectl_asked_in(info, version):
    assert credentials.exec_version(info) == version


def test_an_unknown_exec_version_is_one_line():
    with pytest.raises(CliError, match='"client.authentication.k8s.io/v1alpha1" is not supported'):
        credentials.exec_version(json.dumps({"apiVersion": "client.authentication.k8s.io/v1alpha1"}))


# -- writing the context into the kubeconfig --------------------------------------------------------


def kubeconfig_data(*contexts_: str, current: str = "bob") -> dict:
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [{"name": "dev", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": name, "user": {"token": name}} for name in contexts_],
        "contexts": [{"name": name, "context": {"cluster": "dev", "user": name}} for name in contexts_],
    }


def test_the_context_is_added_with_its_user_and_nothing_else_changes():
    data = kubeconfig_data("bob", "alice")
    user = credentials.exec_user("r", "/k", "bob")
    out = contexts.with_context(data, "bob@r", "dev", "payments", user)
    assert out["current-context"] == "bob"
    assert out["clusters"] == data["clusters"]
    assert out["users"][-1] == {"name": "bob@r", "user": user}
    assert out["contexts"][-1] == {"name": "bob@r", "context": {"cluster": "dev", "user": "bob@r",
                                                                "namespace": "payments"}}
    assert out["users"][:2] == data["users"] and out["contexts"][:2] == data["contexts"]


def test_logging_in_again_replaces_the_context_in_place():
    once = contexts.with_context(kubeconfig_data("bob"), "bob@r", "dev", "", {"token": "old"})
    twice = contexts.with_context(once, "bob@r", "dev", "", {"token": "new"})
    assert [u["name"] for u in twice["users"]] == ["bob", "bob@r"]
    assert twice["users"][1]["user"] == {"token": "new"}
    assert twice["contexts"][1]["context"] == {"cluster": "dev", "user": "bob@r"}


def test_an_empty_kubeconfig_gets_its_kind():
    out = contexts.with_context({}, "bob@r", "dev", "", {"token": "t"})
    assert (out["apiVersion"], out["kind"]) == ("v1", "Config")


def test_the_context_goes_into_the_file_that_holds_the_users_context_keeping_its_mode(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(yaml.safe_dump(kubeconfig_data("alice", current="alice")))
    second.write_text(yaml.safe_dump(kubeconfig_data("bob")))
    os.chmod(second, 0o640)
    path = os.pathsep.join([str(first), str(second)])
    assert contexts.file_of(path, "bob") == str(second)
    assert contexts.file_of(path, "nobody") == str(first)
    written = contexts.add_context(path, "bob", "bob@r", "dev", "", {"token": "t"})
    assert written == str(second)
    assert stat.S_IMODE(second.stat().st_mode) == 0o640
    assert [c["name"] for c in yaml.safe_load(second.read_text())["contexts"]] == ["bob", "bob@r"]
    assert "bob@r" not in first.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "b.yaml"]


def test_no_kubeconfig_at_all_is_one_line(tmp_path):
    with pytest.raises(CliError, match="not found; pass --kubeconfig"):
        contexts.add_context(str(tmp_path / "none"), "bob", "bob@r", "dev", "", {})


def test_paths_are_made_absolute_for_the_plugin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert contexts.absolute_path(f"a{os.pathsep}b") == f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}"
    monkeypatch.setenv("KUBECONFIG", "c")
    assert contexts.absolute_path(None) == str(tmp_path / "c")


def test_the_current_context_is_named_first_and_the_file_removed_afterwards(tmp_path):
    config = tmp_path / "config"
    config.write_text(yaml.safe_dump(kubeconfig_data("bob")))
    with contexts.current(str(config), "bob@r") as value:
        first, rest = value.split(os.pathsep)
        assert rest == str(config)
        assert yaml.safe_load(open(first))["current-context"] == "bob@r"
    assert not os.path.exists(first)


def test_not_after_reads_the_certificate_and_refuses_what_is_not_one():
    _, csr_pem = credentials.new_key_and_csr("bob", GROUP)
    assert credentials.not_after(CA().sign(csr_pem, NOW, 600)) == NOW + timedelta(seconds=600)
    with pytest.raises(CliError, match="not a PEM certificate"):
        credentials.not_after(b"nonsense")


def test_a_kubeconfig_behind_a_symbolic_link_is_written_where_the_link_points(tmp_path):
    real = tmp_path / "dotfiles" / "kubeconfig"
    real.parent.mkdir()
    real.write_text(yaml.safe_dump(kubeconfig_data("bob")))
    link = tmp_path / "config"
    link.symlink_to(real)
    contexts.add_context(str(link), "bob", "bob@r", "dev", "", {"token": "t"})
    assert link.is_symlink()
    assert "bob@r" in real.read_text()


def test_organizations_are_the_groups_the_certificate_carries():
    _, csr_pem = credentials.new_key_and_csr("bob", GROUP)
    assert credentials.organizations(CA().sign(csr_pem, NOW, 600)) == (GROUP,)
    assert credentials.organizations(b"nonsense") == ()
