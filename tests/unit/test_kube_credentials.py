"""Where the operator's API server is and who it is to it (gatepass.kube.credentials), without the Kubernetes
client: a kubeconfig as kubectl reads it, or the pod's ServiceAccount, kept current; and kopf's login."""

from __future__ import annotations

import datetime
import json
import os
import ssl
import stat
import sys
import tempfile

import pytest

from gatepass.kube import credentials
from gatepass.kube.credentials import ConfigError, Connection, Credentials, TokenFile, connect, in_cluster
from gatepass.kube.http import ssl_context
from gatepass.process.certificates import generate
from gatepass.process.connection import ApiClient, api_client, connection_info

NOW = datetime.datetime.now(datetime.timezone.utc)


def kubeconfig(tmp_path, user: dict, *, current: str = "c", server: str = "https://10.0.0.1:6443", cluster=None):
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [{"name": "c", "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}},
                     {"name": "other", "context": {"cluster": "c", "user": "u"}}],
    }))
    return str(path)


@pytest.fixture(autouse=True)
def outside_a_pod(monkeypatch, tmp_path):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))


def test_a_kubeconfig_s_token_server_and_ca_are_used(tmp_path):
    path = kubeconfig(tmp_path, {"token": "t0ken"}, cluster={"certificate-authority-data": "UEVN",
                                                              "tls-server-name": "api.internal"})
    connection = connect(path)
    assert connection.host == "https://10.0.0.1:6443" and connection.ca_data == b"PEM"
    assert connection.tls_server_name == "api.internal" and not connection.insecure
    assert connection.headers() == {"Authorization": "Bearer t0ken"}
    assert connect(path, "other").host == "https://10.0.0.1:6443"


def test_basic_auth_is_a_basic_authorization_header(tmp_path):
    connection = connect(kubeconfig(tmp_path, {"username": "admin", "password": "secret"}))
    assert connection.headers() == {"Authorization": "Basic YWRtaW46c2VjcmV0"}


@pytest.mark.parametrize("context, current, message", [
    ("nope", "c", r'^context "nope" not found in .* \(contexts: c, other\)$'),
    (None, "", r"has no current context; pass --context$"),
])
def test_a_context_that_cannot_be_used_is_one_line(tmp_path, context, current, message):
    with pytest.raises(ConfigError, match=message):
        connect(kubeconfig(tmp_path, {"token": "t"}, current=current), context)


def test_no_kubeconfig_outside_a_pod_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"^kubeconfig .*none not found; pass --kubeconfig or set KUBECONFIG$"):
        connect()


def service_account(tmp_path, token: str = "sa-token"):
    (tmp_path / "token").write_text(token)
    (tmp_path / "ca.crt").write_text("CA")
    return str(tmp_path)


def test_in_a_pod_without_a_kubeconfig_the_service_account_is_used(tmp_path, monkeypatch):
    monkeypatch.setattr(credentials, "SERVICE_ACCOUNT", service_account(tmp_path))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    connection = connect()
    assert connection.host == "https://10.96.0.1:443" and connection.ca_file == str(tmp_path / "ca.crt")
    assert connection.headers() == {"Authorization": "Bearer sa-token"}
    # A kubeconfig named, or a context, is a person's choice: the ServiceAccount is not used then.
    assert connect(kubeconfig(tmp_path, {"token": "mine"})).headers() == {"Authorization": "Bearer mine"}


def test_the_service_account_s_address_may_be_ipv6_and_must_be_complete(tmp_path):
    root = service_account(tmp_path)
    assert in_cluster(root, {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}).host == \
        "https://[fd00::1]:443"
    with pytest.raises(ConfigError, match="KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"):
        in_cluster(root, {"KUBERNETES_SERVICE_HOST": "10.96.0.1"})
    os.unlink(tmp_path / "ca.crt")
    with pytest.raises(ConfigError, match=r"the ServiceAccount CA file .*ca.crt does not exist$"):
        in_cluster(root, {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"})


def test_a_rotated_token_is_read_again_and_a_file_being_replaced_keeps_the_last(tmp_path):
    path = tmp_path / "token"
    path.write_text("one\n")
    tokens = TokenFile(str(path))
    assert tokens.credentials().token == "one"
    fresh = tmp_path / "fresh"
    fresh.write_text("two")
    os.replace(fresh, path)
    assert tokens.credentials().token == "two"
    os.unlink(path)
    assert tokens.credentials().token == "two"
    with pytest.raises(ConfigError, match="cannot read the token file"):
        TokenFile(str(path)).credentials()


def exec_plugin(tmp_path, expires: datetime.datetime | None) -> dict:
    """A plugin that counts its runs in a file and gives a token numbered by it."""
    script = tmp_path / "plugin.py"
    runs = tmp_path / "runs"
    status = {"token": "tok-{n}"}
    if expires is not None:
        status["expirationTimestamp"] = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    script.write_text(
        f"#!{sys.executable}\nimport json, pathlib\np = pathlib.Path({str(runs)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\np.write_text(str(n))\n"
        f"status = {status!r}\nstatus['token'] = status['token'].format(n=n)\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential', "
        "'status': status}))\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(script),
                     "interactiveMode": "Never"}}


def test_an_exec_plugin_is_asked_again_only_once_its_credential_expires(tmp_path):
    lasting = connect(kubeconfig(tmp_path, exec_plugin(tmp_path, NOW + datetime.timedelta(hours=1))))
    assert [lasting.headers()["Authorization"] for _ in range(3)] == ["Bearer tok-1"] * 3
    assert not lasting.refresh_due()
    (tmp_path / "runs").unlink()

    expiring = connect(kubeconfig(tmp_path, exec_plugin(tmp_path, NOW + datetime.timedelta(seconds=5))))
    assert expiring.refresh_due()  # within the margin: run again (in a thread, by ApiHttp)
    assert [expiring.headers()["Authorization"] for _ in range(2)] == ["Bearer tok-2", "Bearer tok-3"]


def test_a_failing_exec_plugin_stops_the_start_in_one_line(tmp_path):
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(tmp_path / "missing"),
                     "interactiveMode": "Never"}}
    with pytest.raises(ConfigError, match=r"^exec plugin .*missing: No such file or directory$"):
        connect(kubeconfig(tmp_path, user))


def test_client_certificate_data_is_loaded_and_its_files_removed(tmp_path):
    bundle = generate(["gatepass.test"], NOW)
    connection = Connection("https://10.0.0.1:6443", Credentials, ca_data=bundle.ca)
    before = set(os.listdir(tempfile.gettempdir()))
    context = ssl_context(connection, Credentials(cert_data=bundle.cert, key_data=bundle.key))
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    assert not {name for name in set(os.listdir(tempfile.gettempdir())) - before
                if name.startswith("gatepass-")}


def test_kopf_logs_in_with_the_connection_s_server_ca_and_credentials_of_the_moment(tmp_path):
    expires = NOW + datetime.timedelta(hours=1)
    client = api_client(kubeconfig(tmp_path, exec_plugin(tmp_path, expires),
                                   cluster={"certificate-authority-data": "UEVN"}), None, workers=4)
    assert isinstance(client, ApiClient) and client.async_http.connections == 16
    info = connection_info(client)
    assert (info.server, info.ca_data, info.scheme, info.token) == ("https://10.0.0.1:6443", b"PEM", "Bearer", "tok-1")
    assert info.expiration == expires.replace(microsecond=0)
    assert info.default_namespace == "default" and info.insecure is None

    basic = connection_info(api_client(kubeconfig(tmp_path, {"username": "a", "password": "b"}), None, 1))
    assert (basic.username, basic.password, basic.token, basic.scheme) == ("a", "b", None, None)
