"""The CLI is a client: it imports no operator machinery and never writes identities or status."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import gatepass.cli

CLI = Path(gatepass.cli.__file__).parent
MODULES = sorted(CLI.glob("*.py"))
FORBIDDEN = ("kopf", "aiohttp", "pykube", "kubernetes", "urllib3", "requests", "gatepass.webhooks", "gatepass.devcluster", "gatepass.api",
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


def modules_loaded(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    script = f"import sys, json\ntry:\n    {code}\nexcept SystemExit:\n    pass\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


CLIENTS = {"kubernetes", "urllib3", "requests", "pykube", "http.client", "ssl", "pydantic", "yaml", "gatepass.api"}


def test_help_and_usage_errors_load_no_client_models_or_yaml():
    for argv in (["--help"], ["review", "--help"], ["request", "ls", "-o", "bogus"]):
        loaded = modules_loaded(f"from gatepass.cli.main import main; main({argv!r})")
        assert "gatepass.cli.args" in loaded
        assert not loaded & CLIENTS, (argv, loaded & CLIENTS)


def test_the_commands_run_without_the_kubernetes_client():
    loaded = modules_loaded("from gatepass.cli import main, commands, justintime, kube, waiting")
    assert "http.client" in loaded
    assert not loaded & {"kubernetes", "urllib3", "requests", "pykube"}


def test_tables_and_show_print_without_the_schema_models():
    obj = {"metadata": {"name": "r", "creationTimestamp": "2026-11-24T09:30:00Z"},
           "spec": {"roles": ["dba"], "requester": {"username": "bob"}}, "status": {"state": "Pending"}}
    loaded = modules_loaded(f"from gatepass.cli import output; obj = {obj!r}; "
                            "output.requests_table([obj], wide=True); output.show_request(obj)")
    assert "gatepass.cli.output" in loaded and "pydantic" not in loaded
