"""`kubectl access request search`: what the user's policies' bounds let them ask for, listed as the user."""

from __future__ import annotations

import pytest

from gatepass.cli import search
from gatepass.cli.commands import Context
from gatepass.cli.errors import CliError
from gatepass.cli.kube import Names
from gatepass.core.rbac import RoleKey, Rule
from gatepass.core.resources import Ask, Bound
from gatepass.core.types import Identity, Policy, Subjects

from .cli_fakes import RESOURCE_POLICY, FakeKube, Streams, args

BOB = Identity("bob", frozenset({"developers"}))
READER = [Rule.of(["get", "list"], [""], ["pods", "pods/log"]), Rule.of(["get"], [""], ["secrets"], ["db-password"]),
          Rule.of(["get"], [], [], [], ["/metrics"])]


def policy(name: str = "pod-logs", *bounds: Bound, requesters: Subjects = Subjects.of(groups=["developers"])) -> Policy:
    return Policy(name=name, requesters=requesters, roles=(), reviewers=Subjects.of(users=["alice"]),
                  resources=bounds or (Bound("pod-reader", ("payments",)),))


def asks_of(found):
    return [(t.policy, t.ask.describe()) for t in found]


def test_targets_are_the_bound_rules_kinds_where_the_bound_applies():
    found = search.targets([policy()], BOB, {"pod-reader": READER})
    assert asks_of(found) == [
        ("pod-logs", "get,list pods (any name) in payments"),
        ("pod-logs", "get,list pods/log (any name) in payments"),
        ("pod-logs", "get secrets db-password in payments"),
    ]  # the /metrics rule is not a resource: never offered


def test_targets_need_a_policy_naming_the_user_and_readable_rules():
    assert search.targets([policy(requesters=Subjects.of(users=["carol"]))], BOB, {"pod-reader": READER}) == []
    assert search.targets([policy()], BOB, {"pod-reader": None}) == []
    assert search.targets([policy()], BOB, {}) == []


def test_kind_and_namespace_narrow_the_targets():
    rules = {"pod-reader": READER}
    assert asks_of(search.targets([policy()], BOB, rules, kind=search.Kind.parse("pods/log"))) == [
        ("pod-logs", "get,list pods/log (any name) in payments")]
    assert [t.ask.full_resource for t in search.targets([policy()], BOB, rules, kind=search.Kind("pods"))] == [
        "pods", "pods/log"]
    assert search.targets([policy()], BOB, rules, namespace="billing") == []
    assert asks_of(search.targets([policy()], BOB, rules, kind=search.Kind("secrets"), namespace="payments")) == [
        ("pod-logs", "get secrets db-password in payments")]


def test_a_cluster_wide_bound_is_searched_cluster_wide_or_in_any_namespace_asked_for():
    wide = policy("nodes", Bound("node-reader", cluster_wide=True))
    rules = {"node-reader": [Rule.of(["get"], [""], ["nodes"])]}
    assert asks_of(search.targets([wide], BOB, rules)) == [("nodes", "get nodes (any name) cluster-wide")]
    assert asks_of(search.targets([wide], BOB, rules, namespace="billing")) == [
        ("nodes", "get nodes (any name) in billing")]


def test_wildcards_stay_patterns_unless_the_kind_fills_them_in():
    everything = {"all": [Rule.of(["get"], ["*"], ["*"])]}
    anything = policy("any", Bound("all", ("payments",)))
    [target] = search.targets([anything], BOB, everything)
    assert target.ask == Ask(resource="*", verbs=("get",), api_group="*", namespace="payments")
    assert not target.listable
    [filled] = search.targets([anything], BOB, everything, kind=search.Kind.parse("deployments.apps"))
    assert filled.ask == Ask(resource="deployments", verbs=("get",), api_group="apps", namespace="payments")
    assert filled.listable


def test_a_kind_the_bound_does_not_allow_is_not_offered():
    assert search.targets([policy()], BOB, {"pod-reader": READER}, kind=search.Kind("deployments", "apps")) == []


def test_an_invalid_kind_is_one_line():
    with pytest.raises(CliError, match='invalid --kind "/x"'):
        search.Kind.parse("/x")  # no type
    assert search.Kind.parse("") is None


@pytest.mark.parametrize("pattern, name, matched", [
    ("", "db-1", True), ("db", "db-1", True), ("db-*", "db-1", True), ("db-*", "web-db-1", False),
    ("?b-1", "db-1", True), ("web", "db-1", False),
])
def test_patterns_are_globs_or_parts_of_names(pattern, name, matched):
    assert search.matches(pattern, name) is matched


def listing(**by_kind):
    def listed(ask):
        return by_kind.get(ask.resource, Names(exists=False))
    return listed


def test_rows_list_names_the_user_may_read_and_the_pattern_where_they_may_not():
    found = search.targets([policy()], BOB, {"pod-reader": READER})
    rows = search.rows(found, listing(pods=Names(found=(("payments", "db-1"), ("payments", "web-1")))))
    assert [r.cells() for r in rows] == [
        ["pods", "payments", "db-1", "get,list", "pod-logs"],
        ["pods", "payments", "web-1", "get,list", "pod-logs"],
        ["pods/log", "payments", "db-1", "get,list", "pod-logs"],
        ["pods/log", "payments", "web-1", "get,list", "pod-logs"],
        ["secrets", "payments", "db-password", "get", "pod-logs"],  # named by the rule: no listing
    ]
    hidden = search.rows(found, listing(pods=Names(allowed=False)))
    assert [(r.resource, r.name, r.unlisted) for r in hidden] == [
        ("pods", "(any name)", True), ("pods/log", "(any name)", True), ("secrets", "db-password", False)]


def test_rows_follow_the_pattern_and_leave_out_kinds_that_are_not_there():
    found = search.targets([policy()], BOB, {"pod-reader": READER})
    rows = search.rows(found, listing(pods=Names(found=(("payments", "db-1"), ("payments", "web-1")))), "db-*")
    assert [(r.resource, r.name) for r in rows] == [("pods", "db-1"), ("pods/log", "db-1"),
                                                   ("secrets", "db-password")]
    assert search.rows(found, listing(), "web") == []


def test_rows_merge_what_several_policies_allow():
    two = [policy("a"), policy("b", Bound("secret-reader", ("payments",)))]
    rules = {"pod-reader": READER, "secret-reader": [Rule.of(["get", "list"], [""], ["secrets"])]}
    rows = search.rows(search.targets(two, BOB, rules, kind=search.Kind("secrets")),
                       listing(secrets=Names(found=(("payments", "db-password"),))))
    assert [r.cells() for r in rows] == [["secrets", "payments", "db-password", "get,list", "a,b"]]


@pytest.mark.parametrize("row, hint", [
    (search.Row("pods/log", "payments", "db-1", ("get",), ("p",)), "--resource pods/db-1 --verbs logs -n payments"),
    (search.Row("pods", "payments", search.ANY, ("get", "list"), ("p",)), "--resource pods --verbs get -n payments"),
    (search.Row("deployments.apps/scale", "", "web", ("*",), ("p",)),
     "--resource deployments.apps/web --verbs get --subresource scale"),
])
def test_the_hint_is_a_create_line_for_a_row(row, hint):
    assert search.create_hint(row) == hint


def run_search(kube, **values):
    streams = Streams()
    values = {"kind": "", "namespace": "", "pattern": "", **values}
    code = search.search(Context(kube, args(**values), streams.out, streams.err))
    return code, streams.out.getvalue(), streams.err.getvalue()


def test_search_lists_as_the_user_and_says_what_it_could_not_list():
    kube = FakeKube(policies=[RESOURCE_POLICY], rules={RoleKey("ClusterRole", "pod-reader"): READER},
                    names={("", "pods", "payments"): Names(allowed=False)})
    code, out, err = run_search(kube)
    assert code == 0
    assert out.splitlines() == [
        "RESOURCE   NAMESPACE   NAME          VERBS      POLICY",
        "pods       payments    (any name)    get,list   pod-logs",
        "pods/log   payments    (any name)    get,list   pod-logs",
        "secrets    payments    db-password   get        pod-logs",
    ]
    assert kube.listed == [("", "pods", "payments")]  # once for pods and pods/log; secrets are named
    assert err.splitlines() == [
        "You may not list pods in payments, so no names are shown there: ask for a name you know, or for any name.",
        "Ask with: kubectl access request create --resource pods --verbs get -n payments --reason=...",
    ]


def test_search_says_when_nothing_is_offered_and_when_a_bound_is_unreadable():
    kube = FakeKube(policies=[RESOURCE_POLICY], rules={})
    code, out, err = run_search(kube, kind="pods", namespace="payments")
    assert (code, out) == (0, "")
    assert err.splitlines() == [
        "Cannot read ClusterRole pod-reader (a policy's resource bound) as bob; what it allows is not shown.",
        "No AccessPolicy lets bob ask for resources pods in payments.",
    ]


def test_search_says_when_a_listing_was_cut_at_the_limit():
    names = Names(found=tuple(("payments", f"db-{i}") for i in range(3)), more=True)
    kube = FakeKube(policies=[RESOURCE_POLICY], rules={RoleKey("ClusterRole", "pod-reader"): READER},
                    names={("", "pods", "payments"): names})
    code, out, err = run_search(kube, kind="pods/log")
    assert code == 0 and [line.split()[2] for line in out.splitlines()[1:]] == ["db-0", "db-1", "db-2"]
    assert err.splitlines()[0] == (f"Only the first {search.LIST_LIMIT} names of pods in payments are shown: "
                                   "narrow with NAME-PATTERN.")
    assert err.splitlines()[1] == ("Ask with: kubectl access request create --resource pods/db-0 --verbs logs "
                                   "-n payments --reason=...")
