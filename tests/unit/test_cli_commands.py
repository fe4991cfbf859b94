"""The request and review verbs against a stand-in for the API: what is sent, printed and returned."""

from __future__ import annotations

import pytest

from gatepass.cli import commands
from gatepass.cli.commands import (
    Context,
    by_creation,
    checked_duration,
    generate_name,
    governing_policy,
    name_part,
    readable_policies,
    request_body,
    review_body,
    reviewable,
)
from gatepass.cli.errors import NOT_GRANTED, CliError
from gatepass.api import values
from gatepass.core.types import Identity

from .cli_fakes import DEMO_POLICY, FakeKube, Streams, args, request_obj, review

ALICE = Identity("alice", frozenset({"dba-leads"}))
POLICIES = [values.policy(DEMO_POLICY)]


# -- what is sent -----------------------------------------------------------------------------------

def test_a_request_never_names_its_requester():
    body = request_body(roles=["dba"], namespaces=["payments"], reason="ticket #123", duration="90m",
                        reviewers=["alice", "ivan"], requester="bob")
    assert body == {
        "apiVersion": "gatepass.dev/v1alpha1",
        "kind": "AccessRequest",
        "metadata": {"generateName": "bob-dba-"},
        "spec": {"roles": ["dba"], "namespaces": ["payments"], "duration": "1h30m", "reason": "ticket #123",
                 "reviewers": ["alice", "ivan"]},
    }


def test_a_minimal_request_leaves_the_defaults_to_the_api():
    body = request_body(roles=["dba", "dba"], name="mine")
    assert body["metadata"] == {"name": "mine"}
    assert body["spec"] == {"roles": ["dba"]}


def test_a_start_time_is_sent_in_utc():
    body = request_body(roles=["dba"], start="2026-11-24T12:00:00+02:00")
    assert body["spec"]["startTime"] == "2026-11-24T10:00:00Z"


@pytest.mark.parametrize("kwargs, message", [
    ({"roles": []}, "name at least one role with --roles"),
    ({"roles": ["dba"], "duration": "1d"}, 'invalid duration "1d": unknown unit "d" (there is no day unit, write 24h)'),
    ({"roles": ["dba"], "duration": "soon"}, 'invalid duration "soon": expected a number at "soon"'),
    ({"roles": ["dba"], "duration": "0s"}, 'invalid duration "0s": must be longer than zero'),
    ({"roles": ["dba"], "duration": "-1h"}, 'invalid duration "-1h": must be longer than zero'),
    ({"roles": ["dba"], "start": "tomorrow"}, 'invalid start time "tomorrow": use RFC 3339, e.g. 2026-01-02T15:04:05Z'),
    ({"roles": ["dba"], "start": "2026-11-24T12:00:00"}, 'invalid start time "2026-11-24T12:00:00"'),
])
def test_bad_flags_are_one_line(kwargs, message):
    with pytest.raises(CliError) as caught:
        request_body(**kwargs)
    assert caught.value.message.startswith(message)


def test_durations_are_sent_in_their_short_form():
    assert checked_duration("90m") == "1h30m"
    assert checked_duration("1.5h") == "1h30m"
    assert checked_duration("8h") == "8h"


def test_a_review_never_names_its_reviewer():
    assert review_body("bob-dba", "Deny", "not now", "alice") == {
        "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessReview",
        "metadata": {"generateName": "alice-bob-dba-"},
        "spec": {"request": "bob-dba", "decision": "Deny", "reason": "not now"}}
    assert "reason" not in review_body("bob-dba", "Approve", "", "alice")["spec"]


@pytest.mark.parametrize("text, part", [
    ("bob", "bob"), ("Alice@Example.com", "alice-example-com"), ("system:serviceaccount:ns:ci", "system-serviceaccount-ns-ci"),
    ("--x--", "x"), ("@@@", ""),
])
def test_name_parts(text, part):
    assert name_part(text) == part


def test_generated_names_fit_and_never_start_empty():
    assert generate_name("bob", "dba") == "bob-dba-"
    assert generate_name("", "@") == "request-"
    assert len(generate_name("a" * 300, "dba")) <= 201


# -- what is listed ---------------------------------------------------------------------------------

def test_reviewable_is_pending_not_own_a_reviewer_and_not_yet_reviewed():
    assert reviewable(request_obj(), ALICE, POLICIES)
    assert not reviewable(request_obj(state="Approved"), ALICE, POLICIES)
    assert not reviewable(request_obj(requester="alice"), ALICE, POLICIES)
    assert not reviewable(request_obj(reviews=[review("alice")]), ALICE, POLICIES)
    assert reviewable(request_obj(reviews=[review("ivan")]), ALICE, POLICIES)
    assert not reviewable(request_obj(), Identity("carol", frozenset({"contractors"})), POLICIES)
    # Its recorded policy gone, a pending request is decided under the first that allows it, as the operator does.
    assert reviewable(request_obj(policy="gone"), ALICE, POLICIES)
    assert not reviewable(request_obj(policy="gone"), ALICE, [])


@pytest.mark.parametrize("decided", ["Approved", "Denied"])
def test_a_decided_request_is_not_reviewable_whatever_its_state_says(decided):
    obj = request_obj()
    obj["status"]["conditions"] = [{"type": decided, "status": "True", "reason": decided, "message": "",
                                    "lastTransitionTime": "2026-11-24T09:31:00Z"}]
    assert not reviewable(obj, ALICE, POLICIES)
    assert not reviewable(request_obj(state=decided), ALICE, POLICIES)
    obj["status"]["conditions"][0]["status"] = "False"  # not decided yet
    assert reviewable(obj, ALICE, POLICIES)


def test_before_the_operator_names_the_policy_the_one_that_would_govern_counts():
    fresh = request_obj(state=None, policy=None)
    assert governing_policy(fresh, POLICIES) is POLICIES[0]
    assert reviewable(fresh, ALICE, POLICIES)
    nobody = request_obj(state=None, policy=None, namespaces=("elsewhere",))
    assert governing_policy(nobody, POLICIES) is None


def test_invalid_policies_are_skipped():
    broken = {"metadata": {"name": "broken"}, "spec": {"roles": [{"name": "x"}], "maxDuration": "forever"}}
    assert [p.name for p in readable_policies([broken, DEMO_POLICY])] == ["demo-dba"]


def test_requests_are_listed_oldest_first():
    old, new = request_obj("b"), request_obj("a")
    old["metadata"]["creationTimestamp"] = "2026-11-24T08:00:00Z"
    assert [o["metadata"]["name"] for o in by_creation([new, old])] == ["b", "a"]


# -- the verbs -----------------------------------------------------------------------------------

def run(verb, kube, **values):
    streams = Streams()
    code = verb(Context(kube, args(**values), streams.out, streams.err))
    return code, streams.out.getvalue(), streams.err.getvalue()


def create_args(**values):
    base = dict(roles=["dba"], namespaces=["payments"], reason="ticket #123", duration=None,
                reviewers=["alice", "ivan"], start=None, name=None, nowait=True)
    base.update(values)
    return base


def test_create_nowait_prints_the_name_and_how_to_check():
    kube = FakeKube()
    code, out, err = run(commands.create, kube, context="bob", **create_args())
    assert code == 0
    assert out == "bob-dba-abcde\n"
    assert "requester" not in kube.created[0]["spec"]
    assert "Created AccessRequest bob-dba-abcde: dba in payments for 1h." in err
    assert "kubectl access request show bob-dba-abcde --context=bob" in err


def test_create_waits_until_approved():
    approved = request_obj("bob-dba-abcde", "Approved", granted=True, expiresAt="2026-11-24T10:31:00Z",
                           version="2")
    kube = FakeKube(watches=[[("MODIFIED", approved)]])
    code, out, err = run(commands.create, kube, **create_args(nowait=False))
    assert code == 0 and out == "bob-dba-abcde\n"
    assert err.splitlines()[-1] == ("AccessRequest bob-dba-abcde is Approved: "
                                    "access granted until 2026-11-24 10:31:00 UTC")


def test_create_says_how_to_log_in_to_a_grant_with_its_own_credential():
    approved = request_obj("bob-dba-abcde", "Approved", granted=True, expiresAt="2026-11-24T10:31:00Z",
                           version="2", credential={"mode": "certificate", "group": "gatepass:grant:u"})
    kube = FakeKube(watches=[[("MODIFIED", approved)]])
    code, out, err = run(commands.create, kube, context="bob", **create_args(nowait=False))
    assert code == 0 and out == "bob-dba-abcde\n"
    assert err.splitlines()[-1] == ("The grant has a credential of its own: log in with "
                                    "kubectl access login bob-dba-abcde --context=bob")


def test_create_fails_with_the_reviewers_reason_when_denied():
    denied = request_obj("bob-dba-abcde", "Denied", reviews=[review("ivan", "Deny", "not today")], version="2")
    kube = FakeKube(watches=[[("MODIFIED", denied)]])
    with pytest.raises(CliError) as caught:
        run(commands.create, kube, **create_args(nowait=False))
    assert caught.value.code == NOT_GRANTED
    assert caught.value.message == "AccessRequest bob-dba-abcde was denied by ivan: not today"


def test_ctrl_c_while_waiting_leaves_the_request_and_says_how_to_check_it():
    class Interrupting(FakeKube):
        def watch_request(self, name, resource_version):
            raise KeyboardInterrupt
            yield  # a generator, like the real one

    kube = Interrupting()
    streams = Streams()
    with pytest.raises(CliError) as caught:
        commands.create(Context(kube, args(**create_args(nowait=False), kubeconfig="/k"), streams.out, streams.err))
    assert caught.value.code == 130
    assert ("Stopped waiting; AccessRequest bob-dba-abcde is left as it is. "
            "Check it with: kubectl access request show bob-dba-abcde --kubeconfig=/k") in streams.err.getvalue()
    assert "bob-dba-abcde" in kube.requests  # nothing was deleted


def test_ls_mine_and_reviewable():
    kube = FakeKube(requests=[request_obj("a"), request_obj("b", requester="carol"),
                              request_obj("c", reviews=[review("alice")])])
    _, out, _ = run(commands.ls, kube, mine=True, reviewable=False, output="table")
    assert [line.split()[0] for line in out.splitlines()] == ["ID", "a", "c"]
    kube.me = ALICE
    _, out, _ = run(commands.ls, kube, mine=False, reviewable=True, output="table")
    assert [line.split()[0] for line in out.splitlines()] == ["ID", "a", "b"]


def test_ls_with_nothing_to_show_says_so_on_stderr():
    code, out, err = run(commands.ls, FakeKube(), mine=False, reviewable=False, output="table")
    assert (code, out, err) == (0, "", "No access requests found.\n")
    _, out, _ = run(commands.ls, FakeKube(), mine=False, reviewable=False, output="json")
    assert '"items": []' in out


def test_ls_and_show_print_names_and_wide_tables():
    kube = FakeKube(requests=[request_obj("b"), request_obj("a", reviews=[review("alice")])])
    _, out, _ = run(commands.ls, kube, mine=False, reviewable=False, output="name")
    assert out == "accessrequest.gatepass.dev/a\naccessrequest.gatepass.dev/b\n"
    _, out, _ = run(commands.ls, kube, mine=False, reviewable=False, output="wide")
    assert out.splitlines()[0].split()[-4:] == ["POLICY", "APPROVALS", "DENIALS", "REASON"]
    assert run(commands.ls, FakeKube(), mine=False, reviewable=False, output="name")[1:] == \
        ("", "No access requests found.\n")
    _, out, _ = run(commands.show, kube, name="a", output="name")
    assert out == "accessrequest.gatepass.dev/a\n"
    _, wide, _ = run(commands.show, kube, name="a", output="wide")
    _, table, _ = run(commands.show, kube, name="a", output="table")
    assert wide == table and wide.startswith("Name:")


def test_show_an_unknown_request():
    with pytest.raises(CliError, match='AccessRequest "nope" not found'):
        run(commands.show, FakeKube(), name="nope", output="table")


def test_drop_sets_the_revoke_annotation():
    kube = FakeKube(requests=[request_obj("a"), request_obj("b", "Approved")])
    code, out, _ = run(commands.drop, kube, name="a", reason="")
    assert code == 0 and out == "Dropped AccessRequest a: cancelled.\n"
    _, out, _ = run(commands.drop, kube, name="b", reason="done early")
    assert out == "Dropped AccessRequest b: its access is being removed.\n"
    assert kube.annotated == [("a", {"gatepass.dev/revoke": "dropped with kubectl access"}),
                              ("b", {"gatepass.dev/revoke": "done early"})]


@pytest.mark.parametrize("state", ["Denied", "Expired", "Revoked"])
def test_drop_a_finished_request(state):
    kube = FakeKube(requests=[request_obj("a", state)])
    with pytest.raises(CliError, match=f"AccessRequest a is already {state}"):
        run(commands.drop, kube, name="a", reason="")
    assert kube.annotated == []


def test_review_creates_an_access_review_and_reports_who_the_api_server_says_reviewed():
    kube = FakeKube(me=ALICE, requests=[request_obj()])
    code, out, _ = run(commands.review, kube, name="bob-dba-x7k2q", decision="Approve", reason="ok")
    assert code == 0
    assert out == ("Approved AccessRequest bob-dba-x7k2q as alice "
                   "(AccessReview alice-bob-dba-x7k2q-abcde).\n")
    assert kube.reviews[0]["spec"] == {"request": "bob-dba-x7k2q", "decision": "Approve", "reason": "ok"}


def test_review_of_an_unknown_request():
    kube = FakeKube(me=ALICE)
    with pytest.raises(CliError, match='AccessRequest "nope" not found'):
        run(commands.review, kube, name="nope", decision="Deny", reason="")
    assert kube.reviews == []
