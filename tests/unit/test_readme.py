"""The README's state diagram is the lifecycle table's."""

from pathlib import Path

from gatepass.core.lifecycle import mermaid

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_diagram_matches_the_lifecycle_table():
    text = README.read_text()
    block = text.split("<!-- lifecycle:begin", 1)[1].split("<!-- lifecycle:end -->", 1)[0]
    diagram = block.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert diagram.strip() == mermaid().strip()


def test_readme_starts_with_the_two_commands():
    head = README.read_text()[:1500]
    assert "make dev" in head and "make test" in head
