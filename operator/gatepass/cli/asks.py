"""Resource asks: the ``spec.resources`` entries of an AccessRequest, from the command line or a refusal.

Each is a core ``Ask``; ``body`` writes one as the API takes it (``{apiGroup, resource, subresource,
namespace, names, verbs}``, see docs/resources.md). Two sources build them, both pure:

- ``from_flags``: ``request create --resource pods/db-1 --verbs get,logs -n payments``. ``--resource`` is
  kubectl's ``TYPE[.GROUP][/NAME]``; ``--verbs`` takes RBAC verbs and, for pods, kubectl's words for their
  subresources (``logs``, ``exec``, ``attach``, ``port-forward``: the verb RBAC checks on ``pods/log``,
  ``pods/exec`` ...).
- ``from_refusals``: what `kubectl access exec` asks for when a command was refused: exactly the refused
  requests (verb, resource, subresource, name, namespace), plus what kubectl is known to do next with the
  same pod (``kubectl logs db-1`` reads the pod, then its log: both are asked for at once, instead of one
  request per refusal).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

from gatepass.core.rbac import Access
from gatepass.core.resources import Ask

from .errors import CliError

#: kubectl's words for a pod's subresources, as ``--verbs`` takes them: word -> (RBAC verb, subresource).
POD_VERBS: Mapping[str, tuple[str, str]] = {
    "logs": ("get", "log"),
    "exec": ("create", "exec"),
    "attach": ("create", "attach"),
    "port-forward": ("create", "portforward"),
}
#: kubectl commands that read a pod and then use one of its subresources: command -> (RBAC verb, subresource).
KUBECTL_FOLLOWUPS: Mapping[str, tuple[str, str]] = {
    "logs": ("get", "log"),
    "exec": ("create", "exec"),
    "attach": ("create", "attach"),
    "port-forward": ("create", "portforward"),
    "cp": ("create", "exec"),
}


def body(ask: Ask) -> dict:
    """One ``spec.resources`` entry for the API, with the optional keys only when set."""
    entry: dict = {"apiGroup": ask.api_group, "resource": ask.resource}
    if ask.subresource:
        entry["subresource"] = ask.subresource
    if ask.namespace:
        entry["namespace"] = ask.namespace
    if ask.names:
        entry["names"] = list(ask.names)
    entry["verbs"] = list(ask.verbs)
    return entry


def parse_resource(text: str) -> tuple[str, str, str]:
    """``TYPE[.GROUP][/NAME]`` -> (API group, resource, name); CliError for anything else."""
    kind, slash, name = text.strip().partition("/")
    resource, _, group = kind.partition(".")
    if not resource or (slash and (not name or "/" in name)) or any(c.isspace() for c in text.strip()):
        raise CliError(f'invalid --resource "{text}": use TYPE[.GROUP][/NAME], e.g. pods/db-1 or '
                       "deployments.apps/web")
    return group, resource.lower(), name


def from_flags(resources: Sequence[str], verbs: Sequence[str], namespace: str = "",
               subresource: str = "") -> list[Ask]:
    """The entries ``--resource`` (repeated), ``--verbs``, ``-n`` and ``--subresource`` ask for.

    Entries for the same resource and verbs are merged (their names listed together); a pod word of
    ``--verbs`` (``logs`` ...) becomes its own entry on the pod's subresource.
    """
    if not resources:
        return []
    if not verbs:
        raise CliError("--resource needs --verbs (e.g. --verbs get,list)")
    merged: dict[tuple, list[str]] = {}
    for text in resources:
        group, resource, name = parse_resource(text)
        for verb in verbs:
            rbac_verb, sub = verb, subresource
            if verb in POD_VERBS:
                if (group, resource) != ("", "pods") or subresource:
                    raise CliError(f'--verbs {verb} applies to pods only (the {POD_VERBS[verb][1]} subresource); '
                                   f"for {resource} use RBAC verbs such as get, list, create")
                rbac_verb, sub = POD_VERBS[verb]
            key = (group, resource, sub, rbac_verb, bool(name))
            merged.setdefault(key, [])
            if name:
                merged[key].append(name)
    return _grouped((group, resource, sub, namespace, tuple(names), verb)
                    for (group, resource, sub, verb, _), names in merged.items())


def _grouped(asks: Iterable[tuple[str, str, str, str, tuple[str, ...], str]]) -> list[Ask]:
    """One ask per (group, resource, subresource, namespace, names), with the verbs of all its parts."""
    verbs: dict[tuple, list[str]] = {}
    for group, resource, sub, namespace, names, verb in asks:
        found = verbs.setdefault((group, resource, sub, namespace, tuple(dict.fromkeys(names))), [])
        if verb not in found:
            found.append(verb)
    return [Ask(resource=resource, verbs=tuple(vs), api_group=group, subresource=sub, namespace=namespace,
                names=names)
            for (group, resource, sub, namespace, names), vs in verbs.items()]


def kubectl_command(command: Sequence[str]) -> str:
    """The kubectl command word of ``command`` (``logs`` in ``kubectl --context bob logs db-1``); '' when
    ``command`` is not kubectl or names none of ``KUBECTL_FOLLOWUPS``."""
    if not command or os.path.basename(command[0]) not in ("kubectl", "oc"):
        return ""
    for word in command[1:]:
        if word == "--":
            break
        if word in KUBECTL_FOLLOWUPS:
            return word
    return ""


def followups(accesses: Sequence[Access], command: Sequence[str]) -> list[Access]:
    """What kubectl will do next once the refused ``accesses`` are allowed: after reading a named pod,
    ``kubectl logs`` reads its log, ``kubectl exec`` creates an exec on it, and so on."""
    known = KUBECTL_FOLLOWUPS.get(kubectl_command(command))
    if known is None:
        return []
    verb, sub = known
    found = []
    for access in accesses:
        if access.is_resource and access.verb == "get" and access.resource == "pods" and not access.api_group \
                and access.name:
            found.append(Access(verb=verb, resource=f"pods/{sub}", namespace=access.namespace, name=access.name))
    return [a for a in found if a not in accesses]


def from_refusals(accesses: Sequence[Access], command: Sequence[str] = ()) -> list[Ask]:
    """The least a request must ask for so that the refused ``accesses`` (and kubectl's known next step)
    are allowed: each as refused, merged only where resource, namespace and name are the same.

    CliError for a non-resource URL (/metrics ...): only roles can grant those.
    """
    paths = [a for a in accesses if not a.is_resource]
    if paths:
        raise CliError(f"a resource request cannot ask for {paths[0].describe()}: non-resource URLs are "
                       "granted only by roles")
    wanted = list(accesses) + followups(accesses, command)
    return _grouped((a.api_group, *_split(a.resource), a.namespace, (a.name,) if a.name else (), a.verb)
                    for a in wanted)


def _split(resource: str) -> tuple[str, str]:
    base, _, sub = resource.partition("/")
    return base, sub


def describe(asked: Iterable[Ask]) -> str:
    """'get pods db-1 in payments; get pods/log db-1 in payments'."""
    return "; ".join(ask.describe() for ask in asked)
