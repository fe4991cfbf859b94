"""The life of an AccessRequest, as one table.

Every legal move is an entry in TRANSITIONS; anything else is illegal and
`transition` says so, naming the state and the event. The Mermaid diagram in
the documentation is drawn from the same table by `mermaid()`, so the picture
cannot drift from the code.

The state says where the request stands; whether the RoleBindings exist right
now is the `Granted` condition (an Approved request may wait for its
startTime, and `Start` marks the moment the bindings go in).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class State(enum.StrEnum):
    Pending = "Pending"  # waiting for reviews
    Approved = "Approved"  # approved; bound from grantedAt until expiresAt
    Denied = "Denied"  # enough denials, or no policy allows it
    Expired = "Expired"  # not decided in time, or the access ran out
    Revoked = "Revoked"  # withdrawn (by someone, or by its policy), before or during the access


class Event(enum.StrEnum):
    Review = "Review"  # a review was counted, no decision yet
    Approve = "Approve"  # every threshold is met
    Deny = "Deny"  # enough denials, or no policy allows the request any more
    TimeOut = "TimeOut"  # still pending at requestExpiresAt
    Start = "Start"  # grantedAt reached: the bindings go in
    End = "End"  # expiresAt reached: the bindings go away
    Revoke = "Revoke"  # someone revoked the request or the access, or its policy withdrew the grant


TRANSITIONS: dict[tuple[State, Event], State] = {
    (State.Pending, Event.Review): State.Pending,
    (State.Pending, Event.Approve): State.Approved,
    (State.Pending, Event.Deny): State.Denied,
    (State.Pending, Event.TimeOut): State.Expired,
    (State.Pending, Event.Revoke): State.Revoked,
    (State.Approved, Event.Start): State.Approved,
    (State.Approved, Event.End): State.Expired,
    (State.Approved, Event.Revoke): State.Revoked,
}

INITIAL = State.Pending

# States with no way out. Derived from the table so the two cannot disagree.
TERMINAL: frozenset[State] = frozenset(
    state for state in State if not any(source is state for source, _ in TRANSITIONS)
)


def state_of(status: object) -> State | None:
    """The recorded state of a request, from its ``status`` mapping; None before one is recorded or for a value
    that is not a state. The one way code outside the core reads a state, instead of comparing strings."""
    value = status.get("state") if isinstance(status, Mapping) else None
    try:
        return State(value) if value else None
    except ValueError:
        return None


def is_final(status: object) -> bool:
    """Whether the request whose ``status`` this is has reached a state with no way out."""
    return state_of(status) in TERMINAL


class IllegalTransition(ValueError):
    """An event arrived in a state that has no move for it."""

    def __init__(self, state: State, event: Event) -> None:
        allowed = ", ".join(e.value for e in allowed_events(state)) or "none, it is final"
        super().__init__(f"event {event.value} is not allowed in state {state.value} (allowed: {allowed})")
        self.state = state
        self.event = event


def transition(state: State, event: Event) -> State:
    """The state after `event` in `state`; raise IllegalTransition if there is none."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(state, event) from None


def allowed_events(state: State) -> tuple[Event, ...]:
    """The events `state` accepts, in Event order."""
    return tuple(event for event in Event if (state, event) in TRANSITIONS)


def mermaid() -> str:
    """A Mermaid state diagram drawn from TRANSITIONS (for the README and docs)."""
    lines = ["stateDiagram-v2", f"    [*] --> {INITIAL.value}"]
    for state in State:
        for event in allowed_events(state):
            lines.append(f"    {state.value} --> {TRANSITIONS[(state, event)].value}: {event.value}")
    for state in State:
        if state in TERMINAL:
            lines.append(f"    {state.value} --> [*]")
    return "\n".join(lines) + "\n"
