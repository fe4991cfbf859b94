"""The README's state diagram, and any other copy in docs/, is the lifecycle table's."""

from pathlib import Path

import pytest

from gatepass.core.lifecycle import mermaid

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BEGIN, END = "<!-- lifecycle:begin", "<!-- lifecycle:end -->"
WITH_DIAGRAM = [path for path in [README, *sorted((ROOT / "docs").glob("*.md"))] if BEGIN in path.read_text()]


def diagrams(text: str) -> list[str]:
    found = []
    for block in text.split(BEGIN)[1:]:
        inside = block.split(END, 1)[0]
        found.append(inside.split("```mermaid\n", 1)[1].split("```", 1)[0])
    return found


def test_the_readme_has_the_diagram():
    assert README in WITH_DIAGRAM


@pytest.mark.parametrize("path", WITH_DIAGRAM, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_diagram_matches_the_lifecycle_table(path):
    for diagram in diagrams(path.read_text()):
        assert diagram.strip() == mermaid().strip(), f"{path.relative_to(ROOT)}: paste gatepass.core.lifecycle.mermaid()"


def test_readme_starts_with_the_two_commands():
    head = README.read_text()[:1500]
    assert "make dev" in head and "make test" in head
