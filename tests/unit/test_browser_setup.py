"""The browser tests' browser comes from the project's own files: Debian's chromium, installed by make browser."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAKEFILE = (REPO / "Makefile").read_text()


def test_make_test_installs_the_browser_first_so_ci_has_one():
    [prerequisites] = re.findall(r"^test: ([^#\n]*)##", MAKEFILE, re.M)
    assert "browser" in prerequisites.split()
    assert re.search(r"^browser: .*## ", MAKEFILE, re.M)
    assert "make test" in (REPO / ".ci/run").read_text()


def test_the_browser_is_debians_chromium_and_never_a_playwright_download():
    install = (REPO / "hack/browser/install.sh").read_text()
    assert "apt-get install" in install and "chromium" in install
    assert '[ -x /usr/bin/chromium ] && exit 0' in install  # idempotent
    fixtures = (REPO / "tests/e2e/browser.py").read_text()
    assert 'CHROMIUM = Path("/usr/bin/chromium")' in fixtures and '"executable_path": str(CHROMIUM)' in fixtures
    for path in [REPO / "Makefile", REPO / ".ci/run", *sorted((REPO / "hack").rglob("*.sh"))]:
        commands = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
        assert not [line for line in commands if "playwright install" in line], path
