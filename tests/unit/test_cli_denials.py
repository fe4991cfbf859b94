"""Reading refusals from kubectl's error output, in the API server's exact words."""

from __future__ import annotations

from gatepass.cli.denials import Denial, parse
from gatepass.core.rbac import Access

# Lines as kubectl printed them against the local control plane.
LIST = ('Error from server (Forbidden): secrets is forbidden: User "bob" cannot list resource "secrets" '
        'in API group "" in the namespace "payments"')
GET = ('Error from server (Forbidden): secrets "foo" is forbidden: User "bob" cannot get resource "secrets" '
       'in API group "" in the namespace "payments"')
ALL_NAMESPACES = ('Error from server (Forbidden): secrets is forbidden: User "bob" cannot list resource "secrets" '
                  'in API group "" at the cluster scope')
NODES = ('Error from server (Forbidden): nodes is forbidden: User "bob" cannot list resource "nodes" '
         'in API group "" at the cluster scope')
PATH = 'Error from server (Forbidden): forbidden: User "bob" cannot get path "/metrics"'
EXEC = ('Error from server (Forbidden): pods "db-0" is forbidden: User "bob" cannot create resource "pods/exec" '
        'in API group "" in the namespace "payments"')
APPS = ('Error from server (Forbidden): deployments.apps "web" is forbidden: User "alice@example.com" cannot patch '
        'resource "deployments" in API group "apps" in the namespace "payments": RBAC: some reason')


def test_a_list_in_a_namespace():
    assert parse(LIST) == [Denial("bob", Access("list", "secrets", "", "payments"))]


def test_a_named_object():
    assert parse(GET) == [Denial("bob", Access("get", "secrets", "", "payments", "foo"))]


def test_the_cluster_scope():
    assert parse(ALL_NAMESPACES) == [Denial("bob", Access("list", "secrets"))]
    assert parse(NODES) == [Denial("bob", Access("list", "nodes"))]


def test_a_non_resource_path():
    assert parse(PATH) == [Denial("bob", Access("get", path="/metrics"))]


def test_a_subresource_an_api_group_and_a_trailing_reason():
    assert parse(EXEC) == [Denial("bob", Access("create", "pods/exec", "", "payments", "db-0"))]
    assert parse(APPS) == [Denial("alice@example.com", Access("patch", "deployments", "apps", "payments", "web"))]


def test_several_refusals_in_order_without_repeats():
    text = "\n".join([NODES, "some other output", LIST, NODES, PATH])
    assert [d.access for d in parse(text)] == [
        Access("list", "nodes"), Access("list", "secrets", "", "payments"), Access("get", path="/metrics")]


def test_output_without_a_refusal():
    assert parse("") == []
    assert parse('Error from server (NotFound): secrets "foo" not found') == []
    assert parse("error: You must be logged in to the server (Unauthorized)") == []
