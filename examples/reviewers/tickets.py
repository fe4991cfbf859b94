"""Contractors need an open ticket: a reviewer that reads the ticket a contractor's reason cites.

A request from a contractor (group ``contractors``) is approved when its
reason cites a ticket (``PAY-123``) that the ticket lookup says is open, and
denied, with the reason, when it cites none or none of them is open. Requests
from anybody else are left to the other reviewers.

Run it (the file of open tickets is re-read whenever it changes):

    GATEPASS_TICKETS=open-tickets.yaml gatepass-reviewer examples/reviewers/tickets.py:review --context review-bot

The lookup is an interface: swap ``FileTickets`` for a client of your
tracker (Jira, Linear, GitHub issues) that answers ``is_open``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import yaml

from gatepass.reviewers import Abstain, Approve, Deny, Result, Reviewer, ReviewRequest

#: A ticket as people cite them: a project key, a dash, a number (PAY-123, OPS-7).
TICKET = re.compile(r"\b[A-Z][A-Z0-9]{1,9}-[0-9]{1,9}\b")


class TicketLookup(Protocol):
    def is_open(self, ticket: str) -> bool: ...


def tickets_in(text: str) -> list[str]:
    """The tickets a reason cites, in order, each once."""
    return list(dict.fromkeys(TICKET.findall(text)))


class FileTickets:
    """Open tickets from a YAML or JSON file: a list of IDs, ``{open: [IDs]}``, or ``{ID: status}``
    (open when the status is "open")."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._seen: tuple[float, frozenset[str]] | None = None

    def is_open(self, ticket: str) -> bool:
        return ticket in self._open()

    def _open(self) -> frozenset[str]:
        modified = self.path.stat().st_mtime  # a missing file raises: the runner logs it and abstains
        if self._seen is None or self._seen[0] != modified:
            self._seen = (modified, parse_open_tickets(yaml.safe_load(self.path.read_text()) or []))
        return self._seen[1]


def parse_open_tickets(data: object) -> frozenset[str]:
    if isinstance(data, dict) and set(data) == {"open"}:
        data = data["open"]
    if isinstance(data, dict):
        return frozenset(str(key) for key, status in data.items() if str(status).lower() == "open")
    if isinstance(data, list):
        return frozenset(str(item) for item in data)
    raise ValueError("a tickets file holds a list of open ticket IDs or a mapping of ID to status")


def ticket_reviewer(lookup: TicketLookup, *, groups: Iterable[str] = ("contractors",)) -> Reviewer:
    groups = tuple(groups)

    def review(request: ReviewRequest) -> Result:
        if not request.in_group(*groups):
            return Abstain()
        cited = tickets_in(request.reason)
        if not cited:
            return Deny("a contractor's reason must cite an open ticket (e.g. PAY-123)")
        for ticket in cited:
            if lookup.is_open(ticket):
                return Approve(f"ticket {ticket} is open")
        return Deny(f"{'ticket' if len(cited) == 1 else 'tickets'} {', '.join(cited)} "
                    f"{'is' if len(cited) == 1 else 'are'} not open")

    return review


review = ticket_reviewer(FileTickets(os.environ.get("GATEPASS_TICKETS", "open-tickets.yaml")))
