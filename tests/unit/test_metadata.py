"""Who may change a request's or a review's metadata, and which Gatepass annotations exist."""

from __future__ import annotations

import pytest

from gatepass.core.grants import REQUEST_LABEL, REQUEST_UID_LABEL
from gatepass.core.ledger import APPROVE, DENY, REVOKE, REVOKED_BY, ledger_key
from gatepass.core.metadata import (KNOWN_KEYS, PROTECTED, annotation_refusal, changed_parts,
                                    request_metadata_refusal, review_metadata_refusal, unknown_annotation)

OWNER = {"apiVersion": "v1", "kind": "ConfigMap", "name": "nothing", "uid": "u-none"}
REQUEST_OWNER = {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest", "name": "r", "uid": "u-r"}

# One change per protected part, each made on a request with a label, an annotation and no owner.
BASE = {"labels": {"team": "payments"}, "annotations": {"note": "x"}}
CHANGES = {
    "labels": {**BASE, "labels": {"team": "payments", "ticket": "INC-1"}},
    "annotations": {**BASE, "annotations": {"note": "y"}},
    "ownerReferences": {**BASE, "ownerReferences": [OWNER]},
    "finalizers": {**BASE, "finalizers": ["example.com/keep"]},
}


@pytest.mark.parametrize("part", PROTECTED)
def test_each_protected_part_is_seen_changed(part):
    assert changed_parts(BASE, CHANGES[part]) == [part]


def test_ledger_entries_and_ignored_keys_are_not_changes():
    new = {**BASE, "annotations": {"note": "x", ledger_key("alice"): "{}", REVOKED_BY: "{}", APPROVE: "ok"}}
    assert changed_parts(BASE, new, ignore_annotations=[APPROVE]) == []
    assert changed_parts(BASE, new) == ["annotations"]


def test_odd_shapes_count_as_empty():
    assert changed_parts({"labels": None, "finalizers": "x"}, {}) == []
    assert changed_parts(None, None) == []


@pytest.mark.parametrize("part", PROTECTED)
def test_only_the_requester_or_an_administrator_changes_a_requests_metadata(part):
    refusal = request_metadata_refusal("bob-dba", BASE, CHANGES[part], caller="dave", may_change=False)
    assert refusal == (f"dave may not change the {part} of AccessRequest bob-dba: "
                       "only its requester or a Gatepass administrator may")
    assert request_metadata_refusal("bob-dba", BASE, CHANGES[part], caller="bob", may_change=True) is None


def test_a_refusal_names_every_part_changed():
    new = {"labels": {"a": "b"}, "annotations": {"c": "d"}, "finalizers": ["f"]}
    refusal = request_metadata_refusal("r", {}, new, caller="carol", may_change=False)
    assert "the labels, annotations and finalizers of AccessRequest r" in refusal


def test_a_reviewer_may_write_the_intents_on_a_request():
    for key in (APPROVE, DENY, REVOKE):
        new = {**BASE, "annotations": {"note": "x", key: "why"}}
        assert request_metadata_refusal("r", BASE, new, caller="alice", may_change=False) is None


def test_owners_may_be_removed_from_a_request_and_finalizers_during_its_deletion():
    owned = {**BASE, "ownerReferences": [OWNER]}
    assert request_metadata_refusal("r", owned, BASE, caller="gc", may_change=False) is None
    held = {**BASE, "finalizers": ["a", "b"]}
    going = {**held, "deletionTimestamp": "2026-01-01T00:00:00Z"}
    assert request_metadata_refusal("r", going, {**BASE, "finalizers": ["b"]}, caller="gc", may_change=False) is None
    # ...but not before the deletion, and never an addition
    assert request_metadata_refusal("r", held, {**BASE, "finalizers": ["b"]}, caller="gc", may_change=False)
    assert request_metadata_refusal("r", going, {**BASE, "finalizers": ["a", "b", "c"]}, caller="gc",
                                    may_change=False)


REVIEW = {"labels": {REQUEST_LABEL: "r", REQUEST_UID_LABEL: "u-r", "team": "x"},
          "ownerReferences": [REQUEST_OWNER]}


@pytest.mark.parametrize("key", [REQUEST_LABEL, REQUEST_UID_LABEL])
@pytest.mark.parametrize("value", [None, "other"])
def test_the_reviews_request_labels_never_change(key, value):
    labels = dict(REVIEW["labels"])
    if value is None:
        del labels[key]
    else:
        labels[key] = value
    refusal = review_metadata_refusal("rv", REVIEW, {**REVIEW, "labels": labels}, caller="admin", may_change=True)
    assert refusal == (f"the {key} label of AccessReview rv is set by admission and cannot be changed, "
                       "not even by an administrator")


@pytest.mark.parametrize("owners", [[], [OWNER], [REQUEST_OWNER, OWNER], [{**REQUEST_OWNER, "uid": "u-2"}]])
def test_the_reviews_owner_never_changes_while_its_request_lives(owners):
    refusal = review_metadata_refusal("rv", REVIEW, {**REVIEW, "ownerReferences": owners}, caller="admin",
                                      may_change=True)
    assert refusal and "ownerReferences of AccessReview rv" in refusal


def test_the_garbage_collector_may_drop_the_owner_once_the_request_is_gone():
    new = {**REVIEW, "ownerReferences": []}
    assert review_metadata_refusal("rv", REVIEW, new, caller="gc", may_change=False, gone_owners=["u-r"]) is None


@pytest.mark.parametrize("part", ["annotations", "finalizers"])
def test_other_review_metadata_is_the_reviewers_or_an_administrators(part):
    new = {**REVIEW, part: {"a": "b"} if part == "annotations" else ["f"]}
    assert review_metadata_refusal("rv", REVIEW, new, caller="dave", may_change=False) == (
        f"dave may not change the {part} of AccessReview rv: only its reviewer or a Gatepass administrator may")
    assert review_metadata_refusal("rv", REVIEW, new, caller="alice", may_change=True) is None


@pytest.mark.parametrize("key, hint", [
    ("gatepass.dev/aprove", APPROVE),
    ("gatepass.dev/Approve", APPROVE),
    ("gatepass.dev/DENY", DENY),
    ("gatepass.dev/revok", REVOKE),
    ("gatepas.dev/approve", APPROVE),
    ("gatepass.dev/approved", APPROVE),
])
def test_a_misspelt_gatepass_annotation_is_refused_with_the_nearest_key(key, hint):
    refusal = unknown_annotation(key)
    assert refusal.startswith(f"unknown Gatepass annotation {key} (known: ")
    assert refusal.endswith(f"did you mean {hint}?")


def test_an_unrelated_gatepass_key_gets_no_hint():
    assert unknown_annotation("gatepass.dev/color").endswith(")")


@pytest.mark.parametrize("key", [*KNOWN_KEYS, ledger_key("alice"), "example.com/approve", "approve",
                                 "kubectl.kubernetes.io/last-applied-configuration", "app.kubernetes.io/name"])
def test_known_and_foreign_keys_pass(key):
    assert unknown_annotation(key) is None


def test_keys_already_stored_are_not_judged_again():
    old = {"gatepass.dev/aprove": "x"}
    assert annotation_refusal(old, old) is None
    assert annotation_refusal(old, {"gatepass.dev/aprove": "y"})


@pytest.mark.parametrize("pair", [(APPROVE, DENY), (APPROVE, REVOKE), (DENY, REVOKE)])
def test_two_intents_in_one_write_are_refused(pair):
    refusal = annotation_refusal({}, {key: "why" for key in pair})
    assert refusal and "contradict each other" in refusal


def test_one_intent_passes():
    assert annotation_refusal({"note": "x"}, {"note": "x", APPROVE: "ok"}) is None
