"""Resource requests on the command line: the flags of create, search and exec, and how requests print."""

from __future__ import annotations

import pytest

from gatepass.cli import commands, output
from gatepass.cli.args import parse
from gatepass.cli.errors import CliError
from gatepass.core.resources import Ask

from .cli_fakes import FakeKube, Streams, args, request_obj

LOG = {"apiGroup": "", "resource": "pods", "subresource": "log", "namespace": "payments", "names": ["db-1"],
       "verbs": ["get"]}
NODES = {"apiGroup": "", "resource": "nodes", "verbs": ["get", "list"]}


def resource_obj(*asked, roles=(), namespaces=(), **changes) -> dict:
    obj = request_obj(namespaces=namespaces, **changes)
    if roles:
        obj["spec"]["roles"] = list(roles)
    else:
        obj["spec"].pop("roles")
    obj["spec"]["resources"] = list(asked)
    return obj


def test_create_takes_resources_instead_of_roles():
    parsed = parse(["request", "create", "--resource", "pods/db-1", "--resource", "pods/db-2", "--verbs", "get,logs",
                    "-n", "payments", "--reason", "x"])
    assert (parsed.roles, parsed.resource, parsed.verbs, parsed.namespace) == (
        [], ["pods/db-1", "pods/db-2"], ["get", "logs"], "payments")
    both = parse(["request", "create", "--roles", "dba", "--namespaces", "payments", "--resource", "nodes",
                  "--verbs", "list", "--subresource", "status"])
    assert (both.roles, both.resource, both.subresource, both.namespace) == (["dba"], ["nodes"], "status", "")


def test_search_and_exec_flags():
    searched = parse(["request", "search", "--kind", "pods", "-n", "payments", "db-*"])
    assert (searched.action, searched.kind, searched.namespace, searched.pattern) == ("search", "pods", "payments",
                                                                                      "db-*")
    assert parse(["request", "search"]).pattern == ""
    assert parse(["exec", "--whole-role", "--", "kubectl", "logs", "db-1"]).whole_role is True
    assert parse(["exec", "--", "true"]).whole_role is False


@pytest.mark.parametrize("argv, complaint", [
    (["request", "create", "--reason", "x"], "name what to ask for: --roles, or --resource with --verbs"),
    (["request", "create", "--resource", "pods/db-1"], "--resource needs --verbs"),
    (["request", "create", "--roles", "dba", "--verbs", "get"], "--verbs applies to --resource only"),
    (["request", "create", "--roles", "dba", "-n", "payments"], "-n/--namespace applies to --resource only"),
    (["request", "create", "--roles", "dba", "--subresource", "log"], "--subresource applies to --resource only"),
    (["request", "create", "--resource", "pods", "--verbs", "get", "--namespaces", "payments"],
     "--namespaces applies to --roles only"),
    (["request", "create", "--resource", "pods", "--verbs", ","], "argument --verbs: name at least one"),
    (["exec", "--whole-role", "--role", "dba", "--", "true"], "not allowed with argument"),
    (["-o", "json", "request", "search"], "-o/--output applies to request ls and request show only"),
])
def test_resource_flags_that_do_not_fit_are_usage_errors(capsys, argv, complaint):
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 2
    assert complaint in capsys.readouterr().err


def test_the_body_asks_for_the_resources_and_is_named_after_the_first():
    body = commands.request_body(resources=[Ask(resource="pods", verbs=("get",), subresource="log",
                                                namespace="payments", names=("db-1",))],
                                 reason="x", requester="bob")
    assert body["metadata"] == {"generateName": "bob-pods-db-1-"}
    assert body["spec"] == {"resources": [LOG], "reason": "x"}
    assert commands.request_body(resources=[Ask(resource="nodes", verbs=("list",))],
                                 requester="bob")["metadata"] == {"generateName": "bob-nodes-"}
    with pytest.raises(CliError, match="name at least one role with --roles, or a resource with --resource"):
        commands.request_body(requester="bob")


def test_create_sends_the_flags_resources_and_says_them():
    kube = FakeKube()
    streams = Streams()
    values = dict(roles=[], namespaces=[], resource=["pods/db-1"], verbs=["logs"], namespace="payments",
                  subresource="", reason="x", duration=None, reviewers=[], start=None, name=None, nowait=True)
    code = commands.create(commands.Context(kube, args(**values), streams.out, streams.err))
    assert code == 0
    assert kube.created[0]["spec"]["resources"] == [LOG]
    assert streams.out.getvalue() == "bob-pods-db-1-abcde\n"
    assert streams.err.getvalue().splitlines()[0] == \
        "Created AccessRequest bob-pods-db-1-abcde: get pods/log db-1 in payments for 1h."


def test_a_bad_resource_is_one_line_before_anything_is_sent():
    kube = FakeKube()
    values = dict(roles=[], namespaces=[], resource=["pods/a/b"], verbs=["get"], namespace="", subresource="",
                  reason="x", duration=None, reviewers=[], start=None, name=None, nowait=True)
    with pytest.raises(CliError, match='invalid --resource "pods/a/b"'):
        commands.create(commands.Context(kube, args(**values), *Streams().__dict__.values()))
    assert kube.created == []


def test_the_table_shows_the_rules_in_roles_and_their_namespaces():
    row = output.request_row(resource_obj(LOG, NODES))
    assert row[2:4] == ["get pods/log db-1; get,list nodes (any name)", "payments,(cluster-wide)"]
    mixed = output.request_row(resource_obj(LOG, roles=["dba"], namespaces=["billing"]))
    assert mixed[2:4] == ["dba; get pods/log db-1", "billing,payments"]
    many = output.request_row(resource_obj(LOG, LOG, LOG))
    assert many[2] == "get pods/log db-1; get pods/log db-1; +1 more"
    assert output.request_row(request_obj())[2:4] == ["dba", "payments"]  # role requests print as before


def test_show_lists_each_rule_on_its_own_line():
    text = output.show_request(resource_obj(LOG, NODES))
    lines = text.splitlines()
    assert "Roles:" not in text and "Namespaces:" not in text
    start = next(i for i, line in enumerate(lines) if line.startswith("Resources:"))
    assert lines[start] == "Resources:           get pods/log db-1 in payments"
    assert lines[start + 1] == "                     get,list nodes (any name) cluster-wide"
    mixed = output.show_request(resource_obj(LOG, roles=["dba"], namespaces=["payments"]))
    assert "Roles:               dba" in mixed and "Resources:           get pods/log db-1 in payments" in mixed


def test_the_asked_text_names_roles_then_rules():
    assert output.asked_text(request_obj()) == "dba in payments"
    assert output.asked_text(resource_obj(LOG, roles=["dba"], namespaces=["payments"])) == \
        "dba in payments; get pods/log db-1 in payments"
