"""The docs say only what is so: README.md, ARCHITECTURE.md and docs/*.md.

* A shell session (a ```console block, or any block that starts with a `$ ` prompt) is either run by a test
  (preceded by `<!-- executed: TEST -->`) and must print what it shows, or is preceded by
  `<!-- illustrative -->`. TEST is this module for commands that need no cluster (run here in the
  repository with bash; `kubectl access` runs the plugin, `kubectl-access`, as kubectl itself would), or
  tests/e2e/test_docs_examples.py for commands against the control plane, run in page order as the people
  they name. Both collect the blocks by their marker (tests/console.py), and compare output tolerantly:
  times, generated names, ages and column padding may differ, nothing else.
* A block preceded by `<!-- file: PATH -->` shows the file PATH, and says what it says.
* Every docs/ page and ARCHITECTURE.md is linked from the README, and every page says first whom it is for.
* Every relative link leads to a file that exists, and an anchor to a heading of that file.
* Every `make TARGET` is a target of the Makefile, and every `--flag` one of the programs' own (or one of
  the few other tools' flags listed below).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.console import (E2E_RUNNER, EXECUTED, ILLUSTRATIVE, PAGES, README, ROOT, RUNNERS, SESSIONS,
                           UNIT_RUNNER, Block, blocks, executed_by, name, normalise, same_output, session_steps)

BIN = Path(sys.executable).parent

LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
CODE_SPAN = re.compile(r"`[^`\n]*`")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9]")
MAKE = re.compile(r"\bmake ([a-z][a-z0-9-]*)")

#: Flags of other tools that the docs show: helm's and kubectl's.
OTHER_TOOLS_FLAGS = {"--set", "--create-namespace", "--overwrite", "--force", "--for", "--timeout"}


def without_blocks(path: Path) -> str:
    """The page with its code blocks blanked out, line numbers kept."""
    lines = path.read_text().splitlines()
    for block in blocks(path):
        for number in range(block.line - 1, min(block.line + len(block.body) + 1, len(lines))):
            lines[number] = ""
    return "\n".join(lines)


def prose(path: Path) -> str:
    """The page without code blocks and code spans, line numbers kept."""
    return CODE_SPAN.sub("", without_blocks(path))


def code(path: Path) -> str:
    """What the page shows as commands: its code spans and the bodies of its shell and plain blocks."""
    spans = [span.strip("`") for span in CODE_SPAN.findall(without_blocks(path))]
    bodies = [line for block in blocks(path) if block.info in SESSIONS | {"sh", "bash", "shell", "", "text"}
              for line in block.body]
    return "\n".join(spans + bodies)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The page's heading anchors; a repeated heading gets -1, -2, ... as on GitHub."""
    found, seen = set(), {}
    for line in without_blocks(path).splitlines():
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            found.add(f"{base}-{count}" if count else base)
            seen[base] = count + 1
    return found


def links(path: Path) -> list[tuple[int, str]]:
    text = prose(path)
    return [(text.count("\n", 0, match.start()) + 1, match.group(2)) for match in LINK.finditer(text)]


def relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target)


# ------------------------------------------------------------------------------------------- console blocks

def test_every_shell_session_is_executed_or_marked_illustrative():
    unmarked = [f"{block.where}: a shell session that is neither executed by a test "
                f"(<!-- executed: {E2E_RUNNER} -->, or {UNIT_RUNNER} when it needs no cluster) "
                f"nor marked {ILLUSTRATIVE}"
                for path in PAGES for block in blocks(path)
                if block.is_session and block.marker != ILLUSTRATIVE and not block.marker.startswith(EXECUTED)]
    assert not unmarked, "\n".join(unmarked)


def test_every_executed_block_names_a_test_that_runs_it():
    wrong = [f"{block.where}: {block.marker} names {block.runner or 'no test'}; it must be one of {RUNNERS}"
             for path in PAGES for block in blocks(path)
             if block.runner is not None and block.runner not in RUNNERS]
    assert not wrong, "\n".join(wrong)
    assert all((ROOT / runner).is_file() for runner in RUNNERS)


def test_every_executed_block_is_a_session_with_commands():
    empty = [f"{block.where}: an executed block needs at least one $ command"
             for path in PAGES for block in blocks(path)
             if block.runner is not None and not (block.is_session and session_steps(block))]
    assert not empty, "\n".join(empty)


def test_the_end_to_end_doc_test_runs_every_block_that_names_it():
    from tests.e2e import test_docs_examples as e2e

    named = executed_by(E2E_RUNNER)
    assert named, f"no block of the docs names {E2E_RUNNER}: the walkthrough is not tested"
    assert [block for page in e2e.PAGES_RUN for block in e2e.blocks_of(page)] == named
    assert {block.path for block in named} == set(e2e.PAGES_RUN)


def test_the_walkthrough_is_executed():
    walkthrough = [block for block in blocks(README) if block.is_session]
    assert walkthrough and all(block.runner == E2E_RUNNER for block in walkthrough)


UNIT_BLOCKS = executed_by(UNIT_RUNNER)


def run(command: str) -> str:
    plugin = BIN / "kubectl-access"
    command = re.sub(r"(?<![\w-])kubectl access\b", str(plugin), command)
    env = {key: value for key, value in os.environ.items() if key not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", COLUMNS="100", NO_COLOR="1")
    done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=120)
    return "\n".join(line.rstrip() for line in done.stdout.splitlines()).rstrip()


def test_there_are_executed_examples():
    assert UNIT_BLOCKS


@pytest.mark.parametrize("block", UNIT_BLOCKS, ids=lambda block: block.where)
def test_executed_examples_print_what_they_show(block):
    for step in session_steps(block):
        printed = run(step.command)
        assert same_output(step.expected, printed), (
            f"{block.where}: `{step.command}` prints something else than the docs show:\n"
            f"--- shown (normalised)\n{normalise(step.expected)}\n--- printed (normalised)\n{normalise(printed)}")


def test_the_demo_has_what_the_executed_examples_read():
    """`make dev` applies examples/demo: every namespace and Secret the end-to-end examples name is in it."""
    from gatepass.devcluster.install import demo_objects

    demo = set(demo_objects())
    missing = []
    for block in executed_by(E2E_RUNNER):
        for step in session_steps(block):
            namespace = re.search(r"(?:-n|--namespace)[ =]([\w-]+)", step.command)
            if namespace and ("Namespace", namespace.group(1)) not in demo:
                missing.append(f"{block.where}: namespace {namespace.group(1)}")
            for secret in re.findall(r"\bget secrets? ([a-z0-9][\w.-]*)", step.command):
                where = namespace.group(1) if namespace else "default"
                if ("Secret", f"{where}/{secret}") not in demo:
                    missing.append(f"{block.where}: Secret {where}/{secret}")
    assert not missing, f"examples/demo lacks what the examples read: {missing}"


FILE_BLOCKS = [block for path in PAGES for block in blocks(path) if block.shows_file]


@pytest.mark.parametrize("block", FILE_BLOCKS, ids=lambda block: block.where)
def test_a_block_showing_a_file_says_what_the_file_says(block):
    import yaml

    shown, file = "\n".join(block.body), (ROOT / block.shows_file).read_text()
    if block.info in {"yaml", "yml"}:
        assert list(yaml.safe_load_all(shown)) == list(yaml.safe_load_all(file)), \
            f"{block.where}: shows something else than {block.shows_file}"
    else:
        assert shown.strip() == file.strip(), f"{block.where}: shows something else than {block.shows_file}"


# ------------------------------------------------------------------------------------------- the normaliser

@pytest.mark.parametrize("shown, printed", [
    # ages in table cells, and the padding that follows the widest cell
    ("NAME      AGE\nbob-dba   3s", "NAME      AGE\nbob-dba   2m10s"),
    ("a   Approved   2           40s       <invalid>", "a   Approved   2           112s      <invalid>"),
    ("db-password   Opaque   1      3d", "db-password   Opaque   1      14s"),
    # times, generated names, waits
    ("until 2026-11-24 10:42:07 UTC", "until 2026-12-01 15:02:44 UTC"),
    ('"expiresAt": "2026-11-24T10:42:07Z"', '"expiresAt": "2026-12-01T15:02:44Z"'),
    ("AccessReview alice-bob-dba-7xk2q-k6dxw", "AccessReview alice-bob-dba-q9v4m-mfwpj"),
    ("Pending: 1 of 2 approvals (alice) [0m41s]", "Pending: 1 of 2 approvals (alice) [1m02s]"),
])
def test_what_varies_from_run_to_run_is_tolerated(shown, printed):
    assert same_output(shown, printed)


@pytest.mark.parametrize("shown, printed", [
    ("NAME      STATUS    APPROVALS\nbob-dba   Pending   0", "NAME      STATUS    APPROVALS\nbob-dba   Pending   1"),
    ("NAME      STATUS\nbob-dba   Pending", "NAME      STATUS\nbob-dba   Approved"),
    ("NAME   USER   AGE", "NAME   USER   CREATED"),  # a header is exact: a renamed column is an edit
    ("NAME   ROLES\nbob    dba", "NAME   ROLES\nbob    [\"dba\"]"),
    ("dba in payments for 1h.", "dba in payments for 2h."),  # a duration in a sentence is not an age
    ("accessrequest.gatepass.dev/bob-dba created", "accessrequest.gatepass.dev/bob-dba configured"),
    ("no", "yes"),
    ("request bob-dba", "request bob-dbx"),
])
def test_everything_else_is_compared_exactly(shown, printed):
    assert not same_output(shown, printed)


def test_a_session_is_split_into_commands_with_continuations_and_here_documents():
    body = ("$ kubectl --context ivan apply -f - <<'YAML'\nkind: AccessReview\n$ not a prompt\nYAML\n"
            "accessreview.gatepass.dev/ivan-bob-dba created\n$ a \\\n    b\nout\n$ c").splitlines()
    steps = session_steps(Block(README, 1, "console", tuple(body), ""))
    assert [(step.command, step.expected) for step in steps] == [
        ("kubectl --context ivan apply -f - <<'YAML'\nkind: AccessReview\n$ not a prompt\nYAML",
         "accessreview.gatepass.dev/ivan-bob-dba created"),
        ("a \\\n    b", "out"),
        ("c", ""),
    ]


@pytest.mark.parametrize("command, read_only", [
    ("kubectl --context bob get accessrequest bob-dba", True),
    ("kubectl --context=bob auth can-i get secrets -n payments", True),
    ("kubectl -n payments --context bob get secret db-password", True),
    ("kubectl access --context bob request show bob-dba", True),
    ("kubectl --context bob apply -f examples/requests/accessrequest.yaml", False),
    ("kubectl --context alice annotate accessrequest bob-dba gatepass.dev/approve=ok", False),
    ("kubectl access request create --roles=dba", False),
    ("make help", False),
])
def test_only_reads_are_repeated_until_the_operator_caught_up(command, read_only):
    from tests.console import reads_only

    assert reads_only(command) is read_only


# ------------------------------------------------------------------------------------------------- links

def test_every_page_is_linked_from_the_readme():
    linked = {(README.parent / target.split("#", 1)[0]).resolve()
              for _, target in links(README) if relative(target)}
    missing = [name(page) for page in PAGES[1:] if page.resolve() not in linked]
    assert not missing, f"README.md links none of {missing}"


@pytest.mark.parametrize("page", PAGES[1:], ids=name)
def test_every_page_says_whom_it_is_for(page):
    lines = [line for line in page.read_text().splitlines() if line.strip()]
    assert lines[0].startswith("# ") and lines[1].startswith("For "), \
        f"{name(page)}: the line under the title says whom the page is for (For ...)"


def test_every_relative_link_resolves():
    broken = []
    for page in PAGES:
        for line, target in links(page):
            if not relative(target):
                continue
            file, _, anchor = target.partition("#")
            destination = (page.parent / file).resolve() if file else page
            if not destination.exists():
                broken.append(f"{name(page)}:{line}: {target}: no such file")
            elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
                broken.append(f"{name(page)}:{line}: {target}: no heading #{anchor} in {name(destination)}")
    assert not broken, "\n".join(broken)


def test_slugs_are_githubs():
    assert slug("The operator's flags") == "the-operators-flags"
    assert slug("`kubectl access`: exec") == "kubectl-access-exec"
    assert slug("Approve and Deny from Slack") == "approve-and-deny-from-slack"


# ------------------------------------------------------------------------------------- commands and flags

def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z0-9-]*):", text, flags=re.MULTILINE))


def test_every_make_target_named_exists():
    targets = makefile_targets()
    unknown = sorted({f"{name(page)}: make {target}" for page in PAGES
                      for target in MAKE.findall(code(page)) if target not in targets})
    assert not unknown, f"no such Makefile target: {unknown}"


def help_text(*argv: str) -> str:
    done = subprocess.run(list(argv), cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr}"
    return done.stdout


def programs_flags() -> set[str]:
    plugin = str(BIN / "kubectl-access")
    texts = [
        help_text(sys.executable, "-m", "gatepass", "--help"),
        help_text(sys.executable, "-m", "gatepass.reviewers", "--help"),
        help_text(sys.executable, "-m", "gatepass.devcluster.installgen", "--help"),
        help_text(sys.executable, "-m", "gatepass.api.crdgen", "--help"),
        help_text(plugin, "--help"),
        *(help_text(plugin, *verb, "--help") for verb in (
            ("request", "create"), ("request", "ls"), ("request", "show"), ("request", "drop"), ("review",),
            ("exec",), ("ui",))),
    ]
    return {flag for text in texts for flag in FLAG.findall(text)}


def test_every_flag_named_exists():
    known = programs_flags() | OTHER_TOOLS_FLAGS
    unknown = sorted({f"{name(page)}: {flag}" for page in PAGES for flag in FLAG.findall(code(page))
                      if flag not in known})
    assert not unknown, f"no program of Gatepass has these flags: {unknown}"


# -------------------------------------------------------------------------------------------------- figures

def test_the_benchmark_figures_are_the_committed_results():
    import json

    page = (ROOT / "docs" / "benchmarks.md").read_text()
    for results in ("bench/results.json", "bench/notify-results.json"):
        when = json.loads((ROOT / results).read_text())["when"][:10]
        assert f"Result of {when}" in page, f"docs/benchmarks.md shows another run than {results} ({when})"


def test_the_readme_reads_in_two_minutes():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move the detail to docs/"
