"""What policy admission refuses (thresholds nobody can reach) and warns about (what does not exist yet)."""

from __future__ import annotations

import itertools

import pytest

from gatepass.core.policy_checks import ClusterFacts, Findings, check_policy, needed_reads
from gatepass.core.tally import Outcome, tally
from gatepass.core.types import RULES_REVIEWER, Identity, RequestableRole, Review, Rule, Subjects, Threshold

from .core_factories import BOB, T0, dba_policy

EVERYTHING = ClusterFacts(namespaces=frozenset({"payments", "billing"}), cluster_roles=frozenset({"dba", "view"}),
                          roles={"deployer": frozenset({"payments"})})
APPROVE_RULE = Rule("oncall", "Approve", "'oncall' in user.groups")
DENY_RULE = Rule("weekend", "Deny", "false")


def users(*names: str) -> Subjects:
    return Subjects.of(users=names)


def findings(facts: ClusterFacts = EVERYTHING, **changes) -> Findings:
    return check_policy(dba_policy(**changes), facts)


# --- thresholds and denials that can never be reached ---------------------------------------------


def test_a_workable_policy_has_no_findings():
    assert findings() == Findings()
    assert findings(reviewers=users("alice", "ivan"), thresholds=(Threshold("both", 2),), denials=2) == Findings()


def test_more_approvals_than_named_reviewers_is_refused():
    assert findings(reviewers=users("alice"), thresholds=(Threshold("leads", 3),)).errors == (
        'threshold "leads" needs 3 approvals but at most 1 reviewer can give one (alice)',)


def test_a_threshold_counts_only_its_from_who_are_reviewers():
    policy = dict(reviewers=users("alice", "ivan", "erin"),
                  thresholds=(Threshold("leads", 2, users("alice", "mallory")),))
    assert findings(**policy).errors == (
        'threshold "leads" needs 2 approvals but at most 1 reviewer can give one (alice)',)


def test_a_from_naming_nobody_who_is_a_reviewer_is_refused():
    policy = dict(reviewers=users("alice", "ivan"), thresholds=(Threshold("ops", 1, users("mallory")),))
    assert findings(**policy).errors == (
        'threshold "ops" can never be met: none of the users and groups in its from is a reviewer',)


def test_group_members_are_not_guessed():
    # Reviewers given as a group: any number of people may be in it.
    assert findings(reviewers=Subjects.of(groups=["dba-leads"]), thresholds=(Threshold("leads", 5),)) == Findings()
    # A from group may hold reviewers listed by name.
    assert findings(reviewers=users("alice", "ivan"),
                    thresholds=(Threshold("leads", 2, Subjects.of(groups=["dba-leads"])),)) == Findings()
    # A from user may be a reviewer through the reviewers' group, but there are only two of them.
    assert findings(reviewers=Subjects.of(groups=["dba-leads"]),
                    thresholds=(Threshold("leads", 3, users("alice", "ivan")),)).errors == (
        'threshold "leads" needs 3 approvals but at most 2 reviewers can give one (alice, ivan)',)


def test_the_rules_reviewer_is_no_reviewer():
    assert findings(reviewers=users("alice", RULES_REVIEWER), thresholds=(Threshold("two", 2),)).errors == (
        'threshold "two" needs 2 approvals but at most 1 reviewer can give one (alice)',)


def test_more_denials_than_named_reviewers_is_refused():
    assert findings(reviewers=users("alice", "ivan"), denials=3).errors == (
        "denials 3 can never be reached: at most 2 reviewers can deny (alice, ivan)",)
    assert findings(reviewers=Subjects.of(users=["alice"], groups=["sre"]), denials=3) == Findings()


def test_every_unreachable_part_is_reported_at_once():
    policy = dict(reviewers=users("alice"), thresholds=(Threshold("a", 2), Threshold("b", 1, users("ivan"))),
                  denials=2)
    assert len(findings(**policy).errors) == 3


def test_with_rules_that_decide_an_unreachable_count_is_only_a_warning():
    approve = findings(reviewers=users("alice"), thresholds=(Threshold("leads", 3),), rules=(APPROVE_RULE,))
    assert approve.errors == ()
    assert approve.warnings == ('threshold "leads" needs 3 approvals but at most 1 reviewer can give one (alice); '
                                "only the policy's Approve rules can approve its requests",)
    deny = findings(reviewers=users("alice"), denials=2, rules=(DENY_RULE,))
    assert deny.errors == ()
    assert deny.warnings == ("denials 2 can never be reached: at most 1 reviewer can deny (alice); "
                             "only the policy's Deny rules can deny its requests",)
    # An Approve rule does not make unreachable denials work, nor a Deny rule thresholds.
    assert findings(reviewers=users("alice"), denials=2, rules=(APPROVE_RULE,)).errors
    assert findings(reviewers=users("alice"), thresholds=(Threshold("t", 2),), rules=(DENY_RULE,)).errors


def test_a_requester_among_the_few_reviewers_cannot_make_up_their_own_number():
    policy = dict(requesters=users("alice"), reviewers=users("alice", "ivan"), thresholds=(Threshold("two", 2),))
    assert findings(**policy).errors == (
        'threshold "two" can never be met for requests by alice: nobody reviews their own request',)
    # Others may still be approved: only a warning then.
    policy["requesters"] = Subjects.of(users=["alice"], groups=["developers"])
    result = findings(**policy)
    assert result.errors == ()
    assert result.warnings == (
        'threshold "two" can never be met for requests by alice: nobody reviews their own request',)
    assert findings(requesters=users("alice", "ivan"), reviewers=users("alice", "ivan"), denials=2).errors == (
        "denials 2 can never be reached for requests by alice, ivan: nobody reviews their own request",)


# The class of problem, walked exhaustively: over every combination of reviewers, from, approvals and
# requester drawn from a few users and groups, a threshold (and the denials) is refused exactly when the
# tally could never meet it, even if everybody approved and every group held everybody (and more people
# than are named).
NAMES = ("alice", "ivan", RULES_REVIEWER)
GROUPS = ("leads", "ops")
EXTRAS = tuple(f"member-{i}" for i in range(5))


def subjects_of_every_kind():
    for u, g in itertools.product(range(1 << len(NAMES)), range(1 << len(GROUPS))):
        names = [n for i, n in enumerate(NAMES) if u >> i & 1]
        groups = [n for i, n in enumerate(GROUPS) if g >> i & 1]
        if names or groups:
            yield Subjects.of(names, groups)


def best_case(policy, requester: Identity) -> tuple[bool, bool]:
    """(approvable, deniable) by people's reviews alone, if everybody in every group reviewed."""
    groups = frozenset(GROUPS)
    people = [Identity(name, groups) for name in NAMES + EXTRAS]

    def reviews(decision):
        return [Review(person, decision, "", T0) for person in people]

    return (tally(policy, requester, reviews("Approve")).outcome is Outcome.Approved,
            tally(policy, requester, reviews("Deny")).outcome is Outcome.Denied)


@pytest.mark.parametrize("approvals", [1, 2, 3])
@pytest.mark.parametrize("requester", [BOB.username, "alice", "ivan"])
def test_refused_exactly_when_no_reviews_could_ever_decide(approvals, requester):
    checked = 0
    for reviewers in subjects_of_every_kind():
        for from_ in (None, *subjects_of_every_kind()):
            policy = dba_policy(requesters=users(requester), reviewers=reviewers,
                                thresholds=(Threshold("t", approvals, from_),), denials=approvals)
            approvable, deniable = best_case(policy, Identity(requester, frozenset(GROUPS)))
            errors = check_policy(policy, EVERYTHING).errors
            assert any(e.startswith('threshold "t"') for e in errors) is (not approvable), (reviewers, from_)
            assert any(e.startswith("denials") for e in errors) is (not deniable), reviewers
            checked += 1
    assert checked == 31 * 32


# --- what the policy names does not exist (yet): warnings ----------------------------------------


def test_a_missing_cluster_role_is_a_warning():
    facts = ClusterFacts(namespaces=EVERYTHING.namespaces, cluster_roles=frozenset({"view"}), roles=EVERYTHING.roles)
    result = findings(facts)
    assert result.errors == ()
    assert result.warnings == (
        'ClusterRole "dba" does not exist: role "dba" cannot be granted until it is created',)


def test_a_missing_namespace_is_a_warning_naming_the_roles_offered_there():
    facts = ClusterFacts(namespaces=frozenset({"payments"}), cluster_roles=EVERYTHING.cluster_roles,
                         roles=EVERYTHING.roles)
    assert findings(facts).warnings == (
        'namespace "billing" does not exist: role "dba" cannot be granted there until it is created',)
    facts = ClusterFacts(namespaces=frozenset(), cluster_roles=EVERYTHING.cluster_roles, roles=EVERYTHING.roles)
    assert findings(facts).warnings == (
        'namespace "billing" does not exist: role "dba" cannot be granted there until it is created',
        'namespace "payments" does not exist: roles "dba", "deployer", "view" cannot be granted there until it '
        "is created",
    )  # a Role is not also warned about in a namespace that does not exist


def test_a_missing_role_is_a_warning_per_role_naming_its_namespaces():
    roles = (RequestableRole("deployer", "Role", "deployer", ("payments", "billing")),
             RequestableRole("reader", "Role", "reader", ("payments",)))
    facts = ClusterFacts(namespaces=EVERYTHING.namespaces, cluster_roles=frozenset(), roles={})
    assert findings(facts, roles=roles).warnings == (
        'Role "deployer" does not exist in namespaces "payments", "billing": role "deployer" cannot be granted '
        "there until it is created",
        'Role "reader" does not exist in namespace "payments": role "reader" cannot be granted there until it is '
        "created",
    )


def test_what_could_not_be_read_is_said_and_not_guessed():
    assert findings(ClusterFacts()).warnings == (
        "could not check which of the namespaces the policy names exist",
        "could not check which of the ClusterRoles the policy names exist",
        "could not check which of the Roles the policy names exist",
    )
    assert findings(ClusterFacts()).errors == ()


def test_the_reads_are_the_roles_the_policy_binds():
    assert needed_reads(dba_policy()) == (frozenset({"dba", "view"}), frozenset({"deployer"}))
    only_cluster = (RequestableRole("dba", "ClusterRole", "dba-admin", ("payments",)),)
    assert needed_reads(dba_policy(roles=only_cluster)) == (frozenset({"dba-admin"}), frozenset())


def test_missing_bounds_of_resource_requests_are_warnings():
    from gatepass.core.resources import Bound

    bounds = (Bound("pod-reader", ("payments", "audit")), Bound("dba", ("payments",)))
    assert needed_reads(dba_policy(resources=bounds))[0] == {"dba", "view", "pod-reader"}
    assert findings(resources=bounds).warnings == (
        'ClusterRole "pod-reader" does not exist: nothing can be requested within it until it is created',
        'namespace "audit" does not exist: no resource can be granted there until it is created')
    unread = ClusterFacts(namespaces=None, cluster_roles=None, roles=EVERYTHING.roles)
    said = findings(unread, resources=bounds).warnings
    assert "could not check which of the ClusterRoles the policy names exist" in said
    # A policy of resource bounds alone.
    only = check_policy(dba_policy(roles=(), resources=(Bound("view", cluster_wide=True),)), EVERYTHING)
    assert only == Findings()
