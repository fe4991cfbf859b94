"""Short-lived credentials bound to each grant, on the real control plane, as the dev users.

certificate mode: bob files CSRs for client certificates himself (raw ones, built here with
``cryptography``, as `kubectl access login` would); the operator approves only the right one for a live
grant and denies every other with a one-line message; the certificate carries the grant's group, which
alone the bindings name. Access ends at the certificate's NotAfter even while the operator is SIGKILLed
and stays down; when it comes back, it deletes the leftover binding. An early revoke ends access at once.

token mode: the grant's ServiceAccount token, in a Secret only the requester may read, works until the
grant ends, and not after.

The ValidatingAdmissionPolicy confines what the operator's ServiceAccount may approve, whatever its RBAC.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gatepass.core import credentials as cr
from gatepass.devcluster.operator import OperatorProcess

from .helpers import approve, create_request, get, policy_body, unique, wait_for, wait_state

pytestmark = pytest.mark.e2e

LEASE = ("--lease-duration=4", "--lease-renew-deadline=3", "--lease-retry-period=0.5")


# -- helpers ------------------------------------------------------------------------------------------


MADE: list[str] = []  # the policies this module applied, deleted when it is done


@pytest.fixture(scope="module", autouse=True)
def _policies_removed(gatepass):
    """The module's policies offer the ClusterRole dba in payments to developers with one approval, under names
    before demo-dba's: left behind, they would govern other modules' requests for dba there."""
    yield
    for name in MADE:
        gatepass.kubectl("delete", "accesspolicy", name, "--ignore-not-found", check=False)
    MADE.clear()


def make_policy(gatepass, mode: str) -> tuple[str, str]:
    """A policy of credentials ``mode`` offering a role of its own (the ClusterRole dba in payments)."""
    name, role = unique(f"cred-{mode}"), unique("dba")
    body = policy_body(name, role=role, credentials=mode, maxDuration="2h")
    MADE.append(name)
    applied = gatepass.kubectl("apply", "-f", "-", input=json.dumps(body))
    # The operator holds what the mode needs (asked as the API server answers it): no warning.
    assert "credentials " not in applied.stderr, applied.stderr
    return name, role


def granted_request(gatepass, role: str, user: str = "bob", duration: str = "1h") -> dict:
    name = unique(f"{user}-cred")
    create_request(gatepass, name, user=user, roles=(role,), duration=duration)
    approve(gatepass, name, "alice")
    return wait_for(lambda: _granted(get(gatepass, "accessrequest", name)), timeout=30,
                    what=f"{name} to be granted")


def _granted(body: dict) -> dict | None:
    conditions = (body.get("status") or {}).get("conditions") or ()
    return body if any(c["type"] == "Granted" and c["status"] == "True" for c in conditions) else None


def csr_manifest(request: str, common_name: str, organizations: list[str], *,
                 usages=("client auth",), expiration: int | None = 600) -> tuple[dict, bytes]:
    """A CSR as `kubectl access login` files it (its key stays here), and the key's PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    names += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    request_pem = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names))
                   .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    spec = {"request": base64.b64encode(request_pem).decode(), "signerName": cr.CLIENT_SIGNER,
            "usages": list(usages)}
    if expiration is not None:
        spec["expirationSeconds"] = expiration
    body = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"generateName": f"gatepass-{request}-", "labels": {cr.CSR_REQUEST_LABEL: request}},
            "spec": spec}
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return body, key_pem


def file_csr(gatepass, user: str, body: dict) -> str:
    out = gatepass.kubectl("create", "-f", "-", "-o", "json", user=user, input=json.dumps(body))
    return json.loads(out.stdout)["metadata"]["name"]


def decision(gatepass, name: str, timeout: float = 30) -> dict:
    """The CSR's Approved or Denied condition, once it has one."""
    def decided():
        body = get(gatepass, "csr", name)
        found = [c for c in (body.get("status") or {}).get("conditions") or () if c["type"] in ("Approved", "Denied")]
        return found[0] if found else None
    return wait_for(decided, timeout=timeout, what=f"CSR {name} to be decided")


def certificate(gatepass, name: str) -> bytes:
    issued = wait_for(lambda: (get(gatepass, "csr", name).get("status") or {}).get("certificate"), timeout=30,
                      what=f"CSR {name} to be signed")
    return base64.b64decode(issued)


class Credential:
    """A kubeconfig with only the given client certificate or token, for kubectl."""

    def __init__(self, gatepass, folder: Path, *, cert: bytes = b"", key: bytes = b"", token: str = "") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        user: dict = {"token": token} if token else {
            "client-certificate-data": base64.b64encode(cert).decode(),
            "client-key-data": base64.b64encode(key).decode()}
        plane = gatepass.cluster.plane
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
                  "clusters": [{"name": "c", "cluster": {
                      "server": plane.server,
                      "certificate-authority-data": base64.b64encode(plane.ca_pem).decode()}}],
                  "users": [{"name": "u", "user": user}],
                  "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}
        self.path = folder / "kubeconfig"
        self.path.write_text(yaml.safe_dump(config))
        self.path.chmod(0o600)
        self.kubectl = gatepass.cluster.kubectl

    def run(self, *args: str):
        import subprocess
        return subprocess.run([str(self.kubectl.binary), f"--kubeconfig={self.path}", *args],
                              capture_output=True, text=True, timeout=60)

    def whoami(self) -> dict:
        result = self.run("auth", "whoami", "-o", "json")
        return json.loads(result.stdout)["status"]["userInfo"] if result.returncode == 0 else {}

    def reads_secrets(self) -> str:
        """'yes' when it can list the secrets of payments; else kubectl's one-line error."""
        result = self.run("get", "secrets", "-n", "payments", "-o", "name")
        return "yes" if result.returncode == 0 else result.stderr.strip()


def _ok(result):
    return result if result.returncode == 0 else None


def not_after(cert: bytes) -> dt.datetime:
    return x509.load_pem_x509_certificate(cert).not_valid_after_utc


# -- certificate mode -------------------------------------------------------------------------------


def test_the_requesters_own_csr_for_a_live_grant_is_approved_and_binds_only_the_group(gatepass, tmp_path):
    _, role = make_policy(gatepass, "certificate")
    request = granted_request(gatepass, role)
    name, uid = request["metadata"]["name"], request["metadata"]["uid"]
    group = cr.grant_group(uid)
    assert request["status"]["credential"] == {"mode": "certificate", "group": group}
    bindings = [b for b in json.loads(gatepass.kubectl("get", "rolebindings", "-n", "payments", "-o", "json")
                                      .stdout)["items"]
                if any(o.get("uid") == uid for o in b["metadata"].get("ownerReferences") or ())]
    assert bindings and all(b["subjects"] == [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                                               "name": group}] for b in bindings)
    # bob himself holds nothing: the binding names only the group.
    assert gatepass.kubectl("auth", "can-i", "get", "secrets", "-n", "payments", "--as", "bob",
                            check=False).stdout.strip() == "no"

    expires_at = dt.datetime.strptime(request["status"]["expiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.timezone.utc)
    lifetime = cr.lifetime_seconds(expires_at, dt.datetime.now(dt.timezone.utc))
    body, key = csr_manifest(name, "bob", [group], expiration=lifetime)
    csr = file_csr(gatepass, "bob", body)
    verdict = decision(gatepass, csr)
    assert (verdict["type"], verdict["reason"]) == ("Approved", cr.APPROVED_REASON), verdict
    cert = certificate(gatepass, csr)
    # The certificate lives until the grant's end, give or take the round trip, and no longer.
    slack = dt.timedelta(seconds=cr.EXPIRATION_SLACK_SECONDS)
    assert expires_at - slack <= not_after(cert) <= expires_at + slack, (not_after(cert), expires_at)

    credential = Credential(gatepass, tmp_path / "bob", cert=cert, key=key)
    who = credential.whoami()
    assert who["username"] == "bob" and group in who["groups"]
    assert credential.reads_secrets() == "yes"

    # An early revoke ends access at once, through the binding, though the certificate is still valid.
    gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/revoke=done", user="bob")
    wait_state(gatepass, name, "Revoked")
    wait_for(lambda: credential.reads_secrets() != "yes", timeout=20, what="access to end at the revoke")
    assert "forbidden" in credential.reads_secrets().lower()
    assert credential.whoami()["username"] == "bob"  # the certificate itself still authenticates

    # ... and no new certificate is given for it.
    body, _ = csr_manifest(name, "bob", [group])
    refused = decision(gatepass, file_csr(gatepass, "bob", body))
    assert (refused["type"], refused["reason"]) == ("Denied", cr.NOT_GRANTED)
    assert refused["message"] == f"AccessRequest {name} is Revoked"


def test_every_wrong_csr_is_denied_saying_why(gatepass):
    _, role = make_policy(gatepass, "certificate")
    live = granted_request(gatepass, role)
    name, group = live["metadata"]["name"], cr.grant_group(live["metadata"]["uid"])

    pending = unique("bob-pending")
    create_request(gatepass, pending, user="bob", roles=(role,))
    pending_group = cr.grant_group(get(gatepass, "accessrequest", pending)["metadata"]["uid"])

    short = granted_request(gatepass, role, duration="3s")
    wait_state(gatepass, short["metadata"]["name"], "Expired")
    expired_group = cr.grant_group(short["metadata"]["uid"])

    _, user_role = make_policy(gatepass, "user")
    user_mode = granted_request(gatepass, user_role)

    cases = [
        # (who files, CN, O, expirationSeconds, reason, message)
        ("bob", "alice", [group], 600, cr.WRONG_COMMON_NAME, "CN alice is not the requester bob"),
        ("bob", "bob", [group, "dba-leads"], 600, cr.WRONG_GROUPS,
         f"O must be exactly [{group}], not [{group}, dba-leads]"),
        ("bob", "bob", [group], 4 * 3600, cr.TOO_LONG, "expirationSeconds 14400 is more than the grant's"),
        ("dave", "dave", [group], 600, cr.NOT_REQUESTER,
         f"filed by dave, not by bob, the requester of AccessRequest {name}"),
        ("dave", "bob", [group], 600, cr.NOT_REQUESTER, "filed by dave, not by bob"),
        ("bob", "bob", [pending_group], 600, cr.NOT_GRANTED, f"AccessRequest {pending} is not granted now"),
        ("bob", "bob", [expired_group], 600, cr.NOT_GRANTED,
         f"AccessRequest {short['metadata']['name']} is Expired"),
        ("bob", "bob", [cr.grant_group(user_mode["metadata"]["uid"])], 600, cr.NOT_CERTIFICATE_MODE,
         "was granted with credentials user, not certificate"),
        ("bob", "bob", ["gatepass:grant:00000000-0000-4000-8000-000000000000"], 600, cr.NO_SUCH_REQUEST,
         "no AccessRequest has uid 00000000-0000-4000-8000-000000000000"),
        ("bob", "bob", [group], None, cr.NO_EXPIRATION, "spec.expirationSeconds must be set"),
    ]
    filed = []
    for user, cn, orgs, seconds, reason, message in cases:
        body, _ = csr_manifest(name, cn, orgs, expiration=seconds)
        filed.append((file_csr(gatepass, user, body), reason, message))
    body, _ = csr_manifest(name, "bob", [group], usages=("client auth", "digital signature"))
    filed.append((file_csr(gatepass, "bob", body), cr.WRONG_USAGES, "usages must be exactly [client auth]"))

    for csr, reason, message in filed:
        verdict = decision(gatepass, csr)
        assert (verdict["type"], verdict["reason"]) == ("Denied", reason), (csr, verdict)
        assert message in verdict["message"] and "\n" not in verdict["message"], verdict
        assert not (get(gatepass, "csr", csr).get("status") or {}).get("certificate")
    assert "Traceback" not in gatepass.operator.log()


def test_csrs_that_are_not_for_a_grant_are_left_alone(gatepass):
    _, role = make_policy(gatepass, "certificate")
    live = granted_request(gatepass, role)
    foreign, _ = csr_manifest("none", "bob", ["developers"])
    foreign_name = file_csr(gatepass, "bob", foreign)
    # Filed after it: once this one is decided, the operator has seen the other.
    ours, _ = csr_manifest(live["metadata"]["name"], "bob", [cr.grant_group(live["metadata"]["uid"])])
    assert decision(gatepass, file_csr(gatepass, "bob", ours))["type"] == "Approved"
    assert not (get(gatepass, "csr", foreign_name).get("status") or {}).get("conditions")


def test_the_operator_account_may_not_approve_what_the_admission_policy_forbids(gatepass):
    """The operator's own ServiceAccount token (its RBAC may approve kube-apiserver-client certificates)
    is refused by the ValidatingAdmissionPolicy for a long certificate, one without a duration, and one
    for a system: user; a certificate within the bounds it may approve."""
    def csr(seconds: int | None, as_user: str | None = None) -> str:
        body, _ = csr_manifest("vap", "mallory", ["mallory"], expiration=seconds)
        body["metadata"] = {"generateName": "vap-"}
        args = ("create", "-f", "-", "-o", "json") + (
            (f"--as={as_user}", "--as-group=system:masters") if as_user else ())
        return json.loads(gatepass.kubectl(*args, input=json.dumps(body)).stdout)["metadata"]["name"]

    def approve_as_operator(name: str):
        return gatepass.kubectl("certificate", "approve", name, user="operator", check=False)

    long = approve_as_operator(csr(2 * 24 * 3600))
    assert long.returncode != 0 and "expire within 86400 seconds" in long.stderr, long.stderr
    unbounded = approve_as_operator(csr(None))
    assert unbounded.returncode != 0 and "expire within 86400 seconds" in unbounded.stderr, unbounded.stderr
    system = approve_as_operator(csr(600, as_user="system:kube-scheduler"))
    assert system.returncode != 0 and "may not approve certificates for system users" in system.stderr, \
        system.stderr
    within = csr(600)
    assert approve_as_operator(within).returncode == 0
    assert decision(gatepass, within)["type"] == "Approved"
    # Denials are never held back.
    denied = csr(2 * 24 * 3600)
    assert gatepass.kubectl("certificate", "deny", denied, user="operator", check=False).returncode == 0


# -- access ends with the operator down -------------------------------------------------------------


@pytest.fixture
def short_certificates(gatepass):
    """The controller manager signs certificates of at most 60 s for the test (the API's minimum
    expirationSeconds is 600; the signer's --cluster-signing-duration caps it below that), then goes back
    to its defaults."""
    plane = gatepass.cluster.plane
    plane.restart_controller_manager(signing_duration="60s")
    try:
        yield 60
    finally:
        plane.restart_controller_manager()


def test_access_ends_at_not_after_while_the_operator_is_down(gatepass, short_certificates, tmp_path):
    cluster = gatepass.cluster
    _, role = make_policy(gatepass, "certificate")
    folder = tmp_path / "operator"
    gatepass.operator.stop()  # graceful: it hands the lease back
    own = OperatorProcess(cluster.plane, cluster.kubectl, folder, name="credentials", extra_args=LEASE)
    again = None
    try:
        own.start()
        request = granted_request(gatepass, role, duration="100s")
        name, uid = request["metadata"]["name"], request["metadata"]["uid"]
        expires_at = dt.datetime.strptime(request["status"]["expiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=dt.timezone.utc)
        body, key = csr_manifest(name, "bob", [cr.grant_group(uid)], expiration=cr.MIN_LIFETIME_SECONDS)
        csr = file_csr(gatepass, "bob", body)
        assert decision(gatepass, csr)["type"] == "Approved"
        cert = certificate(gatepass, csr)
        ends = not_after(cert)
        assert ends < expires_at, "the test's signer signs for less than the grant"
        credential = Credential(gatepass, tmp_path / "bob", cert=cert, key=key)
        assert credential.reads_secrets() == "yes"

        own.kill()  # SIGKILL, before the grant's deadline; it stays down
        assert dt.datetime.now(dt.timezone.utc) < ends
        wait_for(lambda: credential.reads_secrets() != "yes", timeout=short_certificates + 30, interval=1,
                 what="access to end at the certificate's NotAfter")
        assert dt.datetime.now(dt.timezone.utc) >= ends
        assert "Unauthorized" in credential.reads_secrets()
        # Nobody deleted the binding: the certificate's expiry alone ended the access.
        leftover = [b["metadata"]["name"] for b in json.loads(gatepass.kubectl(
            "get", "rolebindings", "-n", "payments", "-o", "json").stdout)["items"]
            if any(o.get("uid") == uid for o in b["metadata"].get("ownerReferences") or ())]
        assert leftover
        assert get(gatepass, "accessrequest", name)["status"]["state"] == "Approved"

        # Past the grant's deadline, the operator comes back and deletes the leftover binding.
        wait_for(lambda: dt.datetime.now(dt.timezone.utc) > expires_at, timeout=120, interval=1,
                 what="the grant's deadline to pass")
        again = OperatorProcess(cluster.plane, cluster.kubectl, folder, name="credentials",
                                webhook_port=own.webhook_port, health_port=own.health_port,
                                extra_args=LEASE).start()
        wait_state(gatepass, name, "Expired", timeout=60)
        wait_for(lambda: all(gatepass.kubectl("get", "rolebinding", "-n", "payments", binding,
                                              check=False).returncode != 0 for binding in leftover),
                 timeout=30, what="the leftover binding to be deleted")
    finally:
        for process in (again, own):
            if process is not None:
                process.stop()
        gatepass.operator.start()


# -- token mode -------------------------------------------------------------------------------------


def test_token_mode_grants_through_a_token_only_the_requester_reads(gatepass, tmp_path):
    _, role = make_policy(gatepass, "token")
    request = granted_request(gatepass, role)
    name = request["metadata"]["name"]
    record = request["status"]["credential"]
    assert record["mode"] == "token" and record["namespace"] == cr.DEFAULT_CREDENTIALS_NAMESPACE
    namespace, secret = record["namespace"], record["secret"]

    def read_secret(user: str):
        return gatepass.kubectl("get", "secret", secret, "-n", namespace, "-o", "json", user=user, check=False)

    found = wait_for(lambda: _ok(read_secret("bob")), timeout=30, what="bob to read the token's Secret")
    data = json.loads(found.stdout)["data"]
    token = base64.b64decode(data[cr.TOKEN_KEY]).decode()
    assert base64.b64decode(data[cr.TOKEN_EXPIRY_KEY]).decode()
    for other in ("dave", "alice"):  # another requester, a reviewer: neither may read it
        refused = read_secret(other)
        assert refused.returncode != 0 and "forbidden" in refused.stderr.lower(), refused.stderr
    listing = gatepass.kubectl("get", "secrets", "-n", namespace, user="bob", check=False)
    assert listing.returncode != 0  # bob may get his Secret by name, not list others

    credential = Credential(gatepass, tmp_path / "token", token=token)
    assert credential.whoami()["username"] == f"system:serviceaccount:{namespace}:{record['serviceAccount']}"
    assert credential.reads_secrets() == "yes"

    gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/revoke=done", user="bob")
    wait_state(gatepass, name, "Revoked")
    wait_for(lambda: "Unauthorized" in credential.reads_secrets(), timeout=30, interval=0.5,
             what="the token to stop working once its ServiceAccount is deleted")
    assert read_secret("admin").returncode != 0  # the Secret is gone too


def test_token_mode_access_ends_at_expiry(gatepass, tmp_path):
    _, role = make_policy(gatepass, "token")
    request = granted_request(gatepass, role, duration="8s")
    name, record = request["metadata"]["name"], request["status"]["credential"]
    found = wait_for(lambda: _ok(gatepass.kubectl("get", "secret", record["secret"], "-n", record["namespace"],
                                                  "-o", "json", user="bob", check=False)), timeout=30,
                     what="the token's Secret")
    token = base64.b64decode(json.loads(found.stdout)["data"][cr.TOKEN_KEY]).decode()
    credential = Credential(gatepass, tmp_path / "token", token=token)
    wait_state(gatepass, name, "Expired", timeout=30)
    wait_for(lambda: "Unauthorized" in credential.reads_secrets(), timeout=30, interval=0.5,
             what="the token to stop working at the grant's end")
    assert gatepass.kubectl("get", "serviceaccount", record["serviceAccount"], "-n", record["namespace"],
                            check=False).returncode != 0
