"""The local cluster's identities, as `make dev` and docs/development.md list them."""

from pathlib import Path

from gatepass.devcluster.cli import contexts_summary
from gatepass.devcluster.identities import ADMIN, USERS, User

DEVELOPMENT = Path(__file__).resolve().parents[2] / "docs" / "development.md"


def test_contexts_summary_groups_neighbours_with_the_same_groups():
    users = (ADMIN, User("alice", ("leads",), ""), User("ivan", ("leads",), ""), User("bob", ("dev", "oncall"), ""))
    assert contexts_summary(users) == "Contexts: admin, operator, alice, ivan (leads), bob (dev, oncall)."


def test_every_identity_is_listed_by_make_dev_and_the_docs():
    summary = contexts_summary(USERS)
    rows = {line.split("|")[1].strip(): line for line in DEVELOPMENT.read_text().splitlines() if line.startswith("| `")}
    for user in USERS:
        assert user.name in summary
        assert f"`{user.name}`" in rows, f"docs/development.md's identities table lacks {user.name}"
        for group in user.groups:
            assert f"`{group}`" in rows[f"`{user.name}`"], f"docs/development.md: {user.name} is in {group}"


def test_names_are_unique():
    names = [user.name for user in USERS]
    assert len(names) == len(set(names))
