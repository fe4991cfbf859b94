"""The plugin reads kubeconfigs as kubectl does: merged lists, relative paths, tokens, exec plugins."""

from __future__ import annotations

import base64
import json
import os
import sys
import textwrap

import pytest

from gatepass.cli import kubeconfig
from gatepass.cli.kubeconfig import ConfigError, Credentials


def write(path, *, clusters=(), users=(), contexts=(), current=None):
    body = {"apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": n, "cluster": c} for n, c in clusters],
            "users": [{"name": n, "user": u} for n, u in users],
            "contexts": [{"name": n, "context": {"cluster": c, "user": u}} for n, c, u in contexts]}
    if current:
        body["current-context"] = current
    path.write_text(json.dumps(body))
    return str(path)


SERVER = {"server": "https://127.0.0.1:6443"}


def test_a_list_of_files_is_merged_and_the_first_wins(tmp_path, monkeypatch):
    first = write(tmp_path / "a", clusters=[("c", {"server": "https://first:1"})], users=[("bob", {"token": "one"})],
                  contexts=[("bob", "c", "bob")], current="bob")
    second = write(tmp_path / "b", clusters=[("c", {"server": "https://second:2"}), ("d", SERVER)],
                   users=[("bob", {"token": "two"}), ("alice", {"token": "three"})],
                   contexts=[("alice", "d", "alice")], current="alice")
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([first, str(tmp_path / "missing"), second]))
    bob = kubeconfig.load()
    assert (bob.server, bob.credentials.token) == ("https://first:1", "one")
    alice = kubeconfig.load(context="alice")
    assert (alice.server, alice.credentials.token) == ("https://127.0.0.1:6443", "three")


def test_paths_are_relative_to_the_file_that_names_them(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "token").write_text("from-file\n")
    path = write(tmp_path / "conf" / "config",
                 clusters=[("c", {**SERVER, "certificate-authority": "ca.crt", "tls-server-name": "kubernetes"})],
                 users=[("bob", {"tokenFile": "token", "token": "ignored", "client-certificate": "/abs/bob.crt",
                                 "client-key": "bob.key"})],
                 contexts=[("bob", "c", "bob")], current="bob")
    endpoint = kubeconfig.load(path)
    assert endpoint.ca_file == str(tmp_path / "conf" / "ca.crt")
    assert endpoint.tls_server_name == "kubernetes"
    assert endpoint.credentials == Credentials(token="from-file", cert_file="/abs/bob.crt",
                                               key_file=str(tmp_path / "conf" / "bob.key"))


def test_data_fields_are_decoded(tmp_path):
    pem = b"-----BEGIN CERTIFICATE-----\n"
    path = write(tmp_path / "k", clusters=[("c", {**SERVER, "certificate-authority-data": base64.b64encode(pem).decode(),
                                                  "insecure-skip-tls-verify": False})],
                 users=[("u", {"client-certificate-data": base64.b64encode(b"cert").decode(),
                               "client-key-data": base64.b64encode(b"key").decode()})],
                 contexts=[("u", "c", "u")], current="u")
    endpoint = kubeconfig.load(path)
    assert endpoint.ca_data == pem and not endpoint.insecure
    assert (endpoint.credentials.cert_data, endpoint.credentials.key_data) == (b"cert", b"key")


@pytest.mark.parametrize("contexts, current, context, message", [
    ([("bob", "c", "bob")], "bob", "alice", 'context "alice" not found in {path} (contexts: bob)'),
    ([("bob", "c", "bob")], None, None, "{path} has no current context; pass --context"),
    ([("bob", "gone", "bob")], "bob", None, 'context "bob" uses cluster "gone", which {path} does not have'),
])
def test_contexts_that_cannot_be_used_are_one_line(tmp_path, contexts, current, context, message):
    path = write(tmp_path / "k", clusters=[("c", SERVER)], users=[("bob", {"token": "t"})], contexts=contexts,
                 current=current)
    with pytest.raises(ConfigError) as raised:
        kubeconfig.load(path, context)
    assert str(raised.value) == message.format(path=path)


def test_a_missing_user_is_anonymous_and_a_legacy_auth_provider_is_refused(tmp_path):
    path = write(tmp_path / "k", clusters=[("c", SERVER)],
                 users=[("gcp", {"auth-provider": {"name": "gcp"}}),
                        ("oidc", {"auth-provider": {"name": "oidc", "config": {"id-token": "jwt"}}})],
                 contexts=[("nobody", "c", "nobody"), ("gcp", "c", "gcp"), ("oidc", "c", "oidc")], current="nobody")
    assert kubeconfig.load(path).credentials == Credentials()
    assert kubeconfig.load(path, "oidc").credentials.token == "jwt"
    with pytest.raises(ConfigError, match='auth-provider "gcp" is not supported; use an exec credential plugin'):
        kubeconfig.load(path, "gcp")


def plugin(tmp_path, body: str) -> str:
    script = tmp_path / "bin" / "credential"
    script.parent.mkdir(exist_ok=True)
    script.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    script.chmod(0o755)
    return str(script)


def exec_config(tmp_path, command, version="client.authentication.k8s.io/v1", **extra):
    path = write(tmp_path / "k", clusters=[("c", {**SERVER, "insecure-skip-tls-verify": True})],
                 users=[("bob", {"exec": {"apiVersion": version, "command": command, "interactiveMode": "Never",
                                          **extra}})],
                 contexts=[("bob", "c", "bob")], current="bob")
    return kubeconfig.load(path)


def test_an_exec_plugin_gives_the_token_as_kubectl_runs_it(tmp_path):
    plugin(tmp_path, """\
        import json, os, sys
        info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
        token = f"{os.environ['GREETING']}-{sys.argv[1]}-{info['spec']['interactive']}-{info['spec']['cluster']['server']}"
        print(json.dumps({"apiVersion": info["apiVersion"], "kind": "ExecCredential", "status": {"token": token}}))
    """)
    endpoint = exec_config(tmp_path, "./bin/credential", args=["bob"], env=[{"name": "GREETING", "value": "hi"}],
                           provideClusterInfo=True)
    assert kubeconfig.resolve(endpoint).token == "hi-bob-False-https://127.0.0.1:6443"


def test_an_exec_plugin_may_give_a_client_certificate(tmp_path):
    plugin(tmp_path, """\
        import json
        print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                          "status": {"clientCertificateData": "CERT", "clientKeyData": "KEY"}}))
    """)
    endpoint = exec_config(tmp_path, "./bin/credential", version="client.authentication.k8s.io/v1beta1")
    assert kubeconfig.resolve(endpoint) == Credentials(cert_data=b"CERT", key_data=b"KEY")


@pytest.mark.parametrize("body, extra, message", [
    ("import sys; sys.exit(3)\n", {}, "exec plugin {command} failed (exit 3)"),
    ("print('hello')\n", {}, "exec plugin {command} did not print an ExecCredential"),
    ('print(\'{"apiVersion": "client.authentication.k8s.io/v1beta1", "status": {"token": "t"}}\')\n', {},
     'exec plugin {command} answered apiVersion "client.authentication.k8s.io/v1beta1", '
     'not "client.authentication.k8s.io/v1"'),
    ('print(\'{"apiVersion": "client.authentication.k8s.io/v1", "status": {}}\')\n', {},
     "exec plugin {command} gave neither a token nor a client certificate"),
])
def test_exec_plugin_failures_are_one_line(tmp_path, body, extra, message):
    command = plugin(tmp_path, body)
    with pytest.raises(ConfigError) as raised:
        kubeconfig.resolve(exec_config(tmp_path, command, **extra))
    assert str(raised.value) == message.format(command=command)


def test_a_missing_exec_plugin_shows_its_install_hint(tmp_path):
    endpoint = exec_config(tmp_path, "no-such-credential-plugin", installHint="install it\nwith apt")
    with pytest.raises(ConfigError, match=r"exec plugin no-such-credential-plugin: No such file or directory "
                                          r"\(install it with apt\)"):
        kubeconfig.resolve(endpoint)
    with pytest.raises(ConfigError, match='apiVersion "v0" is not supported'):
        kubeconfig.resolve(exec_config(tmp_path, "x", version="v0"))
