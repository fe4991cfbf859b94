"""Where the API server is (gatepass.kube.connection): the kubeconfig as kubectl picks it, or the pod's own."""

from __future__ import annotations

import json

import kubernetes
import pytest

from gatepass.kube.connection import ConfigError, configuration


def kubeconfig(tmp_path, name="config", server="https://10.0.0.1:6443", current="bob") -> str:
    path = tmp_path / name
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", **({"current-context": current} if current else {}),
        "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "bob", "user": {"token": "t-bob"}}],
        "contexts": [{"name": "bob", "context": {"cluster": "c", "user": "bob"}},
                     {"name": "other", "context": {"cluster": "c", "user": "bob"}}],
    }))
    return str(path)


@pytest.fixture
def in_a_pod(monkeypatch):
    """KUBERNETES_SERVICE_HOST set and no kubeconfig anywhere; records whether the pod's configuration was read."""
    used = []
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    monkeypatch.setattr(kubernetes.config, "load_incluster_config",
                        lambda client_configuration: used.append(client_configuration))
    return used


def test_the_named_kubeconfig_and_its_current_context(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    config = configuration(kubeconfig(tmp_path))
    assert config.host == "https://10.0.0.1:6443"
    assert list(config.api_key.values()) == ["Bearer t-bob"]


def test_kubeconfig_from_the_environment_even_in_a_pod(tmp_path, monkeypatch, in_a_pod):
    monkeypatch.setenv("KUBECONFIG", kubeconfig(tmp_path))
    assert configuration(context="other").host == "https://10.0.0.1:6443"
    assert in_a_pod == []


def test_in_a_pod_without_a_kubeconfig_the_service_account(in_a_pod):
    config = configuration()
    assert in_a_pod == [config]


def test_a_tool_a_person_runs_never_takes_the_pods_configuration(in_a_pod):
    with pytest.raises(ConfigError, match="^kubeconfig /nonexistent/kubeconfig not found; pass --kubeconfig"):
        configuration(in_cluster=False)
    assert in_a_pod == []


def test_a_context_named_in_a_pod_needs_a_kubeconfig(in_a_pod):
    with pytest.raises(ConfigError, match="not found"):
        configuration(context="bob")


@pytest.mark.parametrize("setup, message", [
    (lambda tmp: (tmp / "broken").write_text("clusters: [\n") and str(tmp / "broken"),
     r"cannot read kubeconfig .*broken: not valid YAML \(line 2\)$"),
    (lambda tmp: kubeconfig(tmp, current=""), r"^cannot read kubeconfig .*config: .*current-context"),
])
def test_what_is_wrong_with_a_kubeconfig_is_one_line(tmp_path, monkeypatch, setup, message):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match=message):
        configuration(setup(tmp_path))


def test_an_unknown_context_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match=r'^context "alice" not found in .* \(contexts: bob, other\)$'):
        configuration(kubeconfig(tmp_path), "alice")
