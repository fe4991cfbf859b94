"""Resource asks from the command line (--resource, --verbs, -n) and from a refused command (exec)."""

from __future__ import annotations

import pytest

from gatepass.cli import asks
from gatepass.cli.errors import CliError
from gatepass.core.rbac import Access
from gatepass.core.resources import Ask


@pytest.mark.parametrize("text, parsed", [
    ("pods/db-1", ("", "pods", "db-1")),
    ("pods", ("", "pods", "")),
    ("Pods", ("", "pods", "")),
    ("deployments.apps/web", ("apps", "deployments", "web")),
    ("certificates.cert-manager.io", ("cert-manager.io", "certificates", "")),
])
def test_a_resource_is_named_as_kubectl_names_it(text, parsed):
    assert asks.parse_resource(text) == parsed


@pytest.mark.parametrize("text", ["", "/db-1", "pods/", "pods/log/db-1", "pods/db 1", ".apps/web"])
def test_a_malformed_resource_is_one_line(text):
    with pytest.raises(CliError, match=r"invalid --resource .*use TYPE\[\.GROUP\]\[/NAME\]"):
        asks.parse_resource(text)


def test_flags_make_one_ask_per_resource_with_its_verbs():
    found = asks.from_flags(["pods/db-1"], ["get", "list"], "payments")
    assert found == [Ask(resource="pods", verbs=("get", "list"), namespace="payments", names=("db-1",))]


def test_pod_words_ask_for_the_subresource_with_the_verb_rbac_checks():
    found = asks.from_flags(["pods/db-1"], ["get", "logs", "exec"], "payments")
    assert found == [
        Ask(resource="pods", verbs=("get",), namespace="payments", names=("db-1",)),
        Ask(resource="pods", verbs=("get",), subresource="log", namespace="payments", names=("db-1",)),
        Ask(resource="pods", verbs=("create",), subresource="exec", namespace="payments", names=("db-1",)),
    ]
    assert [a.describe() for a in found] == ["get pods db-1 in payments", "get pods/log db-1 in payments",
                                             "create pods/exec db-1 in payments"]


def test_names_of_one_kind_are_asked_together_and_any_name_apart():
    found = asks.from_flags(["pods/db-1", "pods/db-2", "secrets", "deployments.apps/web"], ["get"], "payments")
    assert found == [
        Ask(resource="pods", verbs=("get",), namespace="payments", names=("db-1", "db-2")),
        Ask(resource="secrets", verbs=("get",), namespace="payments"),
        Ask(resource="deployments", verbs=("get",), api_group="apps", namespace="payments", names=("web",)),
    ]


def test_a_cluster_scoped_resource_has_no_namespace_and_a_subresource_can_be_named():
    assert asks.from_flags(["nodes/node-1"], ["get"]) == [Ask(resource="nodes", verbs=("get",), names=("node-1",))]
    assert asks.from_flags(["deployments.apps/web"], ["update"], "payments", "scale") == [
        Ask(resource="deployments", verbs=("update",), api_group="apps", subresource="scale", namespace="payments",
            names=("web",))]


@pytest.mark.parametrize("resources, verbs, sub, message", [
    (["pods/db-1"], [], "", "--resource needs --verbs"),
    (["secrets/x"], ["logs"], "", "--verbs logs applies to pods only (the log subresource)"),
    (["deployments.apps/web"], ["exec"], "", "--verbs exec applies to pods only"),
    (["pods/db-1"], ["logs"], "status", "--verbs logs applies to pods only"),
])
def test_flags_that_do_not_fit_are_one_line(resources, verbs, sub, message):
    with pytest.raises(CliError, match=message.replace("(", r"\(").replace(")", r"\)")):
        asks.from_flags(resources, verbs, "payments", sub)


def test_no_resource_flags_ask_for_nothing():
    assert asks.from_flags([], ["get"]) == []


def test_the_body_has_the_api_keys_and_leaves_out_what_is_unset():
    assert asks.body(Ask(resource="pods", verbs=("get",), subresource="log", namespace="payments",
                         names=("db-1",))) == {
        "apiGroup": "", "resource": "pods", "subresource": "log", "namespace": "payments", "names": ["db-1"],
        "verbs": ["get"]}
    assert asks.body(Ask(resource="nodes", verbs=("list",))) == {"apiGroup": "", "resource": "nodes",
                                                                  "verbs": ["list"]}


GET_POD = Access(verb="get", resource="pods", namespace="payments", name="db-1")
GET_LOG = Access(verb="get", resource="pods/log", namespace="payments", name="db-1")


@pytest.mark.parametrize("command, word", [
    (["kubectl", "logs", "db-1", "-n", "payments"], "logs"),
    (["/usr/local/bin/kubectl", "--context", "bob", "exec", "db-1", "--", "sh"], "exec"),
    (["kubectl", "get", "pods", "--", "logs"], ""),
    (["kubectl", "get", "pods"], ""),
    (["python", "logs"], ""),
    ([], ""),
])
def test_the_kubectl_command_is_found_among_the_words(command, word):
    assert asks.kubectl_command(command) == word


def test_a_refused_kubectl_logs_asks_for_the_pod_and_its_log_at_once():
    found = asks.from_refusals([GET_POD], ["kubectl", "logs", "db-1", "-n", "payments"])
    assert found == [Ask(resource="pods", verbs=("get",), namespace="payments", names=("db-1",)),
                     Ask(resource="pods", verbs=("get",), subresource="log", namespace="payments", names=("db-1",))]


def test_a_refused_log_read_asks_for_just_that():
    assert asks.from_refusals([GET_LOG], ["kubectl", "logs", "db-1"]) == [
        Ask(resource="pods", verbs=("get",), subresource="log", namespace="payments", names=("db-1",))]


def test_kubectl_exec_asks_for_create_on_pods_exec():
    found = asks.from_refusals([GET_POD], ["kubectl", "exec", "db-1", "-n", "payments", "--", "sh"])
    assert [a.describe() for a in found] == ["get pods db-1 in payments", "create pods/exec db-1 in payments"]


def test_other_commands_ask_for_exactly_what_was_refused():
    refused = [Access(verb="list", resource="secrets", namespace="payments"),
               Access(verb="watch", resource="secrets", namespace="payments"),
               Access(verb="get", resource="deployments", api_group="apps", namespace="billing", name="web"),
               Access(verb="list", resource="nodes")]
    assert asks.from_refusals(refused, ["kubectl", "get", "secrets"]) == [
        Ask(resource="secrets", verbs=("list", "watch"), namespace="payments"),
        Ask(resource="deployments", verbs=("get",), api_group="apps", namespace="billing", names=("web",)),
        Ask(resource="nodes", verbs=("list",)),
    ]
    # Nothing is added for a pod that kubectl get read: it does nothing more with it.
    assert asks.from_refusals([GET_POD], ["kubectl", "get", "pod", "db-1"]) == [
        Ask(resource="pods", verbs=("get",), namespace="payments", names=("db-1",))]


def test_a_non_resource_url_cannot_be_asked_for():
    with pytest.raises(CliError, match="cannot ask for get path /metrics: non-resource URLs are granted only by roles"):
        asks.from_refusals([Access(verb="get", path="/metrics")])
