"""The core's values: membership, defaults, and the few things they refuse."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from gatepass.core.types import DEFAULT_THRESHOLD, RequestableRole, Review, Rule, Subjects, Threshold

from .core_factories import T0, dba_policy, dba_request, person


def test_subjects_contain_by_user_or_any_group():
    subjects = Subjects.of(users=["alice"], groups=["dba-leads", "sre"])
    assert subjects.contains(person("alice"))
    assert subjects.contains(person("lena", "sre"))
    assert not subjects.contains(person("carol", "developers"))
    assert not Subjects().contains(person("alice", "sre"))


def test_a_group_named_like_a_user_is_not_the_user():
    assert not Subjects.of(users=["alice"]).contains(person("mallory", "alice"))
    assert not Subjects.of(groups=["alice"]).contains(person("alice"))


def test_threshold_without_from_counts_everyone():
    assert Threshold("any", 1).counts(person("x"))
    only_leads = Threshold("leads", 1, Subjects.of(groups=["leads"]))
    assert only_leads.counts(person("x", "leads")) and not only_leads.counts(person("y"))


def test_a_policy_without_thresholds_needs_one_approval():
    assert dba_policy().effective_thresholds == (DEFAULT_THRESHOLD,)
    assert DEFAULT_THRESHOLD.approvals == 1 and DEFAULT_THRESHOLD.from_ is None
    leads = Threshold("leads", 2)
    assert dba_policy(thresholds=(leads,)).effective_thresholds == (leads,)


def test_policy_role_lookup():
    assert dba_policy().role("dba").role_name == "dba"
    assert dba_policy().role("nope") is None


def test_policy_defaults_follow_the_spec():
    policy = dba_policy()
    defaults = {f.name: f.default for f in dataclasses.fields(policy) if f.default is not dataclasses.MISSING}
    assert defaults == {"thresholds": (), "denials": 1, "max_duration": timedelta(hours=1),
                        "request_ttl": timedelta(hours=1), "max_start_delay": timedelta(hours=168),
                        "require_reason": True,
                        "trusted_submitters": Subjects(), "rules": (), "resources": ()}


def test_only_cluster_roles_marked_cluster_wide_bind_cluster_wide():
    assert RequestableRole("v", "ClusterRole", "view", cluster_wide=True).bindable_cluster_wide
    assert not RequestableRole("v", "ClusterRole", "view").bindable_cluster_wide
    assert not RequestableRole("d", "Role", "deployer", ("a",), cluster_wide=True).bindable_cluster_wide


def test_a_role_kind_must_be_cluster_role_or_role():
    with pytest.raises(ValueError, match="ClusterRole or Role"):
        RequestableRole("x", "Group", "x")  # type: ignore[arg-type]


def test_a_decision_must_be_approve_or_deny():
    with pytest.raises(ValueError, match="Approve or Deny"):
        Review(person("alice"), "Maybe", "", T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rule 'short': decision must be Approve or Deny"):
        Rule("short", "Maybe", "true")  # type: ignore[arg-type]


def test_request_defaults_and_cluster_wide():
    request = dba_request()
    assert (request.generation, request.start_time, request.suggested_reviewers, request.labels) == (1, None, (), ())
    assert not request.cluster_wide
    assert dba_request(namespaces=()).cluster_wide


def test_values_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        dba_request().name = "other"  # type: ignore[misc]
