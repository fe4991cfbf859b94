"""The request lifecycle table, walked pair by pair."""

from __future__ import annotations

import itertools
import re

import pytest

from gatepass.core.lifecycle import (INITIAL, TERMINAL, TRANSITIONS, Event, IllegalTransition, State,
                                     allowed_events, mermaid, transition)

S, E = State, Event

# Written out independently of the module, so a change to the table must be
# made in two places on purpose.
EXPECTED = {
    (S.Pending, E.Review): S.Pending,
    (S.Pending, E.Approve): S.Approved,
    (S.Pending, E.Deny): S.Denied,
    (S.Pending, E.TimeOut): S.Expired,
    (S.Pending, E.Revoke): S.Revoked,
    (S.Approved, E.Start): S.Approved,
    (S.Approved, E.End): S.Expired,
    (S.Approved, E.Revoke): S.Revoked,
}

ALL_PAIRS = list(itertools.product(State, Event))


def test_the_table_is_exactly_the_expected_one():
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=[f"{s.value}-{e.value}" for s, e in ALL_PAIRS])
def test_every_state_event_pair(state, event):
    if (state, event) in EXPECTED:
        assert transition(state, event) is EXPECTED[(state, event)]
    else:
        with pytest.raises(IllegalTransition) as raised:
            transition(state, event)
        assert raised.value.state is state
        assert raised.value.event is event
        message = str(raised.value)
        assert f"event {event.value}" in message and f"state {state.value}" in message
        assert "\n" not in message


def test_illegal_transition_is_a_value_error_listing_what_is_allowed():
    with pytest.raises(ValueError, match=r"allowed: Review, Approve, Deny, TimeOut, Revoke"):
        transition(S.Pending, E.End)
    with pytest.raises(ValueError, match=r"allowed: none, it is final"):
        transition(S.Expired, E.Revoke)


def test_state_values_are_the_status_strings():
    assert [s.value for s in State] == ["Pending", "Approved", "Denied", "Expired", "Revoked"]
    assert State("Approved") is S.Approved
    assert f"{S.Denied}" == "Denied"


def test_terminal_states_are_the_ones_without_a_way_out():
    assert TERMINAL == {S.Denied, S.Expired, S.Revoked}
    for state in State:
        assert (allowed_events(state) == ()) == (state in TERMINAL)


def test_allowed_events_follow_the_table_in_event_order():
    assert allowed_events(S.Pending) == (E.Review, E.Approve, E.Deny, E.TimeOut, E.Revoke)
    assert allowed_events(S.Approved) == (E.Start, E.End, E.Revoke)


def test_every_state_is_reachable_from_the_initial_one():
    assert INITIAL is S.Pending
    reached, frontier = {INITIAL}, [INITIAL]
    while frontier:
        state = frontier.pop()
        for event in allowed_events(state):
            target = transition(state, event)
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(State)


def test_every_event_is_used_and_terminal_states_are_targets_only():
    assert {event for _, event in TRANSITIONS} == set(Event)
    assert all(source not in TERMINAL for source, _ in TRANSITIONS)


def test_approval_is_never_undone():
    assert all(target is not S.Pending for (source, _), target in TRANSITIONS.items() if source is not S.Pending)


def test_mermaid_draws_exactly_the_table():
    text = mermaid()
    lines = text.splitlines()
    assert text.endswith("\n")
    assert lines[0] == "stateDiagram-v2"
    assert lines[1].strip() == "[*] --> Pending"
    drawn = {}
    ends = set()
    for line in lines[2:]:
        edge = re.fullmatch(r"    (\w+) --> (\w+): (\w+)", line)
        end = re.fullmatch(r"    (\w+) --> \[\*\]", line)
        assert edge or end, line
        if edge:
            drawn[(State(edge[1]), Event(edge[3]))] = State(edge[2])
        else:
            ends.add(State(end[1]))
    assert drawn == TRANSITIONS
    assert ends == TERMINAL
    assert len(lines) == 2 + len(TRANSITIONS) + len(TERMINAL)


def test_state_of_reads_only_states():
    from gatepass.core.lifecycle import State, is_final, state_of

    assert state_of({"state": "Approved"}) is State.Approved
    assert state_of({}) is None and state_of(None) is None and state_of({"state": "Granted"}) is None
    assert is_final({"state": "Expired"}) and not is_final({"state": "Pending"}) and not is_final({})
