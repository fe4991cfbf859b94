"""`kubectl access login` and `credential` against a stand-in API and signer, with real keys and files."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import sys
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from gatepass.cli import kubeconfig, login
from gatepass.cli.commands import Context
from gatepass.cli.credentials import files_for
from gatepass.cli.errors import NOT_GRANTED, CliError
from gatepass.core.credentials import CLIENT_SIGNER, TOKEN_EXPIRY_KEY, TOKEN_KEY, grant_group, lifetime_seconds
from gatepass.core.timestamps import format_time
from gatepass.core.types import Identity

from .cli_fakes import FakeCsrKube, Streams, args, request_obj
from .credential_fakes import CA, denied, signer

NAME = "bob-dba-7xk2q"
UID = "6d1c0f3e-1111-4a4a-9c9c-0123456789ab"
GROUP = grant_group(UID)


def soon(minutes: float = 60) -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=minutes)


def granted(mode: str = "certificate", state: str = "Approved", is_granted: bool | None = True,
            requester: str = "bob", expires: datetime | None = None, **credential) -> dict:
    record = {"certificate": {"mode": "certificate", "group": GROUP},
              "token": {"mode": "token", "namespace": "gatepass-system", "serviceAccount": "gatepass-grant-0a1b",
                        "secret": "gatepass-grant-0a1b"},
              "user": None}[mode]
    status: dict = {"expiresAt": format_time(expires or soon())}
    if record:
        status["credential"] = {**record, **credential}
    obj = request_obj(NAME, state, granted=is_granted, requester=requester, **status)
    obj["metadata"]["uid"] = UID
    return obj


@pytest.fixture
def config(tmp_path):
    """A kubeconfig with bob's own context, as the user has it before logging in."""
    path = tmp_path / "kube" / "config"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "bob",
        "clusters": [{"name": "dev", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "bob", "user": {"token": "bobs-token"}}],
        "contexts": [{"name": "bob", "context": {"cluster": "dev", "user": "bob", "namespace": "payments"}}],
    }))
    os.chmod(path, 0o600)
    return path


def run_login(kube, config, name: str = NAME, timeout: float = 5.0, context: str | None = None):
    streams = Streams()
    ctx = Context(kube, args(name=name, timeout=timeout, kubeconfig=str(config), context=context),
                  streams.out, streams.err)
    code = login.login(ctx)
    return code, streams


def kube_for(obj: dict, ca: CA | None = None, **kwargs) -> FakeCsrKube:
    return FakeCsrKube(requests=[obj], sign=signer(ca or CA()), **kwargs)


# -- certificate mode --------------------------------------------------------------------------------


def test_login_files_a_csr_as_the_user_for_exactly_the_grant_group_and_writes_the_context(config):
    expires = soon(60)
    kube = kube_for(granted(expires=expires))
    code, streams = run_login(kube, config)
    assert code == 0 and streams.out.getvalue() == "bob@bob-dba-7xk2q\n"

    [filed] = kube.filed
    assert filed["metadata"]["generateName"] == f"gatepass-{NAME}-"
    assert filed["spec"]["signerName"] == CLIENT_SIGNER and filed["spec"]["usages"] == ["client auth"]
    assert lifetime_seconds(expires, datetime.now(timezone.utc)) <= filed["spec"]["expirationSeconds"] \
        <= lifetime_seconds(expires, datetime.now(timezone.utc) - timedelta(seconds=5))
    csr = x509.load_pem_x509_csr(base64.b64decode(filed["spec"]["request"]))
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "bob"
    assert [a.value for a in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [GROUP]

    files = files_for(str(config), "bob", NAME)
    for path in (files.key, files.certificate):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(files.certificate.read_bytes())
    assert cert.public_key().public_numbers() == csr.public_key().public_numbers()

    written = yaml.safe_load(config.read_text())
    assert written["current-context"] == "bob"  # left as it was
    context = next(c["context"] for c in written["contexts"] if c["name"] == "bob@bob-dba-7xk2q")
    assert context == {"cluster": "dev", "user": "bob@bob-dba-7xk2q", "namespace": "payments"}
    user = next(u["user"] for u in written["users"] if u["name"] == "bob@bob-dba-7xk2q")
    assert user["exec"]["command"] == "kubectl-access"
    assert user["exec"]["args"] == ["credential", NAME, f"--kubeconfig={config}", "--context=bob"]
    assert stat.S_IMODE(config.stat().st_mode) == 0o600

    err = streams.err.getvalue()
    assert f"Filed CertificateSigningRequest gatepass-{NAME}-00001 for bob (group {GROUP}, " in err
    assert f"Issued the certificate of bob for {NAME}, valid until " in err
    assert f"Wrote context bob@bob-dba-7xk2q to {config}." in err
    assert "Use it with: kubectl --context=bob@bob-dba-7xk2q ..." in err


def test_the_status_line_shows_the_csr_waiting_for_approval_then_the_signer(config):
    ca = CA()

    def slow(obj):
        events = signer(ca)(obj)
        return [("MODIFIED", {**obj, "status": {}}), *events]

    kube = FakeCsrKube(requests=[granted()], sign=slow)
    _, streams = run_login(kube, config)
    err = streams.err.getvalue()
    assert "is Pending: waiting for the operator to approve it" in err
    assert "is Approved: waiting for the signer" in err


def test_a_denied_csr_is_the_operators_one_line_and_nothing_is_written(config):
    before = config.read_text()
    kube = FakeCsrKube(requests=[granted()],
                       sign=lambda obj: [("MODIFIED", denied(obj, "CN alice is not the requester bob"))])
    with pytest.raises(CliError) as raised:
        run_login(kube, config)
    assert raised.value.message == (f"CertificateSigningRequest gatepass-{NAME}-00001 was denied: "
                                    "CN alice is not the requester bob")
    assert config.read_text() == before
    assert not files_for(str(config), "bob", NAME).directory.exists()


def test_a_csr_nobody_approves_times_out_in_one_line(config):
    kube = FakeCsrKube(requests=[granted()], sign=lambda obj: [])
    with pytest.raises(CliError, match=r"was not issued within 0s \(Pending: waiting for the operator to approve "
                                       r"it\); is the Gatepass operator running\?"):
        run_login(kube, config, timeout=0)


def test_a_csr_approved_but_never_signed_points_at_the_signer(config):
    from .credential_fakes import approved

    kube = FakeCsrKube(requests=[granted()], sign=lambda obj: [("MODIFIED", approved(obj))])
    with pytest.raises(CliError, match=r"was not issued within 0.3s \(Approved: waiting for the signer\); does the "
                                       r"cluster sign kubernetes.io/kube-apiserver-client certificates\? \(EKS does "
                                       r"not: use a policy with credentials: token\)"):
        run_login(kube, config, timeout=0.3)


def test_a_deleted_csr_is_one_line(config):
    kube = FakeCsrKube(requests=[granted()], sign=lambda obj: [("DELETED", obj)])
    with pytest.raises(CliError, match=f"CertificateSigningRequest gatepass-{NAME}-00001 was deleted"):
        run_login(kube, config)


@pytest.mark.parametrize("obj, says, code", [
    (granted(state="Pending", is_granted=None), f"AccessRequest {NAME} is Pending, not granted yet", NOT_GRANTED),
    (granted(is_granted=False), f"AccessRequest {NAME} is Approved, not granted yet", NOT_GRANTED),
    (granted(state="Expired", is_granted=False), f"AccessRequest {NAME} is Expired, ended", NOT_GRANTED),
    (granted(state="Revoked", is_granted=False), f"AccessRequest {NAME} is Revoked, ended", NOT_GRANTED),
    (granted(requester="carol"), f"AccessRequest {NAME} is carol's, not bob's", 1),
    (granted("user"), f"AccessRequest {NAME} grants access to bob's own credentials (AccessPolicy demo-dba has "
                      "credentials: user)", 1),
])
def test_login_refuses_what_has_no_credential_of_its_own_in_one_line(config, obj, says, code):
    kube = kube_for(obj)
    with pytest.raises(CliError) as raised:
        run_login(kube, config)
    assert raised.value.message.startswith(says) and raised.value.code == code
    assert kube.filed == []


def test_an_unknown_request_is_one_line(config):
    with pytest.raises(CliError, match='AccessRequest "nope" not found'):
        run_login(kube_for(granted()), config, name="nope")


def test_login_from_a_grants_own_context_is_refused(config):
    run_login(kube_for(granted()), config)
    with pytest.raises(CliError, match="context bob@bob-dba-7xk2q is a grant's own context: log in from your "
                                       "usual context"):
        run_login(kube_for(granted()), config, context="bob@bob-dba-7xk2q")


def test_logging_in_again_replaces_key_certificate_and_context(config):
    run_login(kube_for(granted()), config)
    files = files_for(str(config), "bob", NAME)
    first = files.key.read_bytes()
    run_login(kube_for(granted()), config)
    assert files.key.read_bytes() != first
    written = yaml.safe_load(config.read_text())
    assert [c["name"] for c in written["contexts"]] == ["bob", "bob@bob-dba-7xk2q"]


# -- token mode --------------------------------------------------------------------------------------


def token_secret(token: str = "eyJ.grant.token", expires: datetime | None = None) -> dict:
    data = {TOKEN_KEY: token, TOKEN_EXPIRY_KEY: format_time(expires or soon(60))}
    return {"data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}}


def test_token_login_reads_the_secret_and_writes_the_same_context(config):
    kube = FakeCsrKube(requests=[granted("token")],
                       secrets={("gatepass-system", "gatepass-grant-0a1b"): token_secret()})
    code, streams = run_login(kube, config)
    assert code == 0 and streams.out.getvalue() == "bob@bob-dba-7xk2q\n"
    assert kube.filed == []
    assert "Read the token of ServiceAccount gatepass-system/gatepass-grant-0a1b" in streams.err.getvalue()
    assert any(c["name"] == "bob@bob-dba-7xk2q" for c in yaml.safe_load(config.read_text())["contexts"])
    assert not files_for(str(config), "bob", NAME).directory.exists()  # the token is not kept on disk


def test_a_token_secret_that_cannot_be_read_or_is_empty_is_one_line(config):
    with pytest.raises(CliError, match='Secret "gatepass-grant-0a1b" not found in namespace "gatepass-system"'):
        run_login(FakeCsrKube(requests=[granted("token")]), config)
    empty = FakeCsrKube(requests=[granted("token")], secrets={("gatepass-system", "gatepass-grant-0a1b"): {}})
    with pytest.raises(CliError, match="Secret gatepass-system/gatepass-grant-0a1b holds no token yet"):
        run_login(empty, config)


# -- the exec credential plugin ----------------------------------------------------------------------


def run_credential(config, connect):
    out, err = io.StringIO(), io.StringIO()
    code = login.credential(args(name=NAME, timeout=5.0, kubeconfig=str(config), context="bob"), out, err, connect)
    return code, json.loads(out.getvalue()), err.getvalue()


def never(*_):
    raise AssertionError("the kept certificate should have been used without calling the cluster")


def test_credential_answers_from_the_kept_certificate_without_calling_the_cluster(config):
    run_login(kube_for(granted()), config)
    files = files_for(str(config), "bob", NAME)
    code, answer, _ = run_credential(config, never)
    assert code == 0
    assert answer["apiVersion"] == "client.authentication.k8s.io/v1" and answer["kind"] == "ExecCredential"
    status = answer["status"]
    assert status["clientCertificateData"].encode() == files.certificate.read_bytes()
    assert status["clientKeyData"].encode() == files.key.read_bytes()
    not_after = x509.load_pem_x509_certificate(files.certificate.read_bytes()).not_valid_after_utc
    assert status["expirationTimestamp"] == format_time(not_after)


def test_credential_answers_in_the_version_kubectl_asks(config, monkeypatch):
    run_login(kube_for(granted()), config)
    monkeypatch.setenv("KUBERNETES_EXEC_INFO", json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1",
                                                           "kind": "ExecCredential", "spec": {"interactive": False}}))
    assert run_credential(config, never)[1]["apiVersion"] == "client.authentication.k8s.io/v1beta1"


def test_an_expired_certificate_is_renewed_while_the_grant_lasts(config):
    ca = CA()
    past = datetime.now(timezone.utc) - timedelta(hours=1)
    run_login(FakeCsrKube(requests=[granted()], sign=signer(ca, past)), config)  # issued an hour ago, expired
    files = files_for(str(config), "bob", NAME)
    old = files.certificate.read_bytes()
    kube = kube_for(granted(), ca)
    connected = []

    def connect(kubeconfig_file, context):
        connected.append((kubeconfig_file, context))
        return kube

    code, answer, err = run_credential(config, connect)
    assert code == 0 and connected == [(str(config), "bob")]
    assert len(kube.filed) == 1 and files.certificate.read_bytes() != old
    assert answer["status"]["clientCertificateData"].encode() == files.certificate.read_bytes()
    assert "Filed CertificateSigningRequest" in err  # on stderr, which kubectl shows; stdout is the answer


def test_no_renewal_once_the_grant_has_ended(config):
    kube = kube_for(granted(state="Expired", is_granted=False))
    with pytest.raises(CliError) as raised:
        run_credential(config, lambda *_: kube)
    assert raised.value.code == NOT_GRANTED and "is Expired, ended" in raised.value.message
    assert kube.filed == []


def test_credential_hands_over_the_token_mode_grants_token(config):
    expires = soon(30)
    kube = FakeCsrKube(requests=[granted("token")],
                       secrets={("gatepass-system", "gatepass-grant-0a1b"): token_secret("tok", expires)})
    code, answer, _ = run_credential(config, lambda *_: kube)
    assert answer["status"] == {"token": "tok", "expirationTimestamp": format_time(expires)}


def test_kubeconfig_readers_run_the_plugin_and_get_the_certificate(config, tmp_path, monkeypatch):
    """The written context works for a client that reads kubeconfigs: the exec plugin on PATH answers."""
    run_login(kube_for(granted()), config)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    plugin = bin_dir / "kubectl-access"
    plugin.write_text(f"#!/bin/sh\nexec {sys.executable} -m gatepass.cli.main \"$@\"\n")
    plugin.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    credentials = kubeconfig.resolve(kubeconfig.load(str(config), "bob@bob-dba-7xk2q"))
    assert credentials.cert_data == files_for(str(config), "bob", NAME).certificate.read_bytes()
    assert credentials.token == ""


def test_the_identity_filed_is_who_the_api_server_says(config):
    kube = kube_for(granted(requester="bob@example.com"), me=Identity("bob@example.com"))
    run_login(kube, config)
    csr = x509.load_pem_x509_csr(base64.b64decode(kube.filed[0]["spec"]["request"]))
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "bob@example.com"
    assert any(c["name"] == "bob@example.com@bob-dba-7xk2q" for c in yaml.safe_load(config.read_text())["contexts"])


def test_a_login_that_need_not_be_fresh_uses_the_kept_certificate(config):
    run_login(kube_for(granted()), config)
    files = files_for(str(config), "bob", NAME)
    kept = files.certificate.read_bytes()
    kube = kube_for(granted())
    streams = Streams()
    ctx = Context(kube, args(name=NAME, timeout=5.0, kubeconfig=str(config), context=None), streams.out, streams.err)
    assert login.log_in(ctx, NAME, timeout=5.0, fresh=False) == "bob@bob-dba-7xk2q"
    assert kube.filed == [] and files.certificate.read_bytes() == kept
    assert f"Using the kept certificate of bob for {NAME}, valid until " in streams.err.getvalue()


def test_a_csr_watch_too_old_to_resume_reads_the_csr_again(config):
    from gatepass.cli.kube import Expired

    ca = CA()

    class Expiring(FakeCsrKube):
        watched = 0

        def watch_csr(self, name, resource_version, timeout):
            self.watched += 1
            if self.watched == 1:
                raise Expired()
            return super().watch_csr(name, resource_version, timeout)

    kube = Expiring(requests=[granted()], sign=signer(ca))
    code, _ = run_login(kube, config)
    assert code == 0 and kube.watched == 2


def test_a_kept_certificate_of_an_earlier_request_of_the_same_name_is_not_used(config):
    earlier = granted()
    earlier["status"]["credential"]["group"] = grant_group("an-earlier-uid")
    run_login(kube_for(earlier), config)
    kube = kube_for(granted())
    streams = Streams()
    ctx = Context(kube, args(name=NAME, timeout=5.0, kubeconfig=str(config), context=None), streams.out, streams.err)
    login.log_in(ctx, NAME, timeout=5.0, fresh=False)
    assert len(kube.filed) == 1
    cert = x509.load_pem_x509_certificate(files_for(str(config), "bob", NAME).certificate.read_bytes())
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [GROUP]


def test_the_kept_certificate_is_answered_without_loading_a_client_the_models_or_yaml(config):
    """kubectl runs `credential` for every command in a grant's context: its usual path must start fast."""
    from .test_cli_layers import CLIENTS, modules_loaded

    run_login(kube_for(granted()), config)
    argv = ["credential", NAME, f"--kubeconfig={config}", "--context=bob"]
    loaded = modules_loaded(f"from gatepass.cli.main import main; main({argv!r})")
    assert "gatepass.cli.credentials" in loaded and "cryptography.x509" in loaded
    assert not loaded & CLIENTS, loaded & CLIENTS
    assert "gatepass.cli.kube" not in loaded and "gatepass.cli.commands" not in loaded
