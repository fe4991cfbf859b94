"""`kubectl access exec`: run a command; when the API server refuses it, ask for access and run it again.

1. Run the command, passing its output through and keeping a copy of stderr.
2. If it failed with Forbidden, read what was refused (``denials``). By default
   propose the least that allows it: a resource request for exactly the refused
   verbs, resources, subresources, names and namespaces (``asks``), where a
   policy's resource bound allows it (``gatepass.core.resources``, the bounds'
   ClusterRoles read as the caller). The whole role is the other choice: a
   role the caller's AccessPolicies offer that allows all of it, reading the
   roles' rules as the caller (``gatepass.core.rbac``), or ``--role``; it is
   taken with ``--whole-role``, chosen at the terminal's prompt, or when no
   bound allows the resource request.
3. If one of the caller's Pending requests already asks for that, wait for it;
   else take a reason from ``--reason`` or ask for it on the terminal and
   create the request. Wait with a status line until the access is in place.
4. When the policy gives the grant its own credential (``credentials: certificate`` or ``token``), log in
   (``login``: the grant's context ``<user>@<request>``) and run the command again with that context as
   the current one (``KUBECONFIG`` names a file that says so, then the user's own files).
5. Once the API server's RBAC sees the new binding, run the command again and
   leave with its exit code.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from gatepass.api import values
from gatepass.core.conditions import GRANTED, is_true
from gatepass.core.credentials import CredentialMode, mode_of
from gatepass.core.durations import format_duration
from gatepass.core.lifecycle import State
from gatepass.core.rbac import Access, RoleKey, Rule, Suggestion, offer_of, roles_to_read, rule_allows, suggest_roles
from gatepass.core.resources import Ask, bound_errors, bounds_for, cluster_roles, with_rules
from gatepass.core.types import DEFAULT_DURATION, Identity, Policy, Request

from . import asks, contexts, denials, output
from .commands import Context, follow, readable_policies, request_body
from .errors import INTERRUPTED, NOT_EXECUTABLE, NOT_FOUND, CliError
from .kube import Kube

#: How long to wait for the API server's RBAC to see a new binding before running the command again.
RBAC_SETTLE_SECONDS = 30.0


def run(command: Sequence[str], err: TextIO | None = None,
        env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """Run ``command`` with stdin and stdout passed through; copy stderr to ``err`` and return it too."""
    err = err or sys.stderr
    sink: BinaryIO | None = getattr(err, "buffer", None)  # bytes pass through undecoded when possible
    sys.stdout.flush()
    try:
        process = subprocess.Popen(list(command), stderr=subprocess.PIPE, env=None if env is None else dict(env))
    except FileNotFoundError:
        raise CliError(f"{command[0]}: command not found", NOT_FOUND) from None
    except PermissionError:
        raise CliError(f"{command[0]}: permission denied", NOT_EXECUTABLE) from None
    captured = bytearray()
    assert process.stderr is not None
    try:
        while chunk := process.stderr.read1(65536):
            captured += chunk
            if sink is not None:
                err.flush()
                sink.write(chunk)
                sink.flush()
            else:
                err.write(chunk.decode(errors="replace"))
                err.flush()
        code = process.wait()
    except KeyboardInterrupt:
        process.wait()  # the command got the same Ctrl-C; let it finish
        raise CliError("interrupted", INTERRUPTED) from None
    return code, captured.decode(errors="replace")


def describe(accesses: Sequence[Access]) -> str:
    return "; ".join(access.describe() for access in accesses)


def choose(ctx: Context, me: Identity, accesses: Sequence[Access], policies: Sequence[Policy]) -> Suggestion:
    """The role to ask for: ``--role``, else the first that the roles' rules say allows everything."""
    wanted = ctx.args.role
    if wanted:
        offer = offer_of(wanted, accesses, me, policies)
        if offer is None:
            raise CliError(f'no AccessPolicy offers {me.username} role "{wanted}" where it is needed '
                           f"({describe(accesses)})")
        return offer
    keys = roles_to_read(me, policies, accesses)
    rules = {key: ctx.kube.role_rules(key) for key in keys}
    finding = suggest_roles(accesses, me, policies, rules)
    if finding.best is not None:
        return finding.best
    if finding.unverified:
        unreadable = ", ".join(key.describe() for key in finding.unreadable)
        offered = ", ".join(sorted({s.role for s in finding.unverified}))
        raise CliError(f"cannot tell which role allows {describe(accesses)}: {me.username} may not read "
                       f"{unreadable}; name one of the roles offered ({offered}) with --role")
    raise CliError(f"no AccessPolicy offers {me.username} a role that allows {describe(accesses)}")


def pending_for(requests: Sequence[Mapping], username: str, role: str, namespaces: Sequence[str]) -> str | None:
    """The oldest Pending request of ``username`` that asks for ``role`` in all of ``namespaces`` (or
    cluster-wide, when there are none), so that running the command again waits for it instead of asking twice."""
    for obj in sorted(requests, key=lambda r: (r.get("metadata") or {}).get("creationTimestamp") or ""):
        if output.state(obj) is State.Pending and not (obj.get("metadata") or {}).get("deletionTimestamp") \
                and _asks_for(values.request(obj), username, role, set(namespaces)):
            return obj["metadata"]["name"]
    return None


def granted_for(requests: Sequence[Mapping], username: str, role: str, namespaces: Sequence[str]) -> Mapping | None:
    """The oldest request of ``username`` granted now for ``role`` in all of ``namespaces`` with a credential of
    its own (certificate or token): the access is there, only not to the user's usual context."""
    for obj in sorted(requests, key=lambda r: (r.get("metadata") or {}).get("creationTimestamp") or ""):
        status = obj.get("status") or {}
        if output.state(obj) is State.Approved and is_true(status.get("conditions"), GRANTED) \
                and mode_of((status.get("credential") or {}).get("mode")) is not CredentialMode.USER \
                and _asks_for(values.request(obj), username, role, set(namespaces)):
            return obj
    return None


def pending_for_asks(requests: Sequence[Mapping], username: str, asked: Sequence[Ask]) -> str | None:
    """The oldest Pending request of ``username`` that asks for at least ``asked`` (the same resources, or
    more), so that running the command again waits for it instead of asking twice."""
    wanted = [access for ask in asked for access in ask.accesses()]
    for obj in sorted(requests, key=lambda r: (r.get("metadata") or {}).get("creationTimestamp") or ""):
        if output.state(obj) is not State.Pending or (obj.get("metadata") or {}).get("deletionTimestamp"):
            continue
        try:
            request = values.request(obj)
        except (ValueError, KeyError, TypeError):
            continue
        if request.requester.username == username and all(_covered(access, request.resources) for access in wanted):
            return obj["metadata"]["name"]
    return None


def _covered(access: Access, have: Sequence[Ask]) -> bool:
    """Whether one of the asks ``have`` allows ``access`` (in its namespace), as RBAC matches rules."""
    return any(ask.namespace == access.namespace and rule_allows(ask.rule, access) for ask in have)


def _asks_for(request: Request, username: str, role: str, wanted: set[str]) -> bool:
    """Whether ``request`` is ``username``'s and asks for ``role`` in all of ``wanted`` (none: cluster-wide)."""
    if request.requester.username != username or role not in request.roles:
        return False
    have = set(request.namespaces)
    return wanted <= have if wanted else not have


def bounding_policy(asked: Sequence[Ask], me: Identity, policies: Sequence[Policy],
                    rules: Mapping[str, Sequence[Rule] | None]) -> tuple[Policy | None, tuple[str, ...]]:
    """The first policy (by name) naming ``me`` a requester whose resource bound allows all of ``asked``
    (the core's subset check), and the bounds' ClusterRoles ``me`` could not read (None in ``rules``), where
    that kept a policy from being judged."""
    unreadable: dict[str, None] = {}
    for policy in sorted(policies, key=lambda p: p.name):
        if not policy.requesters.contains(me) or not policy.resources:
            continue
        known = {name: rules[name] for name in cluster_roles(policy.resources) if rules.get(name) is not None}
        bounds = with_rules(policy.resources, known)
        unknown = {b.cluster_role for ask in asked for b in bounds_for(bounds, ask.namespace) if b.rules is None}
        if bound_errors(policy.name, bounds, asked):
            continue
        if unknown:
            unreadable.update(dict.fromkeys(sorted(unknown)))
            continue
        return policy, ()
    return None, tuple(unreadable)


def bound_roles(me: Identity, policies: Sequence[Policy]) -> tuple[str, ...]:
    """The ClusterRoles whose rules bound what ``me`` may ask for, under the policies naming them."""
    return tuple(sorted({bound.cluster_role for policy in policies if policy.requesters.contains(me)
                         for bound in policy.resources}))


@dataclass(frozen=True)
class Choice:
    """What to ask for: resources under a policy, or a role."""

    policy: str
    asked: tuple[Ask, ...] = ()
    role: Suggestion | None = None

    def describe(self) -> str:
        if self.role is not None:
            return self.role.describe()
        return f"{asks.describe(self.asked)} (AccessPolicy {self.policy})"


def minimal(ctx: Context, me: Identity, accesses: Sequence[Access], policies: Sequence[Policy]) \
        -> tuple[Choice | None, str]:
    """The resource request for exactly what was refused, if a policy's bound allows it; else None and why
    ('' when no policy bounds resource requests for ``me`` at all)."""
    if not bound_roles(me, policies):
        return None, ""
    try:
        asked = asks.from_refusals(accesses, ctx.args.command)
    except CliError as error:
        return None, error.message
    rules = {name: ctx.kube.role_rules(RoleKey("ClusterRole", name)) for name in bound_roles(me, policies)}
    policy, unreadable = bounding_policy(asked, me, policies, rules)
    if policy is not None:
        return Choice(policy.name, tuple(asked)), ""
    if unreadable:
        return None, (f"cannot tell whether a policy's bound allows {asks.describe(asked)}: {me.username} may not "
                      f"read ClusterRole {', '.join(unreadable)}")
    return None, f"no AccessPolicy's resource bound allows {me.username} {asks.describe(asked)}"


def _prompt_choice(ctx: Context, choices: Sequence[Choice]) -> Choice:
    """On a terminal, let the user pick among ``choices`` (the first is the default)."""
    if len(choices) < 2 or not sys.stdin.isatty():
        return choices[0]
    ctx.err.write("What to ask for?\n")
    for number, choice in enumerate(choices, 1):
        ctx.err.write(f"  {number}) {choice.describe()}{' (default)' if number == 1 else ''}\n")
    while True:
        ctx.err.write(f"Choose [1-{len(choices)}, default 1]: ")
        ctx.err.flush()
        answer = sys.stdin.readline().strip()
        if not answer:
            return choices[0]
        if answer.isdigit() and 1 <= int(answer) <= len(choices):
            return choices[int(answer) - 1]


def ask_reason(ctx: Context, policy: Policy | None) -> str:
    if ctx.args.reason is not None:
        return ctx.args.reason
    required = policy is None or policy.require_reason
    if not sys.stdin.isatty():
        if required:
            name = policy.name if policy else "the policy"
            raise CliError(f"AccessPolicy {name} requires a reason: pass --reason")
        return ""
    ctx.err.write("Enter request reason: ")
    ctx.err.flush()
    reason = sys.stdin.readline().strip()
    if required and not reason:
        raise CliError("a reason is required")
    return reason


def settle(kube: Kube, accesses: Sequence[Access], timeout: float = RBAC_SETTLE_SECONDS) -> None:
    """Until the API server's RBAC (an informer cache) allows what was refused, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not all(kube.allowed(access) for access in accesses):
        if time.monotonic() >= deadline:
            return
        time.sleep(0.2)


def decide(ctx: Context, me: Identity, accesses: Sequence[Access], policies: Sequence[Policy]) -> Choice:
    """The resource request for exactly what was refused, by default; the whole role with ``--whole-role`` or
    ``--role``, at the prompt, or when no policy's bound allows the resource request. Says which, and why."""
    if ctx.args.role or getattr(ctx.args, "whole_role", False):
        offer = choose(ctx, me, accesses, policies)
        ctx.say(_role_line(offer))
        return Choice(offer.policy, role=offer)
    least, why_not = minimal(ctx, me, accesses, policies)
    if least is None:
        if why_not:
            ctx.say(f"Asking for a role instead: {why_not}.")
        offer = choose(ctx, me, accesses, policies)
        ctx.say(_role_line(offer))
        return Choice(offer.policy, role=offer)
    ctx.say(f"Least access that allows it: {asks.describe(least.asked)} (AccessPolicy {least.policy}).")
    choices = [least]
    if sys.stdin.isatty():
        try:
            offer = choose(ctx, me, accesses, policies)
            choices.append(Choice(offer.policy, role=offer))
        except CliError:
            pass  # no role to offer beside it
    else:
        ctx.say("(--whole-role asks for a whole role that allows it instead.)")
    return _prompt_choice(ctx, choices)


def _role_line(offer: Suggestion) -> str:
    where = "in " + ", ".join(offer.namespaces) if offer.namespaces else "cluster-wide"
    return f"Role {offer.role} {where} (AccessPolicy {offer.policy}) allows it."


def execute(ctx: Context) -> int:
    command = ctx.args.command
    if not command:
        raise CliError("name the command to run after --, e.g. kubectl access exec -- kubectl get secrets -n payments")
    code, errors = run(command, ctx.err)
    refused = denials.parse(errors) if code != 0 else []
    if not refused:
        return code

    me = ctx.kube.whoami()
    others = sorted({d.user for d in refused} - {me.username})
    if others:
        raise CliError(f"the command ran as {', '.join(others)}, but kubectl access is using the credentials of "
                       f"{me.username}; give both the same --kubeconfig and --context")
    accesses = [d.access for d in refused]
    ctx.say(f"Access denied: {me.username} may not {describe(accesses)}.")

    policies = readable_policies(ctx.kube.list_policies())
    choice = decide(ctx, me, accesses, policies)
    policy = next((p for p in policies if p.name == choice.policy), None)
    requests = ctx.kube.list_requests()
    if choice.role is not None:
        offer = choice.role
        granted = granted_for(requests, me.username, offer.role, offer.namespaces)
        if granted is not None:
            name = granted["metadata"]["name"]
            ctx.say(f"AccessRequest {name} grants it, to its own credential; logging in.")
            return _again(ctx, granted, command, accesses, me)
        name = pending_for(requests, me.username, offer.role, offer.namespaces)
    else:
        name = pending_for_asks(requests, me.username, choice.asked)
    if name is not None:
        ctx.say(f"AccessRequest {name} already asks for it; waiting for it to be approved.")
    else:
        reason = ask_reason(ctx, policy)
        duration = ctx.args.duration
        if not duration:
            longest = policy.max_duration if policy else DEFAULT_DURATION
            duration = format_duration(min(DEFAULT_DURATION, longest))
        if choice.role is not None:
            body = request_body(roles=[choice.role.role], namespaces=choice.role.namespaces, reason=reason,
                                duration=duration, reviewers=ctx.args.reviewers, requester=me.username)
        else:
            body = request_body(resources=choice.asked, reason=reason, duration=duration,
                                reviewers=ctx.args.reviewers, requester=me.username)
        obj = ctx.kube.create_request(body)
        name = obj["metadata"]["name"]
        ctx.say(f"Created AccessRequest {name}; waiting for it to be approved.")

    wanted = [a for ask in choice.asked for a in ask.accesses()] or accesses
    return _again(ctx, follow(ctx, name, "granted"), command, wanted, me)


def _again(ctx: Context, obj: Mapping, command: Sequence[str], accesses: Sequence[Access], me: Identity) -> int:
    """Run ``command`` again once ``obj`` grants ``accesses``, as the grant's holder; its exit code."""
    with _as_granted(ctx, obj) as (kube, env, target):
        settle(kube, accesses)
        ctx.say(f"Running the command again as context {target}." if target else "Running the command again.")
        code, errors = run(in_context(command, target), ctx.err, env)
    still = [d.access for d in denials.parse(errors)] if code != 0 else []
    if still:
        ctx.say(f"Still refused: {me.username} may not {describe(still)}; "
                f"{ctx.command('exec', '--', '...')} asks for that too.")
    return code


def in_context(command: Sequence[str], context: str) -> list[str]:
    """``command`` to run in ``context``: a kubectl command's own ``--context`` is replaced (``KUBECONFIG``
    makes it the current context for every other client); anything else is left as it is."""
    if not context or os.path.basename(command[0]) != "kubectl":
        return list(command)
    out, skip = [command[0]], False
    for index, word in enumerate(command[1:], start=1):
        if skip:
            skip = False
        elif word == "--":
            return [*out, *command[index:]]
        elif word == "--context":
            out.append(f"--context={context}")
            skip = True
        elif word.startswith("--context="):
            out.append(f"--context={context}")
        else:
            out.append(word)
    return out


@contextlib.contextmanager
def _as_granted(ctx: Context, obj: Mapping) -> Iterator[tuple[Kube, Mapping[str, str] | None, str]]:
    """Who the command runs as once ``obj`` is granted: the user (their own context, the environment as it
    is), or, when the grant has its own credential, the grant's context (``login``) made the current one."""
    credential = (obj.get("status") or {}).get("credential") or {}
    if mode_of(credential.get("mode")) is CredentialMode.USER:
        yield ctx.kube, None, ""
        return
    from .login import DEFAULT_TIMEOUT, log_in

    target = log_in(ctx, obj["metadata"]["name"], timeout=DEFAULT_TIMEOUT, fresh=False)
    kubeconfig = contexts.absolute_path(ctx.args.kubeconfig)
    with contexts.current(kubeconfig, target) as env_kubeconfig:
        yield Kube.connect(kubeconfig, target), {**os.environ, "KUBECONFIG": env_kubeconfig}, target
