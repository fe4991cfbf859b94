"""The local cluster's identities, as `make dev` and the README list them."""

from pathlib import Path

from gatepass.devcluster.cli import contexts_summary
from gatepass.devcluster.identities import ADMIN, USERS, User

README = Path(__file__).resolve().parents[2] / "README.md"


def test_contexts_summary_groups_neighbours_with_the_same_groups():
    users = (ADMIN, User("alice", ("leads",), ""), User("ivan", ("leads",), ""), User("bob", ("dev", "oncall"), ""))
    assert contexts_summary(users) == "Contexts: admin, operator, alice, ivan (leads), bob (dev, oncall)."


def test_every_identity_is_listed_by_make_dev_and_the_readme():
    summary = contexts_summary(USERS)
    readme = README.read_text()
    for user in USERS:
        assert user.name in summary
        assert f"`{user.name}`" in readme


def test_names_are_unique():
    names = [user.name for user in USERS]
    assert len(names) == len(set(names))
