"""`kubectl access request search`: the resources your AccessPolicies would let you ask for.

Who lists matters. The search lists objects with the user's own credentials, never the operator's: it
cannot reveal a name the user may not read already, and the operator is not a read proxy for anything.
It lists only the kinds and namespaces a policy's resource bound names (the ClusterRole's rules, read as
the user, as ``exec`` reads roles). Where the user may not list a kind there, it shows what they could ask
for as the bound's pattern ("pods/log, any name, in payments") instead of names. Listing asks for object
metadata only, so that listing secrets never fetches their data.

Every row is checked with the core's subset check (``gatepass.core.resources.exceeding``) against the
bound it came from: the search never offers what admission would refuse.

``targets`` and ``rows`` are pure; ``search`` does the reading and the printing.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from gatepass.core.rbac import ALL, RoleKey, Rule
from gatepass.core.resources import ANY_NAME, Ask, Bound, exceeding
from gatepass.core.types import Identity, Policy

from . import output
from .asks import POD_VERBS, parse_resource
from .commands import Context, readable_policies
from .errors import OK, CliError
from .kube import Names

#: The NAME of a row that stands for any name (the user may not list them, or the kind is a wildcard), as
#: every surface says it.
ANY = ANY_NAME
COLUMNS = ("RESOURCE", "NAMESPACE", "NAME", "VERBS", "POLICY")
CLUSTER = "(cluster-wide)"
#: At most this many objects of one kind in one namespace are listed (the API server's limit).
LIST_LIMIT = 500


@dataclass(frozen=True)
class Kind:
    """What ``--kind`` asks for: ``pods``, ``deployments.apps``, ``pods/log``."""

    resource: str
    api_group: str = ""
    subresource: str = ""

    @classmethod
    def parse(cls, text: str) -> Kind | None:
        if not text:
            return None
        kind, _, sub = text.strip().partition("/")
        try:
            group, resource, _ = parse_resource(kind)
        except CliError:
            raise CliError(f'invalid --kind "{text}": use TYPE[.GROUP][/SUBRESOURCE], e.g. pods or '
                           "deployments.apps") from None
        return cls(resource, group, sub)


@dataclass(frozen=True)
class Target:
    """One kind a policy's bound lets the user ask for, somewhere: the ask it would be (names from the rule's
    resourceNames, none for any name), under which policy."""

    policy: str
    ask: Ask

    @property
    def listable(self) -> bool:
        """Whether the names could be listed: a concrete kind, not a wildcard, and no names fixed by the rule."""
        return not self.ask.names and ALL not in (self.ask.resource, self.ask.api_group)


def _scopes(bound: Bound, namespace: str) -> tuple[str, ...]:
    """Where to look under ``bound``: its namespaces (and cluster-wide), or just ``namespace`` if it covers it."""
    if namespace:
        return (namespace,) if bound.covers(namespace) else ()
    return bound.namespaces + (("",) if bound.cluster_wide else ())


def _kinds(rule: Rule, kind: Kind | None) -> Iterable[tuple[str, str, str]]:
    """(API group, resource, subresource) the rule offers, narrowed to ``kind`` (its wildcards filled in)."""
    for group in sorted(rule.api_groups):
        if kind is not None and group not in (ALL, kind.api_group):
            continue
        for resource in sorted(rule.resources):
            base, _, sub = resource.partition("/")
            if kind is None:
                yield group, base, sub
                continue
            if base not in (ALL, kind.resource) or (kind.subresource and sub not in (ALL, kind.subresource)):
                continue
            yield kind.api_group, kind.resource, (kind.subresource if kind.subresource and sub == ALL else sub)


def targets(policies: Sequence[Policy], me: Identity, rules: Mapping[str, Sequence[Rule] | None], *,
            kind: Kind | None = None, namespace: str = "") -> list[Target]:
    """What ``me`` could ask for under each policy that names them a requester, narrowed to ``kind`` and
    ``namespace``; bounds whose ClusterRole's ``rules`` are unknown (None) offer nothing."""
    found: dict[tuple[str, Ask], None] = {}
    for policy in sorted(policies, key=lambda p: p.name):
        if not policy.requesters.contains(me):
            continue
        for bound in policy.resources:
            bound_rules = rules.get(bound.cluster_role)
            if not bound_rules:
                continue
            for scope in _scopes(bound, namespace):
                for rule in bound_rules:
                    if rule.non_resource_urls and not rule.resources:
                        continue
                    for group, base, sub in _kinds(rule, kind):
                        ask = Ask(resource=base, verbs=tuple(sorted(rule.verbs)), api_group=group, subresource=sub,
                                  namespace=scope, names=tuple(sorted(rule.resource_names)))
                        if not exceeding(bound_rules, [ask]):  # what admission would take, and nothing else
                            found.setdefault((policy.name, ask), None)
    return [Target(policy, ask) for policy, ask in found]


def matches(pattern: str, name: str) -> bool:
    """A glob (``db-*``) matches whole names; plain text matches names that contain it."""
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(name, pattern)
    return pattern in name


@dataclass(frozen=True)
class Row:
    resource: str  # 'pods/log', 'deployments.apps', '*'
    namespace: str  # '' cluster-wide
    name: str  # ANY for any name
    verbs: tuple[str, ...]
    policies: tuple[str, ...]
    unlisted: bool = False  # ANY because the user may not list this kind here

    def cells(self) -> list[str]:
        return [self.resource, self.namespace or CLUSTER, self.name, ",".join(self.verbs), ",".join(self.policies)]


def resource_text(ask: Ask) -> str:
    """'pods/log', 'deployments.apps', '*.apps': the kind of an ask as kubectl names it."""
    base, slash, sub = ask.full_resource.partition("/")
    return f"{base}.{ask.api_group}{slash}{sub}" if ask.api_group else ask.full_resource


def rows(found: Sequence[Target], listed: Callable[[Ask], Names], pattern: str = "") -> list[Row]:
    """The rows for ``found``: each listable kind's names (as ``listed`` lists them for the user), the
    rule's own names, or ANY (the bound's pattern) where names cannot be listed. Kinds that do not exist
    where they would be asked for (nodes in a namespace, an unknown group) are left out."""
    merged: dict[tuple[str, str, str], tuple[list[str], list[str], bool]] = {}

    def add(resource: str, namespace: str, name: str, verbs: Iterable[str], policy: str, unlisted: bool) -> None:
        seen = merged.setdefault((resource, namespace, name), ([], [], unlisted))
        seen[0].extend(v for v in verbs if v not in seen[0])
        if policy not in seen[1]:
            seen[1].append(policy)

    for target in found:
        ask, text = target.ask, resource_text(target.ask)
        if not target.listable:
            for name in ask.names or (ANY,):
                if name == ANY or matches(pattern, name):
                    add(text, ask.namespace, name, ask.verbs, target.policy, False)
            continue
        names = listed(ask)
        if not names.exists:
            continue
        if not names.allowed:
            add(text, ask.namespace, ANY, ask.verbs, target.policy, True)
            continue
        for _, name in names.found:
            if matches(pattern, name):
                add(text, ask.namespace, name, ask.verbs, target.policy, False)
    result = [Row(resource, namespace, name, tuple(verbs), tuple(policies), unlisted)
              for (resource, namespace, name), (verbs, policies, unlisted) in merged.items()]
    return sorted(result, key=lambda r: (r.namespace, r.resource, r.name == ANY, r.name))


def create_hint(row: Row) -> str:
    """The `request create` line that asks for ``row`` (its first verb; pods' subresources by kubectl's word)."""
    base, _, sub = row.resource.partition("/")
    verb = row.verbs[0] if row.verbs and row.verbs[0] != ALL else "get"
    words = {sub_: word for word, (_, sub_) in POD_VERBS.items()}
    flags = ""
    if sub and base == "pods" and sub in words:
        verb = words[sub]
    elif sub:
        flags = f" --subresource {sub}"
    name = f"/{row.name}" if row.name != ANY else ""
    where = f" -n {row.namespace}" if row.namespace else ""
    return f"--resource {base}{name} --verbs {verb}{flags}{where}"


def search(ctx: Context) -> int:
    args = ctx.args
    kind = Kind.parse(args.kind)
    me = ctx.kube.whoami()
    policies = [p for p in readable_policies(ctx.kube.list_policies()) if p.requesters.contains(me)]
    names = sorted({bound.cluster_role for p in policies for bound in p.resources})
    rules = {name: ctx.kube.role_rules(RoleKey("ClusterRole", name)) for name in names}
    unreadable = [name for name in names if rules[name] is None]
    if unreadable:
        ctx.say(f"Cannot read ClusterRole {', '.join(unreadable)} (a policy's resource bound) as {me.username}; "
                "what it allows is not shown.")
    cache: dict[tuple[str, str, str], Names] = {}

    def listed(ask: Ask) -> Names:
        key = (ask.api_group, ask.resource, ask.namespace)
        if key not in cache:
            cache[key] = ctx.kube.list_names(ask.api_group, ask.resource, ask.namespace, LIST_LIMIT)
        return cache[key]

    found = rows(targets(policies, me, rules, kind=kind, namespace=args.namespace), listed, args.pattern)
    if not found:
        what = f" {args.kind}" if args.kind else ""
        where = f" in {args.namespace}" if args.namespace else ""
        ctx.say(f"No AccessPolicy lets {me.username} ask for resources{what}{where}"
                + (f" named like {args.pattern!r}" if args.pattern else "") + ".")
        return OK
    ctx.out.write(output.table(COLUMNS, [row.cells() for row in found]))
    ctx.out.flush()
    truncated = sorted({f"{a}{'.' + g if g else ''} in {ns or CLUSTER}" for (g, a, ns), n in cache.items() if n.more})
    if truncated:
        ctx.say(f"Only the first {LIST_LIMIT} names of {', '.join(truncated)} are shown: narrow with NAME-PATTERN.")
    hidden = sorted({f"{r.resource.partition('/')[0]} in {r.namespace or CLUSTER}" for r in found if r.unlisted})
    if hidden:
        ctx.say(f"You may not list {', '.join(hidden)}, so no names are shown there: ask for a name you know, "
                "or for any name.")
    ctx.say(f"Ask with: {ctx.command('request', 'create', create_hint(found[0]), '--reason=...')}")
    return OK
