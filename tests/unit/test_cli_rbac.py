"""Which requestable role would allow a refused request (gatepass.core.rbac), as `kubectl access exec` asks."""

from __future__ import annotations

import pytest

from gatepass.core.rbac import (
    Access,
    Finding,
    RoleKey,
    Rule,
    Suggestion,
    offer_of,
    roles_to_read,
    rule_allows,
    rule_from_api,
    rules_allow,
    scope_for,
    suggest_roles,
)
from gatepass.core.types import RequestableRole, Subjects

from .core_factories import BOB, dba_policy, person

LIST_SECRETS = Access("list", "secrets", namespace="payments")
GET_SECRET = Access("get", "secrets", namespace="payments", name="db-password")
EXEC = Access("create", "pods/exec", namespace="payments", name="db-0")
LIST_NODES = Access("list", "nodes")
METRICS = Access("get", path="/metrics")
DEPLOYMENTS = Access("patch", "deployments", "apps", "payments", "web")

# The demo's dba ClusterRole (examples/demo/dba.yaml).
DBA_RULES = (
    Rule.of(["get", "list"], [""], ["secrets", "pods"]),
    Rule.of(["create"], [""], ["pods/exec"]),
)


# -- one rule ---------------------------------------------------------------------------------

@pytest.mark.parametrize("rule, access, allowed", [
    (Rule.of(["list"], [""], ["secrets"]), LIST_SECRETS, True),
    (Rule.of(["get"], [""], ["secrets"]), LIST_SECRETS, False),  # wrong verb
    (Rule.of(["*"], [""], ["secrets"]), LIST_SECRETS, True),  # any verb
    (Rule.of(["list"], ["apps"], ["secrets"]), LIST_SECRETS, False),  # wrong group
    (Rule.of(["list"], ["*"], ["secrets"]), LIST_SECRETS, True),  # any group
    (Rule.of(["list"], [""], ["pods"]), LIST_SECRETS, False),  # wrong resource
    (Rule.of(["list"], [""], ["*"]), LIST_SECRETS, True),  # any resource
    (Rule.of(["list"], [], ["secrets"]), LIST_SECRETS, False),  # no groups: nothing
    (Rule.of([], [""], ["secrets"]), LIST_SECRETS, False),  # no verbs: nothing
    # subresources: exact, */sub, the bare resource does not cover them
    (Rule.of(["create"], [""], ["pods/exec"]), EXEC, True),
    (Rule.of(["create"], [""], ["*/exec"]), EXEC, True),
    (Rule.of(["create"], [""], ["*/log"]), EXEC, False),
    (Rule.of(["create"], [""], ["pods"]), EXEC, False),
    (Rule.of(["create"], [""], ["*"]), EXEC, True),
    (Rule.of(["list"], [""], ["*/exec"]), Access("list", "pods", namespace="payments"), False),
    # resource names: only requests naming one of them
    (Rule.of(["get"], [""], ["secrets"], ["db-password"]), GET_SECRET, True),
    (Rule.of(["get"], [""], ["secrets"], ["other"]), GET_SECRET, False),
    (Rule.of(["list"], [""], ["secrets"], ["db-password"]), LIST_SECRETS, False),
    # another API group
    (Rule.of(["patch"], ["apps"], ["deployments"]), DEPLOYMENTS, True),
    (Rule.of(["patch"], [""], ["deployments"]), DEPLOYMENTS, False),
    # non-resource URLs
    (Rule.of(["get"], non_resource_urls=["/metrics"]), METRICS, True),
    (Rule.of(["get"], non_resource_urls=["/*"]), METRICS, True),
    (Rule.of(["get"], non_resource_urls=["/met*"]), METRICS, True),
    (Rule.of(["get"], non_resource_urls=["/healthz"]), METRICS, False),
    (Rule.of(["get"], non_resource_urls=["*"]), METRICS, True),
    (Rule.of(["post"], non_resource_urls=["/metrics"]), METRICS, False),
    (Rule.of(["get"], ["*"], ["*"]), METRICS, False),  # resource rules never allow a path
    (Rule.of(["get"], non_resource_urls=["*"]), Access("get", "secrets", namespace="x"), False),
])
def test_rule_allows(rule, access, allowed):
    assert rule_allows(rule, access) is allowed


def test_a_path_is_allowed_only_through_a_cluster_binding():
    rules = [Rule.of(["get"], non_resource_urls=["/metrics"])]
    assert not rules_allow(rules, METRICS)
    assert rules_allow(rules, METRICS, cluster_binding=True)


def test_any_rule_of_a_role_may_allow():
    assert rules_allow(DBA_RULES, EXEC)
    assert rules_allow(DBA_RULES, GET_SECRET)
    assert not rules_allow(DBA_RULES, DEPLOYMENTS)
    assert not rules_allow((), LIST_SECRETS)


def test_rules_read_from_the_api():
    rule = rule_from_api({"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"],
                          "resourceNames": ["a"], "nonResourceURLs": ["/x"]})
    assert rule == Rule.of(["get"], [""], ["secrets"], ["a"], ["/x"])
    assert rule_from_api({"verbs": ["get"]}) == Rule.of(["get"])


@pytest.mark.parametrize("access, text", [
    (LIST_SECRETS, "list secrets in namespace payments"),
    (GET_SECRET, "get secrets db-password in namespace payments"),
    (EXEC, "create pods/exec db-0 in namespace payments"),
    (DEPLOYMENTS, "patch deployments.apps web in namespace payments"),
    (Access("get", "deployments/scale", "apps", "p"), "get deployments.apps/scale in namespace p"),
    (LIST_NODES, "list nodes cluster-wide"),
    (METRICS, "get path /metrics"),
])
def test_accesses_describe_themselves(access, text):
    assert access.describe() == text


# -- where a role would have to be bound -------------------------------------------------------

DBA = RequestableRole("dba", "ClusterRole", "dba", ("payments", "billing"))
VIEW = RequestableRole("view", "ClusterRole", "view", ("payments",), cluster_wide=True)
DEPLOYER = RequestableRole("deployer", "Role", "deployer", ("payments",))
EVERYWHERE = RequestableRole("everywhere", "ClusterRole", "view", (), cluster_wide=True)


@pytest.mark.parametrize("role, accesses, scope", [
    (DBA, [LIST_SECRETS], ("payments",)),
    (DBA, [LIST_SECRETS, Access("list", "pods", namespace="billing")], ("billing", "payments")),
    (DBA, [Access("list", "secrets", namespace="other")], None),
    (DBA, [LIST_NODES], None),
    (DBA, [METRICS], None),
    (VIEW, [LIST_SECRETS], ("payments",)),  # namespaced preferred even if cluster-wide is offered
    (VIEW, [Access("list", "pods", namespace="other")], ()),  # only cluster-wide reaches it
    (VIEW, [LIST_NODES], ()),
    (VIEW, [LIST_SECRETS, LIST_NODES], ()),
    (EVERYWHERE, [LIST_SECRETS], ()),
    (DEPLOYER, [DEPLOYMENTS], ("payments",)),
    (DEPLOYER, [LIST_NODES], None),  # a Role is never bound cluster-wide
    (DBA, [], None),
])
def test_scope_for(role, accesses, scope):
    assert scope_for(role, accesses) == scope


# -- suggestions ----------------------------------------------------------------------------------

def demo_policy(**changes):
    return dba_policy(roles=(RequestableRole("dba", "ClusterRole", "dba", ("payments",)),), **changes)


def test_the_demo_answer_dba_in_payments():
    policy = demo_policy()
    assert roles_to_read(BOB, [policy], [LIST_SECRETS]) == (RoleKey("ClusterRole", "dba"),)
    finding = suggest_roles([LIST_SECRETS], BOB, [policy], {RoleKey("ClusterRole", "dba"): DBA_RULES})
    assert finding == Finding(allowed=(Suggestion("demo-dba", "dba", ("payments",)),))
    assert finding.best.describe() == "role dba in payments (AccessPolicy demo-dba)"


def test_someone_who_may_not_request_gets_nothing():
    carol = person("carol", "contractors")
    policy = demo_policy()
    assert roles_to_read(carol, [policy], [LIST_SECRETS]) == ()
    finding = suggest_roles([LIST_SECRETS], carol, [policy], {RoleKey("ClusterRole", "dba"): DBA_RULES})
    assert finding == Finding()
    assert finding.best is None


def test_a_role_whose_rules_do_not_allow_it_is_not_suggested():
    finding = suggest_roles([DEPLOYMENTS], BOB, [demo_policy()], {RoleKey("ClusterRole", "dba"): DBA_RULES})
    assert finding == Finding()


def test_a_namespace_the_policy_does_not_offer_is_not_suggested():
    other = Access("list", "secrets", namespace="other")
    assert suggest_roles([other], BOB, [demo_policy()], {RoleKey("ClusterRole", "dba"): DBA_RULES}) == Finding()


def test_every_refused_request_must_be_allowed_by_the_one_role():
    rules = {RoleKey("ClusterRole", "dba"): DBA_RULES}
    assert suggest_roles([LIST_SECRETS, EXEC], BOB, [demo_policy()], rules).best is not None
    assert suggest_roles([LIST_SECRETS, DEPLOYMENTS], BOB, [demo_policy()], rules).best is None


def test_unreadable_rules_make_an_unverified_suggestion_not_a_guess():
    finding = suggest_roles([LIST_SECRETS], BOB, [demo_policy()], {RoleKey("ClusterRole", "dba"): None})
    assert finding.allowed == ()
    assert finding.unverified == (Suggestion("demo-dba", "dba", ("payments",)),)
    assert finding.unreadable == (RoleKey("ClusterRole", "dba"),)
    missing = suggest_roles([LIST_SECRETS], BOB, [demo_policy()], {})
    assert missing.unverified == finding.unverified


def test_a_role_known_not_to_allow_one_access_is_not_unverified_either():
    policy = dba_policy(roles=(DBA, DEPLOYER))
    rules = {RoleKey("ClusterRole", "dba"): DBA_RULES, RoleKey("Role", "deployer", "payments"): None}
    finding = suggest_roles([DEPLOYMENTS], BOB, [policy], rules)
    assert finding.allowed == ()
    assert finding.unverified == (Suggestion("demo-dba", "deployer", ("payments",)),)
    assert finding.unreadable == (RoleKey("Role", "deployer", "payments"),)


def test_a_namespaced_role_is_read_in_each_namespace_it_would_be_bound_in():
    deployer = RequestableRole("deployer", "Role", "deployer", ("payments", "billing"))
    policy = dba_policy(roles=(deployer,))
    in_billing = Access("patch", "deployments", "apps", "billing", "web")
    assert roles_to_read(BOB, [policy], [DEPLOYMENTS, in_billing]) == (
        RoleKey("Role", "deployer", "billing"), RoleKey("Role", "deployer", "payments"))
    may_deploy = [Rule.of(["patch"], ["apps"], ["deployments"])]
    rules = {RoleKey("Role", "deployer", "payments"): may_deploy, RoleKey("Role", "deployer", "billing"): []}
    assert suggest_roles([DEPLOYMENTS], BOB, [policy], rules).best == Suggestion(
        "demo-dba", "deployer", ("payments",))
    assert suggest_roles([DEPLOYMENTS, in_billing], BOB, [policy], rules).best is None


def test_namespaced_grants_come_before_cluster_wide_ones_then_policy_names():
    wide = dba_policy(name="aaa-wide", roles=(RequestableRole("reader", "ClusterRole", "dba", (), cluster_wide=True),))
    narrow = dba_policy(name="zzz-narrow", roles=(RequestableRole("dba", "ClusterRole", "dba", ("payments",)),))
    narrow2 = dba_policy(name="mmm-narrow", roles=(RequestableRole("dba2", "ClusterRole", "dba", ("payments",)),))
    finding = suggest_roles([LIST_SECRETS], BOB, [wide, narrow, narrow2], {RoleKey("ClusterRole", "dba"): DBA_RULES})
    assert finding.allowed == (
        Suggestion("mmm-narrow", "dba2", ("payments",)),
        Suggestion("zzz-narrow", "dba", ("payments",)),
        Suggestion("aaa-wide", "reader", ()),
    )
    assert finding.allowed[2].describe() == "role reader cluster-wide (AccessPolicy aaa-wide)"


def test_a_path_needs_a_cluster_wide_role():
    metrics_rules = [Rule.of(["get"], non_resource_urls=["/metrics"])]
    wide = dba_policy(roles=(RequestableRole("monitor", "ClusterRole", "monitor", (), cluster_wide=True),))
    assert suggest_roles([METRICS], BOB, [wide], {RoleKey("ClusterRole", "monitor"): metrics_rules}).best == \
        Suggestion("demo-dba", "monitor", ())
    narrow = dba_policy(roles=(RequestableRole("monitor", "ClusterRole", "monitor", ("payments",)),))
    assert suggest_roles([METRICS], BOB, [narrow], {RoleKey("ClusterRole", "monitor"): metrics_rules}) == Finding()


def test_requesters_by_user_name_count_too():
    policy = demo_policy(requesters=Subjects.of(users=["bob"]))
    assert suggest_roles([LIST_SECRETS], person("bob"), [policy], {RoleKey("ClusterRole", "dba"): DBA_RULES}).best


def test_offer_of_a_named_role():
    policy = demo_policy()
    assert offer_of("dba", [LIST_SECRETS], BOB, [policy]) == Suggestion("demo-dba", "dba", ("payments",))
    assert offer_of("dba", [LIST_NODES], BOB, [policy]) is None
    assert offer_of("nope", [LIST_SECRETS], BOB, [policy]) is None
    assert offer_of("dba", [LIST_SECRETS], person("carol", "contractors"), [policy]) is None
