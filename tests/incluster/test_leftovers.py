"""A run that died half-way leaves a node's network and cgroups behind; the next start removes them.

Run on the machine for real (root): a network namespace, a veth pair, the
route and the cgroups are made as a node makes them, with no process left to
stop them, and the sandbox's clean-up finds and removes every one.
"""

from __future__ import annotations

import json
import os

import pytest

from gatepass.devcluster import cli
from gatepass.devcluster.incluster import leftovers
from gatepass.devcluster.node import STATE_FILE, NodeNetwork, make_cgroups

pytestmark = pytest.mark.e2e


def test_what_a_dead_run_left_is_removed_by_the_next(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("this test makes network namespaces and cgroups: it needs root")
    network = NodeNetwork.for_folder(tmp_path)
    try:
        network.create()
        make_cgroups(network.cgroup)
        (tmp_path / "node").mkdir()
        (tmp_path / "node" / STATE_FILE).write_text(json.dumps({"index": network.index}))
        left = leftovers(network)
        assert len(left) >= 4, left  # namespace, interface, route and at least one cgroup: a run died here

        assert cli.down(tmp_path) == 0  # what `make dev-incluster` does first when it finds such a folder
        assert leftovers(network) == []
        assert cli.node_state(tmp_path) is None
    finally:
        network.remove()
