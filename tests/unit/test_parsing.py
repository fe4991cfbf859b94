"""api.parsing: a pydantic ValidationError as one line naming the field and what it must be."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gatepass.api import AccessPolicy, AccessRequest, AccessReview, InvalidObject, parse_object
from gatepass.api.accesspolicy import CLUSTER_ROLE_NEEDS_SCOPE
from gatepass.api.common import DNS_LABEL_PATTERN, SUBJECTS_EMPTY
from gatepass.api.parsing import (EXPECTED, MAX_DEPTH, MAX_KEY_IN_PATH, MAX_MESSAGE_LENGTH, PATTERNS, describe,
                                  field_path, one_line, parse_stored)

#: Words that belong to Python or pydantic, never to a message for a user.
INTERNALS = ("Traceback", "object has no attribute", "pydantic", "validation error for", "Input should be",
             "Value error", "KeyError", "TypeError", "NoneType", "<class ", "__", "Field required")

REQUEST = {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest", "metadata": {"name": "bob-dba"},
           "spec": {"roles": ["dba"], "namespaces": ["payments"], "duration": "1h", "reason": "INC-1"}}
REVIEW = {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessReview", "metadata": {"name": "alice-ok"},
          "spec": {"request": "bob-dba", "decision": "Approve"}}
POLICY = {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy", "metadata": {"name": "p"},
          "spec": {"requesters": {"groups": ["developers"]}, "reviewers": {"users": ["alice"]},
                   "roles": [{"name": "dba", "clusterRole": "dba", "namespaces": ["payments"]}]}}


def refusal(model, body, strict: bool = False) -> str:
    with pytest.raises(InvalidObject) as raised:
        parse_object(model, body, strict=strict)
    return str(raised.value)


def with_spec(base: dict, **changes) -> dict:
    return {**base, "spec": {**base["spec"], **changes}}


# ----------------------------------------------------------------------------- the examples

def test_a_spec_that_is_a_string():
    assert refusal(AccessRequest, {**REQUEST, "spec": "a string"}) == \
        'AccessRequest "bob-dba" is invalid: spec must be an object (What is requested, for how long and why)'


def test_a_review_of_a_number():
    assert refusal(AccessReview, with_spec(REVIEW, request=12345)) == \
        'AccessReview "alice-ok" is invalid: spec.request must be a string (Name of the AccessRequest reviewed)'


# ----------------------------------------------------------------------------- one expectation per kind of error

@pytest.mark.parametrize(("model", "body", "expected"), [
    (AccessRequest, {"metadata": {"name": "r"}}, "spec is required (What is requested, for how long and why)"),
    (AccessRequest, with_spec(REQUEST, roles="dba"), "spec.roles must be a list (Names of the roles requested, "
                                                     "as an AccessPolicy lists them in spec.roles[].name)"),
    (AccessRequest, with_spec(REQUEST, roles=[]), "spec: request at least one role (roles) or one resource rule"),
    (AccessRequest, with_spec(REQUEST, roles=["x"] * 65), "spec.roles must have at most 64 items"),
    (AccessRequest, with_spec(REQUEST, roles=[""]), "spec.roles[0] must not be empty"),
    (AccessRequest, with_spec(REQUEST, reason="x" * 4097), "spec.reason must have at most 4096 characters"),
    (AccessRequest, with_spec(REQUEST, namespaces=["Pay Ments"]), f"spec.namespaces[0] must be {PATTERNS[DNS_LABEL_PATTERN]}"),
    (AccessRequest, with_spec(REQUEST, startTime="tomorrow"), "spec.startTime must be a time in RFC 3339 form"),
    (AccessRequest, with_spec(REQUEST, startTime="2026-01-01T09:00:00"), "spec.startTime must be a time with a time zone"),
    (AccessRequest, with_spec(REQUEST, requester={"username": "bob", "groups": "developers"}),
     "spec.requester.groups must be a list (The groups the user belonged to when the object was created)"),
    (AccessReview, with_spec(REVIEW, decision="Maybe"), "spec.decision must be 'Approve' or 'Deny'"),
    (AccessPolicy, with_spec(POLICY, denials=0), "spec.denials must be at least 1"),
    (AccessPolicy, with_spec(POLICY, requireReason="sometimes"), "spec.requireReason must be true or false"),
    (AccessPolicy, with_spec(POLICY, thresholds=[{"name": "t", "approvals": 1, "from": "leads"}]),
     "spec.thresholds[0].from must be an object (Only approvals from these users and groups count toward this "
     "threshold; they must also be reviewers)"),
    (AccessPolicy, with_spec(POLICY, requestTTL=60), "spec.requestTTL must be a string (How long a request may wait"),
    (AccessPolicy, with_spec(POLICY, requesters={}), f"spec.requesters: {SUBJECTS_EMPTY}"),
    (AccessPolicy, with_spec(POLICY, roles=[{"name": "x", "clusterRole": "b"}]), f"spec.roles[0]: {CLUSTER_ROLE_NEEDS_SCOPE}"),
    (AccessPolicy, with_spec(POLICY, slackUsers=[{"slackUser": "u1", "username": "a"}]),
     "spec.slackUsers[0].slackUser must be a Slack user ID such as U024BE7LH"),
    (AccessPolicy, {**POLICY, "metadata": "p"}, "metadata must be an object (Standard object metadata)"),
])
def test_each_problem_is_named_with_what_is_expected(model, body, expected):
    message = refusal(model, body)
    assert message.startswith(f"{model.resource.kind} ") and " is invalid: " in message
    assert expected in message
    assert "\n" not in message and not [word for word in INTERNALS if word in message]


def test_a_validator_s_own_message_follows_the_field():
    """Durations and the policy's role rules say what is wrong themselves; the field comes first."""
    with pytest.raises(ValueError) as own:
        AccessRequest.model_validate(with_spec(REQUEST, duration="1d"))
    said = own.value.errors(include_url=False)[0]["ctx"]["error"]
    assert refusal(AccessRequest, with_spec(REQUEST, duration="1d")) == \
        f'AccessRequest "bob-dba" is invalid: spec.duration: {said}'


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_every_wrong_type_reads_as_an_expectation(kind):
    line = describe({"type": kind, "loc": ("spec", "reason"), "msg": "Input should be something"}, AccessRequest)
    assert line == f"spec.reason must be {EXPECTED[kind]} (Why the access is needed)"


def test_unknown_error_types_keep_the_message_without_pydantic_words():
    line = describe({"type": "url_parsing", "loc": ("spec", "x"), "msg": "Input should be a valid URL"})
    assert line == "spec.x: must be a valid URL"


def test_an_unknown_pattern_is_shown_as_a_pattern():
    line = describe({"type": "string_pattern_mismatch", "loc": ("a",), "ctx": {"pattern": "^z+$"}})
    assert line == "a must match the pattern ^z+$"


def test_more_problems_are_counted_not_listed():
    body = with_spec(REQUEST, roles="dba", duration=5, reason=[])
    message = refusal(AccessRequest, body)
    assert message.endswith("(and 2 more problems)") and message.count(" must be ") == 1
    assert refusal(AccessRequest, with_spec(REQUEST, roles="dba", duration=5)).endswith("(and 1 more problem)")


def test_one_line_of_a_validation_error_is_the_first_problem():
    with pytest.raises(ValidationError) as raised:
        AccessReview.model_validate(with_spec(REVIEW, request=1, decision=2))
    assert one_line(raised.value, AccessReview) == \
        "spec.request must be a string (Name of the AccessRequest reviewed) (and 1 more problem)"
    assert one_line(raised.value) == "spec.request must be a string (and 1 more problem)"  # no model, no hint


# ----------------------------------------------------------------------------- paths

@pytest.mark.parametrize(("loc", "path"), [
    ((), "the object"),
    (("spec",), "spec"),
    (("spec", "roles", 0, "name"), "spec.roles[0].name"),
    (("metadata", "labels", "gatepass.dev/request"), 'metadata.labels["gatepass.dev/request"]'),
    (("metadata", "annotations", "a\nb\u202e"), 'metadata.annotations["a\\nb\\u202e"]'),
])
def test_field_paths_are_dotted_and_odd_keys_quoted(loc, path):
    assert field_path(loc) == path


def test_a_long_key_is_cut():
    path = field_path(("metadata", "labels", "k" * 1000))
    quoted = path.removeprefix("metadata.labels[").removesuffix("]")
    assert quoted.startswith('"kkk') and quoted.endswith('…"') and len(quoted) == MAX_KEY_IN_PATH


# ----------------------------------------------------------------------------- hostile input

def test_hostile_values_and_names_stay_on_one_short_line():
    body = {**REQUEST, "metadata": {"name": "bad\nname" * 100, "labels": {"k\n" * 50: 5}},
            "spec": {**REQUEST["spec"], "duration": "1\n" * 10}}
    message = refusal(AccessRequest, body)
    assert message.startswith("AccessRequest is invalid: metadata.labels[")  # an odd name is not repeated
    assert "\n" not in message and len(message) <= MAX_MESSAGE_LENGTH


def test_a_wrong_kind_is_quoted_and_cut():
    message = refusal(AccessRequest, {**REQUEST, "kind": "Pod\n" * 1000})
    assert message.startswith('AccessRequest "bob-dba" is invalid: kind is "Pod\\nPod') and "\n" not in message
    assert len(message) < 200


def test_an_object_that_is_not_one():
    assert refusal(AccessRequest, ["x"]) == "AccessRequest is invalid: the object must be an object, not a list"


def test_deep_nesting_is_read_only_as_deep_as_a_schema_goes():
    deep: object = "x"
    for _ in range(20 * MAX_DEPTH * 10):  # far deeper than Python's recursion limit
        deep = [deep]
    message = refusal(AccessRequest, with_spec(REQUEST, roles=deep), strict=True)
    assert "spec.roles[0] must be a string" in message


# ----------------------------------------------------------------------------- strict, as admission parses

def test_strict_parsing_takes_json_types_exactly():
    assert parse_object(AccessPolicy, with_spec(POLICY, denials="2")).spec.denials == 2  # lax: coerced
    assert "spec.denials must be an integer" in refusal(AccessPolicy, with_spec(POLICY, denials="2"), strict=True)
    assert "spec.requireReason must be true or false" in refusal(
        AccessPolicy, with_spec(POLICY, requireReason="yes"), strict=True)
    assert "spec.startTime must be a time" in refusal(AccessRequest, with_spec(REQUEST, startTime=5), strict=True)


def test_strict_parsing_accepts_what_the_api_server_stores():
    stored = {**REQUEST, "metadata": {"name": "bob-dba", "creationTimestamp": "2026-12-01T10:14:10Z",
                                      "labels": {"a": "b"}, "generation": 1},
              "spec": {**REQUEST["spec"], "startTime": "2026-12-01T11:00:00+01:00",
                       "requester": {"username": "bob", "groups": ["developers"]}}}
    parsed = parse_object(AccessRequest, stored, strict=True)
    assert parsed.spec.requester.username == "bob" and parsed.metadata.creation_timestamp.year == 2026
    assert parse_object(AccessPolicy, POLICY, strict=True).spec.roles[0].cluster_role == "dba"
    assert parse_object(AccessReview, REVIEW, strict=True).spec.decision == "Approve"


# ----------------------------------------------------------------------------- any JSON at all

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from(["roles", "namespaces", "duration", "reason", "reviewers", "startTime", "requester",
                          "onBehalfOf", "submitter", "request", "decision", "requesters", "thresholds", "rules",
                          "resources"])


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(model=st.sampled_from([AccessRequest, AccessReview, AccessPolicy]), spec=st.dictionaries(FIELDS, JSON),
       strict=st.booleans())
def test_any_json_is_parsed_or_refused_in_one_line(model, spec, strict):
    base = {"AccessRequest": REQUEST, "AccessReview": REVIEW, "AccessPolicy": POLICY}[model.resource.kind]
    try:
        parse_object(model, json.loads(json.dumps(with_spec(base, **spec))), strict=strict)
    except InvalidObject as error:
        message = str(error)
        assert "\n" not in message and len(message) <= MAX_MESSAGE_LENGTH
        assert not [word for word in INTERNALS if word in message], message
        assert error.problems and message.startswith(f'{model.resource.kind} "{base["metadata"]["name"]}" is invalid: ')


RULE_KEYS = st.sampled_from(["apiGroup", "resource", "subresource", "namespace", "names", "verbs", "clusterRole",
                             "clusterWide", "namespaces"])


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(model=st.sampled_from([AccessRequest, AccessPolicy]),
       rules=st.lists(st.dictionaries(RULE_KEYS, JSON | st.lists(st.text(max_size=8), max_size=3)), max_size=3),
       strict=st.booleans())
def test_any_resource_rule_is_parsed_or_refused_in_one_line(model, rules, strict):
    base = REQUEST if model is AccessRequest else POLICY
    try:
        parse_object(model, json.loads(json.dumps(with_spec(base, resources=rules))), strict=strict)
    except InvalidObject as error:
        message = str(error)
        assert "\n" not in message and len(message) <= MAX_MESSAGE_LENGTH
        assert not [word for word in INTERNALS if word in message], message


def test_a_stored_object_reads_as_parse_object_reads_it_without_the_copy():
    """parse_stored (what gatepass.api.values reads with) takes read-only views as they are, and says what
    is wrong in the same words."""
    view = MappingProxyType({**POLICY, "spec": MappingProxyType(POLICY["spec"])})
    assert parse_stored(AccessPolicy, view) == parse_object(AccessPolicy, POLICY)
    bad = with_spec(REQUEST, duration="1d")
    with pytest.raises(InvalidObject) as raised:
        parse_stored(AccessRequest, bad)
    assert str(raised.value) == refusal(AccessRequest, bad)
    with pytest.raises(InvalidObject) as raised:
        parse_stored(AccessRequest, {**REQUEST, "kind": "AccessReview"})
    assert str(raised.value) == refusal(AccessRequest, {**REQUEST, "kind": "AccessReview"})
