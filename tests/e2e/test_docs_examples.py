"""The docs' examples, run against the real control plane and operator as the people they name.

Every block marked ``<!-- executed: tests/e2e/test_docs_examples.py -->`` is run here (tests/console.py
collects them by that marker; tests/unit/test_docs.py checks that no marked block is left out), one page
at a time and in the page's order, since a walkthrough is a sequence. Each command runs with bash in the
repository, with ``KUBECONFIG`` set to the harness's kubeconfig, which has a context per person
(``--context bob`` is bob's client certificate), and with the control plane's own ``kubectl`` and the
virtualenv (so ``kubectl access`` is the plugin, found by kubectl itself) first on ``PATH``: what a reader
of the README has after ``make dev``.

The output (stdout and stderr, as a terminal shows them) is compared with what the page shows by
tests/console.py's normaliser: times, generated names, ages and column padding may differ, nothing else.
The operator acts asynchronously, so a read (``get``, ``auth can-i``, ``request show``, ...) is repeated
until it prints what the page shows or ``SETTLE`` seconds have passed; a write runs exactly once, at least
``PACE`` seconds after the one before, as a reader's would: the times Gatepass records have a resolution of
a second, and two reviews of one second are listed by how they came, not by who came first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.console import (E2E_RUNNER, PAGES, README, ROOT, executed_by, name, normalise, reads_only,
                           same_output, session_steps)

from .helpers import can_i, wait_for

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
SETTLE = 90  # seconds a read may be repeated until the operator has caught up with the page
TIMEOUT = 120  # seconds for one command
PACE = 1.1  # seconds from one write to the next

#: The pages with blocks run here, in the order of tests/console.PAGES.
PAGES_RUN = sorted({block.path for block in executed_by(E2E_RUNNER)}, key=PAGES.index)

#: What a page's examples create under fixed names, removed before (a rerun on the same cluster) and after.
CREATES = {
    README: [("accessrequest", "bob-dba"), ("accessreview", "ivan-bob-dba")],
}


def blocks_of(page: Path):
    return executed_by(E2E_RUNNER, [page])


def shell_env(gatepass) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    kubectl_dir = Path(gatepass.cluster.kubectl.binary).resolve().parent
    env.update(KUBECONFIG=str(gatepass.cluster.kubeconfig), COLUMNS="100", NO_COLOR="1",
               PATH=os.pathsep.join([str(kubectl_dir), str(BIN), env.get("PATH", "")]))
    return env


def run(command: str, env: dict[str, str]) -> str:
    done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, timeout=TIMEOUT)
    return "\n".join(line.rstrip() for line in done.stdout.splitlines()).rstrip()


def bobs_live_requests(gatepass) -> list[str]:
    items = json.loads(gatepass.kubectl("get", "accessrequests", "-o", "json").stdout)["items"]
    return [item["metadata"]["name"] for item in items
            if (item["spec"].get("requester") or {}).get("username") == "bob"
            and (item.get("status") or {}).get("state") in {"Pending", "Approved"}]


def as_the_demo_leaves_it(gatepass, page: Path) -> None:
    """The cluster as `make dev` leaves it, for what the page's examples touch: bob holds no grant from an
    earlier test, nothing of the page's own is left from an earlier run."""
    for request in bobs_live_requests(gatepass):
        gatepass.kubectl("annotate", "accessrequest", request, "gatepass.dev/revoke=docs example set-up",
                         check=False)
    for kind, object_name in CREATES.get(page, ()):
        gatepass.kubectl("delete", kind, object_name, "--ignore-not-found", "--timeout=60s", check=False)
    wait_for(lambda: can_i(gatepass, "bob") == "no", timeout=SETTLE, what="bob to hold no grant in payments")


@pytest.fixture
def fresh_demo(gatepass, request):
    page = request.node.callspec.params["page"]
    as_the_demo_leaves_it(gatepass, page)
    yield
    as_the_demo_leaves_it(gatepass, page)


def mismatch(where: str, command: str, expected: str, printed: str, repeated: bool) -> str:
    how = f"repeated for {SETTLE}s, last printed" if repeated else "printed"
    return (f"{where}: `{command.splitlines()[0]}` prints something else than the docs show\n"
            f"--- shown (normalised)\n{normalise(expected)}\n--- {how} (normalised)\n{normalise(printed)}")


@pytest.mark.parametrize("page", PAGES_RUN, ids=name)
def test_the_examples_print_what_they_show(gatepass, fresh_demo, page):
    env = shell_env(gatepass)
    steps, last_write = 0, 0.0
    for block in blocks_of(page):
        for step in session_steps(block):
            if not reads_only(step.command):
                time.sleep(max(0.0, last_write + PACE - time.monotonic()))
                last_write = time.monotonic()
            printed = run(step.command, env)
            if reads_only(step.command):
                deadline = time.monotonic() + SETTLE
                while not same_output(step.expected, printed) and time.monotonic() < deadline:
                    time.sleep(0.5)
                    printed = run(step.command, env)
            assert same_output(step.expected, printed), \
                mismatch(block.where, step.command, step.expected, printed, reads_only(step.command))
            steps += 1
    assert steps >= len(blocks_of(page)) > 0
