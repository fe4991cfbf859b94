"""The pure core of resource requests: asks, their descriptions, and the subset check against a bound."""

from __future__ import annotations

from datetime import datetime, timezone
from itertools import product

import pytest

from gatepass.core.policy import evaluate_request, request_errors
from gatepass.core.rbac import Access, Rule
from gatepass.core.resources import (
    ANY_NAME,
    Ask,
    Bound,
    bound_errors,
    bounds_for,
    cluster_roles,
    exceeding,
    refusal,
    role_rules,
    rule_manifest,
    scopes,
    summary,
    with_rules,
)
from gatepass.core.types import Identity, Policy, Request, Subjects

BOB = Identity("bob", frozenset({"developers"}))
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)

LOG_DB1 = Ask("pods", ("get",), subresource="log", namespace="payments", names=("db-1",))
# What a "pod-reader" bound allows: read pods and their logs, exec into db-* only by name.
POD_READER = (
    Rule.of(("get", "list", "watch"), ("",), ("pods", "pods/log")),
    Rule.of(("create",), ("",), ("pods/exec",), ("db-1",)),
)


def ask(resource="pods", verbs=("get",), **kwargs) -> Ask:
    return Ask(resource, tuple(verbs), **kwargs)


# -- describe: the one way every surface says an ask -------------------------------------------------


@pytest.mark.parametrize("value, said", [
    (LOG_DB1, "get pods/log db-1 in payments"),
    (ask(namespace="payments"), f"get pods {ANY_NAME} in payments"),
    (ask("deployments", ("get", "list"), api_group="apps", namespace="web", names=("a", "b")),
     "get,list deployments.apps a,b in web"),
    (ask("deployments", ("patch",), api_group="apps", subresource="scale", namespace="web", names=("a",)),
     "patch deployments.apps/scale a in web"),
    (ask("nodes", ("get",), names=("node-1",)), "get nodes node-1 cluster-wide"),
    (ask("pods", ("*",), subresource="*", namespace="p"), f"* pods/* {ANY_NAME} in p"),
])
def test_describe(value, said):
    assert value.describe() == said


def test_an_ask_is_exactly_one_rule():
    assert LOG_DB1.rule == Rule.of(("get",), ("",), ("pods/log",), ("db-1",))
    assert rule_manifest(LOG_DB1.rule) == {"apiGroups": [""], "resources": ["pods/log"],
                                           "resourceNames": ["db-1"], "verbs": ["get"]}
    assert rule_manifest(ask(verbs=("list", "get")).rule) == {"apiGroups": [""], "resources": ["pods"],
                                                             "verbs": ["get", "list"]}


def test_as_map_has_the_api_keys():
    assert LOG_DB1.as_map() == {"apiGroup": "", "resource": "pods", "subresource": "log", "namespace": "payments",
                                "names": ["db-1"], "verbs": ["get"]}


# -- the subset check ---------------------------------------------------------------------------------


def test_within_the_bound():
    assert exceeding(POD_READER, [LOG_DB1]) == []
    assert exceeding(POD_READER, [ask(verbs=("get", "list", "watch"), namespace="payments")]) == []
    assert exceeding(POD_READER, [ask(verbs=("create",), subresource="exec", namespace="p", names=("db-1",))]) == []


def test_a_verb_the_bound_lacks_exceeds_and_is_named():
    assert exceeding(POD_READER, [ask(verbs=("get", "delete"), namespace="payments", names=("db-1",))]) == [
        "get,delete pods db-1 in payments exceeds the bound: delete pods db-1 is not allowed"]


@pytest.mark.parametrize("verb", ["delete", "patch", "update", "create", "deletecollection", "escalate", "bind",
                                  "impersonate", "*"])
def test_every_verb_outside_the_bound_exceeds(verb):
    assert exceeding(POD_READER, [ask(verbs=(verb,), namespace="payments")])


def test_names():
    # Any name is only within a rule that names none.
    assert exceeding(POD_READER, [ask(verbs=("create",), subresource="exec", namespace="p")]) == [
        f"create pods/exec {ANY_NAME} in p exceeds the bound: create pods/exec {ANY_NAME} is not allowed"]
    # A name the rule does not list exceeds; only that name is named.
    assert exceeding(POD_READER, [ask(verbs=("create",), subresource="exec", namespace="p",
                                      names=("db-1", "db-2"))]) == [
        "create pods/exec db-1,db-2 in p exceeds the bound: create pods/exec db-2 is not allowed"]
    # A rule naming none allows every name.
    assert exceeding(POD_READER, [ask(namespace="p", names=("x", "y"))]) == []


def test_names_can_be_covered_by_two_rules_together():
    rules = (Rule.of(("get",), ("",), ("pods",), ("a",)), Rule.of(("get",), ("",), ("pods",), ("b",)))
    assert exceeding(rules, [ask(namespace="p", names=("a", "b"))]) == []
    assert exceeding(rules, [ask(namespace="p", names=("a", "c"))])
    # Verbs too: get from one rule, list from another.
    split = (Rule.of(("get",), ("",), ("pods",)), Rule.of(("list",), ("",), ("pods",)))
    assert exceeding(split, [ask(verbs=("get", "list"), namespace="p")]) == []


@pytest.mark.parametrize("bound_resource, asked, within", [
    ("pods", ("pods", ""), True),
    ("pods", ("pods", "log"), False),  # a resource does not cover its subresources
    ("pods/log", ("pods", ""), False),  # nor a subresource its resource
    ("pods/log", ("pods", "log"), True),
    ("pods/log", ("pods", "exec"), False),
    ("pods/*", ("pods", "log"), False),  # RBAC matches pods/* literally, and */log: not pods/* as a pattern
    ("pods/*", ("pods", "*"), True),
    ("*/log", ("pods", "log"), True),
    ("*/log", ("services", "log"), True),
    ("*/log", ("pods", "exec"), False),
    ("*/log", ("pods", ""), False),
    ("*", ("pods", ""), True),
    ("*", ("pods", "log"), True),  # "*" is every resource and subresource
    ("*", ("*", ""), True),
    ("*", ("pods", "*"), True),
    ("pods", ("*", ""), False),  # a wildcard ask needs a wildcard bound
    ("pods", ("pods", "*"), False),
    ("pods/log", ("pods", "*"), False),
    ("*/log", ("*", "log"), True),
    ("*/log", ("*", "*"), False),
    ("secrets", ("pods", ""), False),
])
def test_resources_and_subresources(bound_resource, asked, within):
    rules = (Rule.of(("get",), ("",), (bound_resource,)),)
    resource, subresource = asked
    result = exceeding(rules, [ask(resource, subresource=subresource, namespace="p")])
    assert (result == []) is within, result


@pytest.mark.parametrize("bound_verbs, asked_verbs, within", [
    (("get",), ("get",), True),
    (("get",), ("list",), False),
    (("get",), ("*",), False),  # "*" asked only where the bound has it
    (("*",), ("*",), True),
    (("*",), ("get", "delete", "escalate"), True),
    (("get", "list"), ("get", "list"), True),
    (("get", "list"), ("get", "list", "watch"), False),
])
def test_verbs(bound_verbs, asked_verbs, within):
    result = exceeding((Rule.of(bound_verbs, ("",), ("pods",)),), [ask(verbs=asked_verbs, namespace="p")])
    assert (result == []) is within, result


@pytest.mark.parametrize("bound_groups, asked_group, within", [
    (("",), "", True),
    (("",), "apps", False),
    (("apps",), "apps", True),
    (("apps",), "", False),
    (("*",), "apps", True),
    (("*",), "", True),
    (("*",), "*", True),
    (("apps",), "*", False),
    (("apps", "batch"), "batch", True),
])
def test_api_groups(bound_groups, asked_group, within):
    result = exceeding((Rule.of(("get",), bound_groups, ("deployments",)),),
                       [ask("deployments", api_group=asked_group, namespace="p")])
    assert (result == []) is within, result


def test_non_resource_urls_are_refused_whatever_the_bound():
    everything = (Rule.of(("*",), ("*",), ("*",)), Rule.of(("*",), non_resource_urls=("*",)))
    for path in ("/metrics", "/", "/healthz/*"):
        (line,) = exceeding(everything, [ask(path)])
        assert "non-resource URLs cannot be requested" in line
    # A bound made only of non-resource URLs allows no resource.
    assert exceeding((Rule.of(("get",), non_resource_urls=("*",)),), [ask(namespace="p")])


@pytest.mark.parametrize("bad, said", [
    (ask(""), "name a resource"),
    (ask("pods/log", namespace="p"), "name the subresource in subresource"),
    (ask(subresource="a/b", namespace="p"), "a subresource has no '/'"),
    (ask(verbs=(), namespace="p"), "name at least one verb"),
    (ask(verbs=("",), namespace="p"), "name at least one verb"),
    (ask(namespace="p", names=("*",)), "'*' is not one"),
    (ask(namespace="p", names=("",)), "names are object names"),
])
def test_asks_that_can_never_be_granted(bad, said):
    assert said in (refusal(bad) or "")
    assert exceeding((Rule.of(("*",), ("*",), ("*",)),), [bad]) == [refusal(bad)]


def test_each_exceeding_ask_gets_its_own_line_and_the_others_none():
    lines = exceeding(POD_READER, [LOG_DB1, ask("secrets", ("list",), namespace="payments"),
                                   ask(verbs=("delete",), namespace="payments", names=("db-1",))])
    assert lines == [
        f"list secrets {ANY_NAME} in payments exceeds the bound: list secrets {ANY_NAME} is not allowed",
        "delete pods db-1 in payments exceeds the bound: delete pods db-1 is not allowed",
    ]


def test_the_check_is_rbac_matching_for_every_combination():
    """Exhaustive over a small grid: an ask is within iff each of its verb/name points is allowed by rbac."""
    from gatepass.core.rbac import rules_allow

    verbs = ("get", "list", "*")
    resources = (("pods", ""), ("pods", "log"), ("pods", "*"), ("*", ""))
    names = ((), ("a",), ("a", "b"))
    bounds = [
        (Rule.of(("get",), ("",), ("pods",)),),
        (Rule.of(("get", "list"), ("",), ("pods", "pods/log"), ("a",)),),
        (Rule.of(("*",), ("",), ("pods/*",)),),
        (Rule.of(("get",), ("*",), ("*",)),),
    ]
    for rules, verb, (resource, sub), named in product(bounds, verbs, resources, names):
        value = ask(resource, (verb,), subresource=sub, namespace="p", names=named)
        expected = all(rules_allow(rules, access) for access in value.accesses())
        assert (exceeding(rules, [value]) == []) is expected


# -- policies' bounds ---------------------------------------------------------------------------------

BOUNDS = (Bound("pod-reader", ("payments",)), Bound("node-viewer", cluster_wide=True))


def test_which_bounds_govern_where():
    assert bounds_for(BOUNDS, "payments") == BOUNDS  # a cluster-wide entry bounds every namespace too
    assert bounds_for(BOUNDS, "billing") == (BOUNDS[1],)
    assert bounds_for(BOUNDS, "") == (BOUNDS[1],)
    assert bounds_for(BOUNDS[:1], "") == ()
    assert cluster_roles(BOUNDS) == {"pod-reader", "node-viewer"}


def test_with_rules_fills_in_what_was_read():
    filled = with_rules(BOUNDS, {"pod-reader": POD_READER, "node-viewer": None})
    assert filled[0].rules == POD_READER and filled[0].exists
    assert filled[1].rules == () and not filled[1].exists
    assert with_rules(BOUNDS, {}) == BOUNDS


def test_bound_errors_name_the_policy_and_the_cluster_role():
    bounds = with_rules(BOUNDS[:1], {"pod-reader": POD_READER})
    assert bound_errors("dba", bounds, [LOG_DB1]) == []
    assert bound_errors("dba", bounds, [ask("secrets", ("list",), namespace="payments")]) == [
        f"list secrets {ANY_NAME} in payments exceeds the bound: list secrets {ANY_NAME} is not allowed "
        "by ClusterRole pod-reader (AccessPolicy dba)"]
    assert bound_errors("dba", bounds, [ask(namespace="billing")]) == [
        f"get pods {ANY_NAME} in billing: AccessPolicy dba allows no resource requests in billing"]
    assert bound_errors("dba", bounds, [ask("nodes")]) == [
        f"get nodes {ANY_NAME} cluster-wide: AccessPolicy dba allows no resource requests cluster-wide"]


def test_bound_errors_without_the_rules_judge_only_where():
    assert bound_errors("dba", BOUNDS[:1], [ask("secrets", ("*",), namespace="payments")]) == []
    assert bound_errors("dba", BOUNDS[:1], [ask(namespace="billing")])


def test_a_missing_cluster_role_bounds_nothing_and_says_so():
    bounds = with_rules(BOUNDS[:1], {"pod-reader": None})
    (line,) = bound_errors("dba", bounds, [LOG_DB1])
    assert line.endswith("by ClusterRole pod-reader (which does not exist) (AccessPolicy dba)")


def test_rules_of_the_bounds_that_apply_are_pooled():
    bounds = with_rules(BOUNDS, {"pod-reader": POD_READER, "node-viewer": (Rule.of(("list",), ("",), ("pods",)),)})
    assert bound_errors("p", bounds, [ask(verbs=("list",), namespace="billing")]) == []
    assert bound_errors("p", bounds, [ask(verbs=("get",), namespace="billing")])
    assert bound_errors("p", bounds, [ask(verbs=("get", "list"), namespace="payments")]) == []


# -- the per-grant roles' rules --------------------------------------------------------------------------


def test_scopes_and_role_rules():
    asks = (LOG_DB1, ask("nodes", names=("n1",)), ask(verbs=("list",), namespace="payments"), LOG_DB1,
            ask(namespace="billing"))
    assert scopes(asks) == ("payments", "", "billing")
    assert role_rules(asks, "payments") == (LOG_DB1.rule, ask(verbs=("list",), namespace="payments").rule)
    assert role_rules(asks, "") == (ask("nodes", names=("n1",)).rule,)


def test_summary_fits_the_column():
    asks = [ask(namespace=f"namespace-{i}", names=(f"object-{i}",)) for i in range(10)]
    line = summary(asks, 120)
    assert len(line) <= 120 and line.startswith("get pods object-0 in namespace-0; ") and line.endswith(" more")
    assert summary(asks[:1], 120) == "get pods object-0 in namespace-0"
    assert len(summary([ask(namespace="p", names=("x" * 200,))], 120)) <= 120


# -- policies allow resource requests as the core says ---------------------------------------------------


def request(**kwargs) -> Request:
    return Request(name="bob-log", requester=BOB, created=NOW, reason="INC-1", **kwargs)


POLICY = Policy(name="pods", requesters=Subjects.of(groups=["developers"]), roles=(),
                reviewers=Subjects.of(users=["alice"]),
                resources=with_rules(BOUNDS[:1], {"pod-reader": POD_READER}))


def test_policy_allows_a_request_within_its_bound():
    assert request_errors(request(resources=(LOG_DB1,)), POLICY) == []
    assert evaluate_request(request(resources=(LOG_DB1,)), [POLICY]).policy == POLICY


def test_policy_refuses_a_request_outside_its_bound_in_one_line_naming_the_rule():
    selection = evaluate_request(request(resources=(ask("secrets", ("list",), namespace="payments"),)), [POLICY])
    assert selection.policy is None
    assert selection.errors == [f"list secrets {ANY_NAME} in payments exceeds the bound: list secrets {ANY_NAME} "
                                "is not allowed by ClusterRole pod-reader (AccessPolicy pods)"]


def test_nobody_named_may_request_resources():
    mallory = Request(name="m", requester=Identity("mallory"), created=NOW, resources=(LOG_DB1,))
    assert evaluate_request(mallory, [POLICY]).errors == [
        "mallory may not request resources: no AccessPolicy names mallory as a requester"]


def test_roles_and_resources_mix():
    from gatepass.core.types import RequestableRole

    policy = Policy(name="mixed", requesters=POLICY.requesters, reviewers=POLICY.reviewers,
                    roles=(RequestableRole("view", "ClusterRole", "view", ("payments",)),),
                    resources=POLICY.resources)
    assert request_errors(request(roles=("view",), namespaces=("payments",), resources=(LOG_DB1,)), policy) == []
    assert request_errors(request(roles=("view",), namespaces=("payments",),
                                  resources=(ask(verbs=("delete",), namespace="payments"),)), policy)


def test_only_policies_bounding_resources_speak_of_them():
    from gatepass.core.types import RequestableRole

    roles_only = Policy(name="a-roles", requesters=POLICY.requesters, reviewers=POLICY.reviewers,
                        roles=(RequestableRole("view", "ClusterRole", "view", ("payments",)),))
    outside = request(resources=(ask("secrets", ("list",), namespace="payments"),))
    assert evaluate_request(outside, [roles_only, POLICY]).errors == [
        f"list secrets {ANY_NAME} in payments exceeds the bound: list secrets {ANY_NAME} "
        "is not allowed by ClusterRole pod-reader (AccessPolicy pods)"]
    assert evaluate_request(outside, [roles_only]).errors == [
        "bob may not request resources: no AccessPolicy bounds resource requests for bob or groups [developers]"]


def test_bound_accesses_and_warnings():
    from gatepass.core.resources import bound_accesses, bound_warnings

    bound = with_rules((Bound("pod-reader", ("payments", "billing")),), {"pod-reader": POD_READER[:1]})[0]
    accesses = bound_accesses(bound)
    assert len(accesses) == 2 * 2 * 3 and Access("get", "pods/log", "", "payments") in accesses
    assert bound_accesses(Bound("x", ("p",))) == ()  # rules not read
    cluster = with_rules((Bound("nodes", cluster_wide=True),), {"nodes": (Rule.of(("get",), ("",), ("nodes",)),)})[0]
    assert bound_accesses(cluster) == (Access("get", "nodes"),)
    assert bound_warnings([bound], {access: True for access in accesses}) == []
    assert bound_warnings([bound], {}) == []  # not judged
    (line,) = bound_warnings([bound], {access: False for access in accesses})
    assert line.startswith('resources within ClusterRole "pod-reader": the operator does not hold get pods in '
                           "namespace payments, list pods in namespace payments, watch pods in namespace payments "
                           "and 9 more itself")
