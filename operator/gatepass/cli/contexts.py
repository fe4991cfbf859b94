"""Writing a grant's context into the user's kubeconfig, as ``kubectl config set-context`` would.

The context ``<user>@<request>`` uses the cluster of the context the user logged in from, and a user of
the same name that runs the exec credential plugin (``credentials.exec_user``). It goes into the file that
holds that context (the first of ``$KUBECONFIG``'s files to name it), which is rewritten atomically with its
mode kept; the current context is left as it is.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

from gatepass.kube.locations import ConfigError, kubeconfig_path

from .errors import CliError


def absolute_path(kubeconfig: str | None) -> str:
    """The kubeconfig path list (``--kubeconfig``, else ``$KUBECONFIG``, else ~/.kube/config), each file
    absolute, so that the exec plugin finds the same files from any directory."""
    return os.pathsep.join(os.path.abspath(part) for part in kubeconfig_path(kubeconfig).split(os.pathsep) if part)


def _load(path: str) -> dict:
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as error:
        raise CliError(f"cannot read kubeconfig {path}: {getattr(error, 'strerror', None) or 'not valid YAML'}") \
            from None
    return dict(data) if isinstance(data, Mapping) else {}


def file_of(kubeconfig: str, context: str) -> str:
    """The file of the path list that names ``context`` (else the first that exists)."""
    files = [part for part in kubeconfig.split(os.pathsep) if part]
    existing = [part for part in files if os.path.exists(part)]
    if len(existing) == 1:
        return existing[0]  # the usual case, read by nobody here: the exec plugin answers faster
    for part in existing:
        if any(isinstance(item, Mapping) and item.get("name") == context for item in _load(part).get("contexts") or ()):
            return part
    if not existing:
        raise CliError(f"kubeconfig {kubeconfig} not found; pass --kubeconfig or set KUBECONFIG")
    return existing[0]


def _put(items: Any, name: str, key: str, value: Mapping) -> list:
    """The named list (``clusters``, ``users``, ``contexts``) with ``name`` set to ``value``, in place."""
    entries = [item for item in items or () if isinstance(item, Mapping)]
    entry = {"name": name, key: dict(value)}
    for index, item in enumerate(entries):
        if item.get("name") == name:
            entries[index] = entry
            return entries
    return [*entries, entry]


def with_context(data: Mapping, name: str, cluster: str, namespace: str, user: Mapping) -> dict:
    """``data`` (a kubeconfig) with the context and user ``name``: ``cluster``, ``namespace``, ``user``."""
    out = dict(data)
    out.setdefault("apiVersion", "v1")
    out.setdefault("kind", "Config")
    context: dict = {"cluster": cluster, "user": name}
    if namespace:
        context["namespace"] = namespace
    out["users"] = _put(out.get("users"), name, "user", user)
    out["contexts"] = _put(out.get("contexts"), name, "context", context)
    return out


def write(path: str, data: Mapping) -> None:
    """Replace the kubeconfig at ``path`` with ``data``, atomically, keeping its mode (0600 for a new one).
    A symbolic link is followed: the file it points to is replaced, the link stays."""
    import yaml

    path = os.path.realpath(path)

    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
    directory = os.path.dirname(os.path.abspath(path))
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".kubeconfig.")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            yaml.safe_dump(dict(data), out, sort_keys=False, default_flow_style=False)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as error:
        raise CliError(f"cannot write kubeconfig {path}: {error.strerror or error}") from None


def add_context(kubeconfig: str, origin: str, name: str, cluster: str, namespace: str, user: Mapping) -> str:
    """Write context and user ``name`` into the file of ``kubeconfig`` that holds context ``origin``;
    the file written."""
    try:
        path = file_of(kubeconfig, origin)
    except ConfigError as error:
        raise CliError(str(error)) from None
    write(path, with_context(_load(path), name, cluster, namespace, user))
    return path


@contextlib.contextmanager
def current(kubeconfig: str, context: str) -> Iterator[str]:
    """A ``$KUBECONFIG`` value whose current context is ``context``: a private file that says only that,
    then the files of ``kubeconfig`` (client-go takes the first current-context set). Removed afterwards."""
    import yaml

    handle, path = tempfile.mkstemp(prefix="kubectl-access-", suffix=".kubeconfig")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": context}, out)
        yield os.pathsep.join([path, kubeconfig])
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)

