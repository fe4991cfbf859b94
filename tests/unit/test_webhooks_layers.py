"""The webhooks stand on their own: they read the cluster through their Cluster protocol, never through the
controller, and register nothing on import."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import kopf
import pytest

import gatepass.webhooks
from gatepass.webhooks.cluster import Cluster

from .admission_fakes import ClusterReads

WEBHOOKS = Path(gatepass.webhooks.__file__).parent
MODULES = sorted(WEBHOOKS.glob("*.py"))


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_the_webhooks_never_import_the_controller(path):
    assert not {name for name in imports(path) if name == "gatepass.controller"
                or name.startswith("gatepass.controller.")}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_handler_is_registered_at_import_and_memo_is_never_read(path):
    tree = ast.parse(path.read_text())
    decorators = [ast.unparse(d) for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for d in node.decorator_list]
    assert not [d for d in decorators if d.startswith("kopf.")]
    assert "memo" not in {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} | {
        node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}


def test_the_test_cluster_has_exactly_the_protocols_methods():
    wanted = {name for name, value in vars(Cluster).items() if inspect.iscoroutinefunction(value)}
    assert wanted == {"list_policies", "get_policy", "get_request", "list_reviews", "whoami", "allowed", "may_bind",
                      "namespace_names", "existing_cluster_roles", "role_namespaces", "cluster_role_rules",
                      "holds"}
    for name in wanted:
        assert inspect.signature(getattr(ClusterReads, name)).parameters.keys() == \
            inspect.signature(getattr(Cluster, name)).parameters.keys()


def test_register_adds_each_hook_once():
    from gatepass.webhooks.registration import register
    registry = kopf.OperatorRegistry()
    register(registry, ClusterReads())
    assert len(list(registry._webhooks.get_all_handlers())) == 6
