"""The docs say only what is so: README.md, ARCHITECTURE.md and docs/*.md.

* A shell session (a ```console block, or any block that starts with a `$ ` prompt) is either run here
  (preceded by `<!-- executed: ... -->`) and must print what it shows, or is preceded by
  `<!-- illustrative -->`. Commands run in the repository with bash; `kubectl access` runs the plugin
  (`kubectl-access`), as kubectl itself would.
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
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent

ILLUSTRATIVE = "<!-- illustrative -->"
EXECUTED = "<!-- executed"
SESSIONS = {"console", "shell-session", "sh-session", "terminal"}
FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
CODE_SPAN = re.compile(r"`[^`\n]*`")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9]")
MAKE = re.compile(r"\bmake ([a-z][a-z0-9-]*)")

#: Flags of other tools that the docs show: helm's and kubectl's.
OTHER_TOOLS_FLAGS = {"--set", "--create-namespace", "--overwrite", "--force", "--for", "--timeout"}


def name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    info: str
    body: tuple[str, ...]
    marker: str  # the HTML comment just before the block, if any

    @property
    def where(self) -> str:
        return f"{name(self.path)}:{self.line}"

    @property
    def is_session(self) -> bool:
        first = next((line.strip() for line in self.body if line.strip()), "")
        return self.info in SESSIONS or first.startswith("$ ")


def blocks(path: Path) -> list[Block]:
    found, lines = [], path.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, start = opening.group(1), index
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            index += 1
        before = next((line.strip() for line in reversed(lines[:start]) if line.strip()), "")
        marker = before if before.startswith("<!--") else ""
        indent = len(lines[start]) - len(lines[start].lstrip())
        body = tuple(line[indent:] for line in lines[start + 1:index])
        found.append(Block(path, start + 1, opening.group(2), body, marker))
        index += 1
    return found


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
    unmarked = [f"{block.where}: a shell session that is neither executed by tests/unit/test_docs.py "
                f"(<!-- executed: ... -->) nor marked {ILLUSTRATIVE}"
                for path in PAGES for block in blocks(path)
                if block.is_session and block.marker != ILLUSTRATIVE and not block.marker.startswith(EXECUTED)]
    assert not unmarked, "\n".join(unmarked)


def session_steps(block: Block) -> list[tuple[str, str]]:
    """(command, expected output) pairs; a command ending in a backslash goes on on the next line."""
    steps: list[tuple[str, list[str]]] = []
    continued = False
    for line in block.body:
        if continued:
            steps[-1] = (steps[-1][0] + "\n" + line, steps[-1][1])
        elif line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
        continued = bool(steps) and not steps[-1][1] and line.endswith("\\")
    return [(command, "\n".join(output).rstrip()) for command, output in steps]


EXECUTED_BLOCKS = [block for path in PAGES for block in blocks(path) if block.marker.startswith(EXECUTED)]


def run(command: str) -> str:
    plugin = BIN / "kubectl-access"
    command = re.sub(r"(?<![\w-])kubectl access\b", str(plugin), command)
    env = {key: value for key, value in os.environ.items() if key not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", COLUMNS="100", NO_COLOR="1")
    done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=120)
    return "\n".join(line.rstrip() for line in done.stdout.splitlines()).rstrip()


def test_there_are_executed_examples():
    assert EXECUTED_BLOCKS


@pytest.mark.parametrize("block", EXECUTED_BLOCKS, ids=lambda block: block.where)
def test_executed_examples_print_what_they_show(block):
    steps = session_steps(block)
    assert steps, f"{block.where}: an executed block needs at least one $ command"
    for command, expected in steps:
        shown = "\n".join(line.rstrip() for line in expected.splitlines())
        assert run(command) == shown, f"{block.where}: `{command}` prints something else than the docs show"


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
            ("exec",))),
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
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move the detail to docs/"
