"""The review ledger kept in an AccessRequest's annotations.

People review with ``kubectl annotate accessrequest NAME gatepass.dev/approve="why"``
(or ``gatepass.dev/deny``, or ``gatepass.dev/revoke`` to end a request). An
annotation key cannot hold a username, and a client could write any value, so the
mutating webhook rewrites every update: the ledger entries of the stored object
are put back exactly as they were (a client cannot forge, change or remove one),
and each intent annotation becomes a ledger entry stamped with the identity the
API server authenticated, keyed by a hash of the username, then is removed. The
intent key is therefore absent again afterwards, and the next reviewer needs no
``--overwrite``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from .names import KEY_PREFIX
from .timestamps import format_time, parse_time
from .types import MAX_REASON_LENGTH, Identity, Review, Revocation, Via

APPROVE = f"{KEY_PREFIX}approve"
DENY = f"{KEY_PREFIX}deny"
REVOKE = f"{KEY_PREFIX}revoke"
INTENTS = {APPROVE: "Approve", DENY: "Deny"}
LEDGER_PREFIX = f"review.{KEY_PREFIX}"
REVOKED_BY = f"{KEY_PREFIX}revoked-by"
VIA_ANNOTATION = Via.ANNOTATION
_INTENT_KEYS = {"Approve": APPROVE, "Deny": DENY, "Revoke": REVOKE}


@dataclass(frozen=True)
class Intent:
    """What a user asked for with an annotation in this write."""

    action: str  # "Approve", "Deny" or "Revoke"
    reason: str


def ledger_key(username: str) -> str:
    return LEDGER_PREFIX + hashlib.sha256(username.encode()).hexdigest()[:16]


def is_ledger_key(key: str) -> bool:
    return key.startswith(LEDGER_PREFIX) or key == REVOKED_BY


def intents(annotations: Mapping[str, str] | None) -> list[Intent]:
    found = []
    for key, action in (*INTENTS.items(), (REVOKE, "Revoke")):
        if annotations and key in annotations:
            found.append(Intent(action, annotations[key]))
    return found


def intent_refusal(annotations: Mapping[str, str] | None) -> str | None:
    """Why an intent in ``annotations`` cannot be recorded, in one line, or None.

    A reason longer than a recorded reason may be would make every status write fail, and the review
    would never count: it is refused as it is written."""
    for intent in intents(annotations):
        if len(intent.reason) > MAX_REASON_LENGTH:
            return (f"the reason in {_INTENT_KEYS[intent.action]} has {len(intent.reason)} characters; "
                    f"at most {MAX_REASON_LENGTH} can be recorded")
    return None


def rewrite(
    old: Mapping[str, str] | None, new: Mapping[str, str] | None, identity: Identity, now: datetime
) -> dict[str, str | None]:
    """The annotation changes (None = remove) that make ``new`` trustworthy.

    Ledger entries are restored from ``old``; each intent in ``new`` is recorded
    for ``identity`` and removed. An intent that would overwrite an existing entry
    is left in place for validation to refuse, so nothing recorded is ever lost.
    """
    old, new = dict(old or {}), dict(new or {})
    changes: dict[str, str | None] = {}
    for key in new:
        if is_ledger_key(key) and old.get(key) != new[key]:
            changes[key] = old.get(key)
    for key in old:
        if is_ledger_key(key) and key not in new:
            changes[key] = old[key]
    for intent in intents(new):
        if intent.action == "Revoke":
            intent_key, key = REVOKE, REVOKED_BY
            entry = {"user": identity.username, "reason": intent.reason, "time": format_time(now)}
        else:
            intent_key, key = (APPROVE if intent.action == "Approve" else DENY), ledger_key(identity.username)
            entry = {
                "reviewer": identity.username,
                "groups": sorted(identity.groups),
                "decision": intent.action,
                "reason": intent.reason,
                "time": format_time(now),
            }
        if key in old:  # already recorded: the intent stays, for validation to refuse
            continue
        changes[key] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
        changes[intent_key] = None
    return changes


def added_entries(old: Mapping[str, str] | None, new: Mapping[str, str] | None) -> list[str]:
    """Ledger keys present in ``new`` but not in ``old`` (what this write records)."""
    old, new = old or {}, new or {}
    return [key for key in new if is_ledger_key(key) and key not in old]


def reviews(annotations: Mapping[str, str] | None) -> list[Review]:
    """The reviews recorded in the ledger; malformed entries (never written by the webhook) are skipped."""
    found = []
    for key, value in (annotations or {}).items():
        if not key.startswith(LEDGER_PREFIX):
            continue
        try:
            entry = json.loads(value)
            if ledger_key(entry["reviewer"]) != key or entry["decision"] not in ("Approve", "Deny"):
                continue
            found.append(Review(
                reviewer=Identity(entry["reviewer"], frozenset(entry.get("groups", ()))),
                decision=entry["decision"],
                reason=entry.get("reason", ""),
                time=parse_time(entry["time"]),
                via=VIA_ANNOTATION,
            ))
        except (ValueError, KeyError, TypeError):
            continue
    return sorted(found, key=lambda r: (r.time, r.reviewer.username))


def revocation(annotations: Mapping[str, str] | None) -> Revocation | None:
    value = (annotations or {}).get(REVOKED_BY)
    if not value:
        return None
    try:
        entry = json.loads(value)
        return Revocation(by=entry["user"], reason=entry.get("reason", ""), time=parse_time(entry["time"]))
    except (ValueError, KeyError, TypeError):
        return None
