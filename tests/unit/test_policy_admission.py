"""The admission handlers' use of the policy checks and the duration messages (the reads are faked)."""

from __future__ import annotations

import asyncio

import kopf
import pytest

from gatepass.core.durations import parse_duration
from .admission_fakes import ClusterReads, validate_policy, validate_request

BOB = {"username": "bob", "uid": "b", "groups": ["developers", "system:authenticated"]}


def policy(**spec) -> dict:
    return {"metadata": {"name": "dba"}, "spec": {
        "requesters": {"groups": ["developers"]}, "reviewers": {"users": ["alice", "ivan"]},
        "roles": [{"name": "dba", "clusterRole": "dba", "namespaces": ["payments"]}], **spec}}


def admit(body: dict, reads: ClusterReads | None = None) -> list[str]:
    warnings: list[str] = []
    asyncio.run(validate_policy(reads, new=body, warnings=warnings))
    return warnings


def refusal(body: dict, reads: ClusterReads | None = None) -> str:
    with pytest.raises(kopf.AdmissionError) as refused:
        admit(body, reads)
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_a_workable_policy_is_admitted_without_warnings():
    reads = ClusterReads()
    assert admit(policy(), reads) == []
    assert reads.calls == ["namespaces", "clusterroles", "roles"]


def test_what_does_not_exist_yet_is_admitted_with_warnings():
    body = policy(roles=[{"name": "dba", "clusterRole": "dba-next", "namespaces": ["payments", "paymnts"]},
                         {"name": "deploy", "role": "deployer", "namespaces": ["payments"]}])
    assert admit(body) == [
        'namespace "paymnts" does not exist: role "dba" cannot be granted there until it is created',
        'ClusterRole "dba-next" does not exist: role "dba" cannot be granted until it is created',
        'Role "deployer" does not exist in namespace "payments": role "deploy" cannot be granted there until it '
        "is created",
    ]


def test_a_read_that_fails_never_refuses():
    reads = ClusterReads(namespaces=frozenset(), failing=frozenset({"namespaces"}))
    assert admit(policy(), reads) == ["could not check which of the namespaces the policy names exist"]


def test_an_unreachable_threshold_is_refused_in_one_line():
    body = policy(thresholds=[{"name": "three", "approvals": 3}], denials=3)
    assert refusal(body) == (
        'invalid AccessPolicy: threshold "three" needs 3 approvals but at most 2 reviewers can give one '
        "(alice, ivan); denials 3 can never be reached: at most 2 reviewers can deny (alice, ivan)")


def test_a_stored_unworkable_policy_may_still_have_its_metadata_changed():
    body = policy(thresholds=[{"name": "three", "approvals": 3}])
    labelled = {**body, "metadata": {**body["metadata"], "labels": {"team": "dba"}}}
    warnings: list[str] = []
    asyncio.run(validate_policy(new=labelled, old=body, warnings=warnings))
    assert warnings == ['threshold "three" needs 3 approvals but at most 2 reviewers can give one (alice, ivan)']
    edited = {**body, "spec": {**body["spec"], "denials": 1}}
    with pytest.raises(kopf.AdmissionError):  # but not its spec, unless that makes it workable
        asyncio.run(validate_policy(new=edited, old=body, warnings=[]))


@pytest.mark.parametrize("field", ["maxDuration", "requestTTL", "maxStartDelay"])
@pytest.mark.parametrize("value", ["1d", "0s", "-1h", "90", "1h30"])
def test_a_bad_policy_duration_gets_the_core_s_message(field, value):
    reads = ClusterReads()
    try:
        parse_duration(value)
        expected = f'invalid duration "{value}": must be longer than zero'
    except ValueError as error:
        expected = str(error)
    assert refusal(policy(**{field: value}), reads) == f"invalid AccessPolicy: spec.{field}: {expected}"
    assert reads.calls == []  # refused before anything is read


def test_a_bad_request_duration_gets_the_core_s_message():
    body = {"metadata": {"name": "r", "creationTimestamp": "2026-03-01T10:00:00Z"},
            "spec": {"roles": ["dba"], "namespaces": ["payments"], "duration": "1d", "reason": "x"}}
    with pytest.raises(kopf.AdmissionError) as refused:
        asyncio.run(validate_request(body=body, old=None, new=body, userinfo=BOB, operation="CREATE"))
    assert str(refused.value) == (
        'spec.duration: invalid duration "1d": unknown unit "d" (there is no day unit, write 24h)')
