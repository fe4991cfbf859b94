"""The console sessions of the docs: finding them, splitting them into commands, comparing what they print.

A code block is the fenced block of a Markdown page; its marker is the HTML comment on the line just before
it. A block marked ``<!-- executed: PATH -->`` (anything after PATH is a note for the reader) is run by the
test module at PATH, which collects the blocks that name it with :func:`executed_by`; a block marked
``<!-- illustrative -->`` is run by nobody. tests/unit/test_docs.py checks that every session has one of the
two markers and that every PATH is one of :data:`RUNNERS`.

What may differ from run to run is replaced by a token on both sides before comparing (:func:`normalise`):
timestamps, the random suffix of a generated name, the ages kubectl prints in a table cell, the time a wait
took, and the width of the padding between table columns. Everything else — a table's header line, states,
counts, names, messages — is compared exactly, so that a changed column is one edit of the page's example
and none of this module.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md"))]

ILLUSTRATIVE = "<!-- illustrative -->"
EXECUTED = "<!-- executed"
EXECUTED_MARKER = re.compile(r"^<!-- executed:\s*(\S+)(?:\s[^>]*)?-->$")
FILE_MARKER = re.compile(r"^<!-- file:\s*(\S+)\s*-->$")

UNIT_RUNNER = "tests/unit/test_docs.py"  # commands that need no cluster
E2E_RUNNER = "tests/e2e/test_docs_examples.py"  # commands against the control plane, in page order
RUNNERS = (UNIT_RUNNER, E2E_RUNNER)

SESSIONS = {"console", "shell-session", "sh-session", "terminal"}
FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")


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

    @property
    def runner(self) -> str | None:
        """The test module an ``executed`` marker names ('' when it names none); None when not executed."""
        if not self.marker.startswith(EXECUTED):
            return None
        match = EXECUTED_MARKER.match(self.marker)
        return match.group(1) if match else ""

    @property
    def shows_file(self) -> str | None:
        """The file a ``<!-- file: PATH -->`` marker says the block shows, if any."""
        match = FILE_MARKER.match(self.marker)
        return match.group(1) if match else None


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


def executed_by(runner: str, pages: list[Path] = PAGES) -> list[Block]:
    """The blocks whose marker names ``runner``, page by page, in page order."""
    return [block for path in pages for block in blocks(path) if block.runner == runner]


@dataclass(frozen=True)
class Step:
    command: str  # as bash runs it: continuation lines and here-documents included
    expected: str  # what the block shows it prints, trailing blank lines dropped


def session_steps(block: Block) -> list[Step]:
    """A session's commands and outputs. A command ending in a backslash goes on on the next line; a
    here-document (``<<'YAML'``) goes on to its terminating word."""
    steps: list[tuple[str, list[str]]] = []
    lines = list(block.body)
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.startswith("$ "):
            if steps:
                steps[-1][1].append(line)
            continue
        command = [line[2:]]
        while command[-1].endswith("\\") and index < len(lines):
            command.append(lines[index])
            index += 1
        heredoc = HEREDOC.search(command[0])
        if heredoc:
            while index < len(lines):
                command.append(lines[index])
                index += 1
                if command[-1].strip() == heredoc.group(2):
                    break
        steps.append(("\n".join(command), []))
    return [Step(command, "\n".join(output).rstrip()) for command, output in steps]


# ------------------------------------------------------------------------------------------- comparing

#: (what varies, the token it becomes), applied in this order to what the docs show and what was printed.
VARIES = [
    # RFC 3339 and the plugin's and the logs' times: 2026-11-24T09:41:22Z, 2026-11-24 09:41:22,113
    (re.compile(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"), "<TIME>"),
    # the API server's generateName suffix: five of its consonants and digits (no vowels, no 0, 1, 3)
    (re.compile(r"(?<=[a-z0-9]-)[bcdfghjklmnpqrstvwxz2456789]{5}\b"), "<ID>"),
    # how long a wait took: [0m41s]
    (re.compile(r"\[\d+m\d\ds\]"), "[<WAITED>]"),
    # an age in a table cell (kubectl's 3s, 40s, 2m10s, 59m, 7h3m, 3d): a cell stands between runs of spaces
    (re.compile(r"(?<=\s\s)(?:\d+[smhdy]){1,2}(?=\s\s|$)", re.MULTILINE), "<AGE>"),
    # the padding between columns, which follows the widest cell
    (re.compile(r"(?<=\S) {2,}(?=\S)"), "   "),
]


def normalise(text: str) -> str:
    text = "\n".join(line.rstrip() for line in text.strip("\n").splitlines())
    for pattern, token in VARIES:
        text = pattern.sub(token, text)
    return text


def same_output(expected: str, printed: str) -> bool:
    return normalise(expected) == normalise(printed)


# ------------------------------------------------------------------------------------------- reading commands

#: kubectl's global flags that take a value as the next word.
KUBECTL_VALUE_FLAGS = {"--context", "--kubeconfig", "-n", "--namespace", "--as", "--as-group", "-o", "--output",
                       "-l", "--selector", "--user", "--cluster", "--server", "-f", "--filename"}
READ_ONLY_VERBS = {("get",), ("describe",), ("explain",), ("wait",), ("auth", "can-i"), ("version",),
                   ("access", "request", "ls"), ("access", "request", "show")}


def words(command: str) -> list[str]:
    """The kubectl command's verbs (its words that are not flags or flag values)."""
    try:
        argv = shlex.split(command.split("\n", 1)[0], comments=True)
    except ValueError:
        return []
    if not argv or argv[0] != "kubectl":
        return []
    verbs, skip = [], False
    for word in argv[1:]:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = "=" not in word and word in KUBECTL_VALUE_FLAGS
        elif word in {"|", "&&", ";", "||"} or word.startswith("<"):
            break
        else:
            verbs.append(word)
    return verbs


def reads_only(command: str) -> bool:
    """Whether running the command again changes nothing: a kubectl read, which may then be repeated until
    the operator has caught up with what the page shows."""
    verbs = tuple(words(command))
    return any(verbs[:len(verb)] == verb for verb in READ_ONLY_VERBS)
