"""The CLI is a client: it imports no operator machinery and never writes identities or status."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gatepass.cli

CLI = Path(gatepass.cli.__file__).parent
MODULES = sorted(CLI.glob("*.py"))
FORBIDDEN = ("kopf", "aiohttp", "pykube", "gatepass.webhooks", "gatepass.devcluster", "gatepass.api",
             "gatepass.process")
# Nothing from the controller; from the API package only the readers of objects into core values.
ALLOWED_FROM_CONTROLLER: set[str] = set()
ALLOWED_FROM_API = {"gatepass.api", "gatepass.api.values"}


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_the_cli_imports_no_operator_machinery(path):
    found = imports(path) - ALLOWED_FROM_API
    assert not {n for n in found for f in FORBIDDEN if n == f or n.startswith(f + ".")}
    controller = {n for n in found if n.startswith("gatepass.controller")}
    assert controller <= ALLOWED_FROM_CONTROLLER | {"gatepass.controller"}


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_the_cli_never_writes_identities_or_status(path):
    text = path.read_text()
    for written in ('["requester"] =', '["reviewer"] =', '"requester":', '"reviewer":', "custom_object_status"):
        assert written not in text, written


def test_the_entry_point_is_declared():
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert 'kubectl-access = "gatepass.cli.main:main"' in pyproject
