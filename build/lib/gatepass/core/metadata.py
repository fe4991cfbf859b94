"""Who may change the metadata of a request or a review, and which Gatepass annotations exist.

A request's metadata is part of its record: labels are read by policy rules
and reviewer bots, ownerReferences and finalizers decide when the garbage
collector deletes it. So admission treats them like the spec:

* On an AccessRequest, labels, annotations, ownerReferences and finalizers may
  be changed only by its requester (or the submitter who filed it for them)
  and by Gatepass administrators (RBAC's ``revoke`` verb on accessrequests).
  Reviewers change it only through the intent annotations
  ``gatepass.dev/approve``, ``gatepass.dev/deny`` and ``gatepass.dev/revoke``,
  which admission turns into ledger entries (see gatepass.core.ledger).
* On an AccessReview, the request label, the request-uid label and the
  ownerReference to its request are set by admission and never change. Its
  other labels, annotations and finalizers may be changed by its reviewer, the
  submitter who filed it, and administrators.
* Anybody may remove finalizers from an object that is already being deleted,
  an ownerReference from a request (that only keeps it longer), and a review's
  ownerReference to a request that is gone or being deleted: that is the
  garbage collector finishing a deletion somebody was allowed to make.

Annotation keys under ``gatepass.dev/`` are Gatepass's own: a key that is not
one of them is refused with the nearest known key, so a misspelt approval is
never accepted silently; two intents in one write contradict each other and
are refused too.

Everything here is a plain function over plain dicts; the admission webhook
reads the objects and the caller's rights and refuses with the line returned.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from .names import GROUP
from .grants import REQUEST_LABEL, REQUEST_UID_LABEL
from .ledger import APPROVE, DENY, LEDGER_PREFIX, REVOKE, REVOKED_BY, intents, is_ledger_key

#: The domain of Gatepass's own annotation keys.
DOMAIN = GROUP
#: The annotation keys a user may write on an AccessRequest: the intents.
INTENT_KEYS = (APPROVE, DENY, REVOKE)
#: Every ``gatepass.dev/`` annotation key that exists (the revoke record is written by admission).
KNOWN_KEYS = (*INTENT_KEYS, REVOKED_BY)
#: The parts of metadata admission protects, in the order a refusal names them.
PROTECTED = ("labels", "annotations", "ownerReferences", "finalizers")
#: Labels admission writes on every AccessReview; nobody changes them.
REVIEW_FIXED_LABELS = (REQUEST_LABEL, REQUEST_UID_LABEL)

_OWNER = "ownerReferences"


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _is_gatepass_key(key: str) -> bool:
    prefix, slash, _ = key.partition("/")
    if not slash:
        return False
    prefix = prefix.lower()
    if prefix == DOMAIN or prefix.endswith("." + DOMAIN):
        return True
    # Near misses of the domain itself ("gatepas.dev", "gatepass.dv") are ours too.
    return difflib.SequenceMatcher(None, prefix, DOMAIN).ratio() >= 0.85


def unknown_annotation(key: str) -> str | None:
    """Why ``key`` is refused as a Gatepass annotation (with the nearest known key), or None."""
    if not _is_gatepass_key(key) or key in KNOWN_KEYS or key.startswith(LEDGER_PREFIX):
        return None
    names = {known.partition("/")[2]: known for known in INTENT_KEYS}  # "approve": "gatepass.dev/approve"
    name = key.partition("/")[2].lower()
    nearest = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    hint = f"; did you mean {names[nearest[0]]}?" if nearest else ""
    known = ", ".join(INTENT_KEYS)
    return f"unknown Gatepass annotation {key} (known: {known}){hint}"


def annotation_refusal(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> str | None:
    """Why the annotations of this write to an AccessRequest are refused, in one line; None when they are fine.

    ``old`` and ``new`` are the annotations before and after the write. Keys
    already stored are not judged again; every added or changed one is.
    """
    old, new = _mapping(old), _mapping(new)
    for key, value in new.items():
        if old.get(key) == value and key in old:
            continue
        why = unknown_annotation(str(key))
        if why:
            return why
    written = [i.action for i in intents({k: v for k, v in new.items() if k in INTENT_KEYS})]
    if len(written) > 1:
        return (f"{' and '.join(a.lower() for a in written)} in one write contradict each other; "
                "write one gatepass.dev annotation at a time")
    return None


def changed_parts(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, *,
                  ignore_annotations: Iterable[str] = ()) -> list[str]:
    """The PROTECTED parts of metadata that differ between ``old`` and ``new`` (metadata dicts).

    Ledger annotations are left out (admission restores them on every write),
    and so are the keys in ``ignore_annotations``.
    """
    old, new = _mapping(old), _mapping(new)
    ignored = set(ignore_annotations)
    changed = []
    for part in PROTECTED:
        before, after = old.get(part), new.get(part)
        if part == "annotations":
            before = {k: v for k, v in _mapping(before).items() if not is_ledger_key(k) and k not in ignored}
            after = {k: v for k, v in _mapping(after).items() if not is_ledger_key(k) and k not in ignored}
        elif part == "labels":
            before, after = _mapping(before), _mapping(after)
        else:
            before, after = _list(before), _list(after)
        if before != after:
            changed.append(part)
    return changed


def _only_removed(before: Any, after: Any, removable=lambda item: True) -> bool:
    """Whether ``after`` is ``before`` with some removable items taken out, and nothing added or changed."""
    before, after = _list(before), _list(after)
    return all(item in before for item in after) and all(
        removable(item) for item in before if item not in after)


def _deletion_leftovers(old: Mapping[str, Any], new: Mapping[str, Any], parts: list[str],
                        owner_removable) -> list[str]:
    """``parts`` without the changes a deletion in progress makes: finalizers removed from an object being
    deleted, and ownerReferences removed where ``owner_removable(ref)`` says so."""
    left = []
    for part in parts:
        if part == "finalizers" and old.get("deletionTimestamp") and _only_removed(old.get(part), new.get(part)):
            continue
        if part == _OWNER and _only_removed(old.get(part), new.get(part), owner_removable):
            continue
        left.append(part)
    return left


def _describe(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def request_metadata_refusal(name: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, *,
                             caller: str, may_change: bool) -> str | None:
    """Why ``caller`` may not make this change to AccessRequest ``name``'s metadata, or None.

    ``may_change``: the caller is the request's requester or submitter, or a
    Gatepass administrator. The intent annotations are anyone's to write (who
    may review is checked separately).
    """
    old, new = _mapping(old), _mapping(new)
    # Removing an owner only keeps the request longer (it is what the garbage collector does when an owner is
    # deleted with --cascade=orphan); adding or changing one could have the request deleted.
    parts = _deletion_leftovers(old, new, changed_parts(old, new, ignore_annotations=INTENT_KEYS),
                                owner_removable=lambda ref: True)
    if not parts or may_change:
        return None
    return (f"{caller} may not change the {_describe(parts)} of AccessRequest {name}: "
            "only its requester or a Gatepass administrator may")


def review_metadata_refusal(name: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, *,
                            caller: str, may_change: bool, gone_owners: Iterable[str] = ()) -> str | None:
    """Why ``caller`` may not make this change to AccessReview ``name``'s metadata, or None.

    ``may_change``: the caller is the review's reviewer or submitter, or a
    Gatepass administrator. ``gone_owners``: uids of owners that no longer
    exist or are being deleted.
    """
    old, new = _mapping(old), _mapping(new)
    parts = changed_parts(old, new)
    if not parts:
        return None
    gone = tuple(gone_owners)
    old_labels, new_labels = _mapping(old.get("labels")), _mapping(new.get("labels"))
    fixed = [key for key in REVIEW_FIXED_LABELS if old_labels.get(key) != new_labels.get(key)]
    if fixed:
        return (f"the {fixed[0]} label of AccessReview {name} is set by admission and cannot be changed, "
                "not even by an administrator")
    rest = _deletion_leftovers(old, new, parts, owner_removable=lambda ref: _mapping(ref).get("uid") in gone)
    if _OWNER in rest:
        return (f"the ownerReferences of AccessReview {name} tie it to its request and cannot be changed, "
                "not even by an administrator")
    if not rest or may_change:
        return None
    return (f"{caller} may not change the {_describe(rest)} of AccessReview {name}: "
            "only its reviewer or a Gatepass administrator may")
