"""The request and review verbs: create, ls, show, drop, review.

Each verb takes the parsed arguments and a ``Kube`` for the user, writes its
result to stdout (names, tables, objects) and its commentary to stderr, and
returns the exit code. Building the objects sent to the API and choosing what
to list are plain functions, tested without a cluster.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TextIO

from gatepass.api import values
from gatepass.core import durations
from gatepass.core.conditions import FINAL_WHEN_TRUE, is_true
from gatepass.core.durations import format_duration
from gatepass.core.ledger import REVOKE
from gatepass.core.lifecycle import TERMINAL, State
from gatepass.core import ledger
from gatepass.core.policy import governing_policy as core_governing_policy
from gatepass.core.tally import has_reviewed
from gatepass.core.timestamps import format_time, parse_time
from gatepass.core.resources import Ask
from gatepass.core.types import Identity, Policy

from . import asks, output
from .errors import INTERRUPTED, NOT_GRANTED, OK, CliError
from .kube import API_VERSION, Kube
from .waiting import StatusLine, Until, wait

MAX_PREFIX = 200  # generateName leaves room for the API server's random suffix


# -- building objects (pure) ------------------------------------------------------------


def name_part(text: str) -> str:
    """``text`` as a piece of an object name: lowercase letters, digits and dashes."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", text.lower())).strip("-")


def generate_name(*parts: str) -> str:
    """A generateName prefix such as 'bob-dba-'; 'request-' when nothing usable is left."""
    prefix = "-".join(p for p in (name_part(part) for part in parts) if p)[:MAX_PREFIX].strip("-")
    return f"{prefix or 'request'}-"


def checked_duration(text: str) -> str:
    """A positive Go duration in its short form; CliError otherwise."""
    try:
        return format_duration(durations.checked_duration(text))
    except ValueError as error:
        raise CliError(str(error)) from None


def request_body(
    *,
    roles: Sequence[str] = (),
    resources: Sequence[Ask] = (),
    namespaces: Sequence[str] = (),
    reason: str | None = None,
    duration: str | None = None,
    reviewers: Sequence[str] = (),
    start: str | None = None,
    name: str | None = None,
    requester: str = "",
) -> dict:
    """The AccessRequest to create: roles (bound in ``namespaces``), resources, or both. The requester is never
    written: admission fills it in."""
    if not roles and not resources:
        raise CliError("name at least one role with --roles, or a resource with --resource")
    spec: dict = {}
    if roles:
        spec["roles"] = list(dict.fromkeys(roles))
    if resources:
        spec["resources"] = [asks.body(ask) for ask in resources]
    if namespaces:
        spec["namespaces"] = list(dict.fromkeys(namespaces))
    if duration:
        spec["duration"] = checked_duration(duration)
    if reason:
        spec["reason"] = reason
    if reviewers:
        spec["reviewers"] = list(dict.fromkeys(reviewers))
    if start:
        try:
            spec["startTime"] = format_time(parse_time(start))
        except ValueError:
            raise CliError(f'invalid start time "{start}": use RFC 3339, e.g. 2026-01-02T15:04:05Z') from None
    what = roles or [f"{resources[0].resource}-{resources[0].names[0]}" if resources[0].names
                     else resources[0].resource]
    metadata = {"name": name} if name else {"generateName": generate_name(requester, *what)}
    return {"apiVersion": API_VERSION, "kind": "AccessRequest", "metadata": metadata, "spec": spec}


def review_body(request: str, decision: str, reason: str, reviewer: str) -> dict:
    """The AccessReview to create. The reviewer is never written: admission fills it in."""
    spec = {"request": request, "decision": decision}
    if reason:
        spec["reason"] = reason
    return {"apiVersion": API_VERSION, "kind": "AccessReview",
            "metadata": {"generateName": generate_name(reviewer, request)}, "spec": spec}


# -- choosing what to list (pure) --------------------------------------------------------


def requester_of(obj: Mapping) -> str:
    return output.requester(obj)


def by_creation(objs: Iterable[Mapping]) -> list[Mapping]:
    return sorted(objs, key=lambda o: (o["metadata"].get("creationTimestamp") or "", o["metadata"]["name"]))


def governing_policy(obj: Mapping, policies: Sequence[Policy]) -> Policy | None:
    """The policy the request is decided under, as the operator and admission decide it
    (gatepass.core.policy.governing_policy); None for a request the plugin cannot read."""
    try:
        return core_governing_policy(values.request(obj), policies, obj.get("status") or {})
    except ValueError:
        return None


def reviewable(obj: Mapping, me: Identity, policies: Sequence[Policy]) -> bool:
    """Whether ``me`` may review ``obj`` now: pending and undecided, not theirs, a reviewer, not reviewed yet."""
    if output.state(obj) is not State.Pending or requester_of(obj) == me.username:
        return False
    status = obj.get("status") or {}
    if any(is_true(status.get("conditions"), final) for final in FINAL_WHEN_TRUE):  # Approved or Denied
        return False
    # What the plugin can see of the request's reviews: the ledger's, and the AccessReviews already counted.
    if has_reviewed(me.username, ledger.reviews(obj["metadata"].get("annotations"))) or any(
            r.get("reviewer") == me.username for r in status.get("reviews") or ()):
        return False
    policy = governing_policy(obj, policies)
    return policy is not None and policy.reviewers.contains(me)


def readable_policies(bodies: Iterable[Mapping]) -> list[Policy]:
    policies = []
    for body in bodies:
        try:
            policies.append(values.policy(body))
        except (ValueError, KeyError, TypeError):
            continue  # the admission webhook refuses invalid policies; skip any that slipped in
    return policies


# -- dropping a request (pure) -----------------------------------------------------------

#: The revocation reason recorded when the requester gives none.
DROP_REASON = "dropped with kubectl access"


def drop_annotations(obj: Mapping, reason: str) -> dict[str, str]:
    """The annotations that drop ``obj`` (revoke it, pending or granted); CliError once it has ended."""
    current = output.state(obj)
    if current in TERMINAL:
        raise CliError(f"AccessRequest {obj['metadata']['name']} is already {current}")
    return {REVOKE: reason}


def dropped_text(obj: Mapping) -> str:
    """What dropping ``obj`` (as it was before) does, in one line."""
    what = "cancelled" if output.state(obj) is State.Pending else "its access is being removed"
    return f"Dropped AccessRequest {obj['metadata']['name']}: {what}."


# -- the verbs ---------------------------------------------------------------------------


class Context:
    """What every verb needs: the cluster, where to write, and how to tell the user to check later."""

    def __init__(self, kube: Kube, args: argparse.Namespace, out: TextIO | None = None,
                 err: TextIO | None = None) -> None:
        self.kube = kube
        self.args = args
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def say(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()

    def command(self, *words: str) -> str:
        """A `kubectl access ...` line with the same --kubeconfig/--context as this one."""
        flags = []
        if self.args.kubeconfig:
            flags.append(f"--kubeconfig={self.args.kubeconfig}")
        if self.args.context:
            flags.append(f"--context={self.args.context}")
        return " ".join(["kubectl access", *words, *flags])


def follow(ctx: Context, name: str, until: Until) -> dict:
    """Wait for the request with a status line; CliError(NOT_GRANTED) when it ends without access.

    Ctrl-C leaves the request as it is and says how to check on it.
    """
    try:
        with StatusLine(ctx.err) as line:
            result, obj = wait(ctx.kube, name, line, until)
    except KeyboardInterrupt:
        ctx.say(f"Stopped waiting; AccessRequest {name} is left as it is. "
                f"Check it with: {ctx.command('request', 'show', name)}")
        raise CliError("interrupted", INTERRUPTED) from None
    if not result.granted:
        raise CliError(result.line, NOT_GRANTED)
    ctx.say(result.line)
    return obj


def create(ctx: Context) -> int:
    args = ctx.args
    me = ctx.kube.whoami() if not args.name else None
    resources = asks.from_flags(getattr(args, "resource", []), getattr(args, "verbs", []),
                                getattr(args, "namespace", ""), getattr(args, "subresource", ""))
    body = request_body(roles=args.roles, resources=resources, namespaces=args.namespaces, reason=args.reason,
                        duration=args.duration, reviewers=args.reviewers, start=args.start,
                        name=args.name, requester=me.username if me else "")
    obj = ctx.kube.create_request(body)
    name = obj["metadata"]["name"]
    ctx.out.write(name + "\n")
    ctx.out.flush()
    ctx.say(f"Created AccessRequest {name}: {output.asked_text(obj)} "
            f"for {output.duration_text(obj)}.")
    if args.nowait:
        ctx.say(f"Not waiting. Check it with: {ctx.command('request', 'show', name)}")
        return OK
    granted = follow(ctx, name, "approved")
    if (granted.get("status") or {}).get("credential"):
        ctx.say(f"The grant has a credential of its own: log in with {ctx.command('login', name)}")
    return OK


def ls(ctx: Context) -> int:
    args = ctx.args
    objs = ctx.kube.list_requests()
    if args.mine or args.reviewable:
        me = ctx.kube.whoami()
        if args.mine:
            objs = [o for o in objs if requester_of(o) == me.username]
        else:
            policies = readable_policies(ctx.kube.list_policies())
            objs = [o for o in objs if reviewable(o, me, policies)]
    objs = by_creation(objs)
    if args.output in ("json", "yaml"):
        ctx.out.write(output.dump(output.as_list(objs), args.output))
    elif not objs:
        ctx.say("No access requests found.")  # on stderr, as kubectl get says it
    elif args.output == "name":
        ctx.out.write(output.name_lines(objs))
    else:
        ctx.out.write(output.requests_table(objs, wide=args.output == "wide"))
    return OK


def show(ctx: Context) -> int:
    """The request for people (table and wide alike: it already says everything), its name, or the object."""
    obj = ctx.kube.get_request(ctx.args.name)
    fmt = ctx.args.output
    if fmt in ("json", "yaml"):
        ctx.out.write(output.dump(obj, fmt))
    elif fmt == "name":
        ctx.out.write(output.name_lines([obj]))
    else:
        ctx.out.write(output.show_request(obj))
    return OK


def drop(ctx: Context) -> int:
    name = ctx.args.name
    obj = ctx.kube.get_request(name)
    ctx.kube.annotate_request(name, drop_annotations(obj, ctx.args.reason or DROP_REASON))
    ctx.out.write(dropped_text(obj) + "\n")
    return OK


def review(ctx: Context) -> int:
    args = ctx.args
    ctx.kube.get_request(args.name)  # "not found" is clearer from here than from admission
    me = ctx.kube.whoami()
    created = ctx.kube.create_review(review_body(args.name, args.decision, args.reason, me.username))
    reviewer = ((created.get("spec") or {}).get("reviewer") or {}).get("username") or me.username
    verb = "Approved" if args.decision == "Approve" else "Denied"
    ctx.out.write(f"{verb} AccessRequest {args.name} as {reviewer} "
                  f"(AccessReview {created['metadata']['name']}).\n")
    return OK
