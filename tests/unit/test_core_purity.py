"""The core stays pure: standard library only, and no clock."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import gatepass.core

CORE = Path(gatepass.core.__file__).parent
MODULES = sorted(CORE.glob("*.py"))
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "time_ns", "getenv"}


def imported_roots(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add((node.module or "").split(".")[0])
    return roots


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_imports_only_the_standard_library_and_itself(path):
    roots = imported_roots(ast.parse(path.read_text()))
    assert roots <= set(sys.stdlib_module_names) | {"__future__"}, roots


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_never_reads_the_clock_or_environment(path):
    tree = ast.parse(path.read_text())
    calls = {node.func.attr for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
    assert not calls & FORBIDDEN_CALLS, calls & FORBIDDEN_CALLS
    assert "os" not in imported_roots(tree)


def test_every_module_is_checked():
    assert {p.name for p in MODULES} >= {
        "types.py", "durations.py", "lifecycle.py", "tally.py", "policy.py", "grants.py", "conditions.py",
        "reconcile.py"}
