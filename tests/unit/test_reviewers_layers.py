"""Programmable reviewers are a client: no operator machinery, and never a written identity or status."""

from __future__ import annotations

from pathlib import Path

import pytest

import gatepass.reviewers

from .test_cli_layers import ALLOWED_FROM_API, imports

PACKAGE = Path(gatepass.reviewers.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))
FORBIDDEN = ("kopf", "aiohttp", "pykube", "pydantic", "gatepass.api", "gatepass.controller", "gatepass.webhooks",
             "gatepass.devcluster", "gatepass.process", "gatepass.cli", "gatepass.notify")


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_reviewers_import_no_operator_machinery(path):
    found = imports(path) - ALLOWED_FROM_API  # objects are read into core values by gatepass.api.values only
    assert not {n for n in found for f in FORBIDDEN if n == f or n.startswith(f + ".")}


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_reviewers_never_write_identities_annotations_or_status(path):
    text = path.read_text()
    for written in ('["requester"] =', '["reviewer"] =', '"requester":', '"reviewer":', "custom_object_status",
                    "patch_cluster_custom_object", "replace_cluster_custom_object", "delete_cluster_custom_object"):
        assert written not in text, written


def test_the_entry_point_is_declared():
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert 'gatepass-reviewer = "gatepass.reviewers.__main__:main"' in pyproject
