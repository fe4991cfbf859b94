"""Where the API server is and who we are to it: a kubeconfig, or the pod's ServiceAccount.

The rules are client-go's, which kubectl follows: the kubeconfig named on the command line, else
``$KUBECONFIG`` (a list of files, merged), else ``~/.kube/config``; the context named, else the file's
current one. Inside a pod (``KUBERNETES_SERVICE_HOST`` set) with no kubeconfig named, no context named
and no kubeconfig file found, the pod's ServiceAccount and the cluster's CA are used instead.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from .locations import ConfigError, kubeconfig_path

if TYPE_CHECKING:
    import kubernetes

# The Kubernetes client is imported where a configuration is built, so importing this module stays cheap.

__all__ = ["ConfigError", "configuration", "kubeconfig_path"]


def _read_errors() -> tuple[type[BaseException], ...]:
    """What reading a kubeconfig can raise: ConfigException, and what the client trips over in odd files."""
    from kubernetes.config import ConfigException

    return (ConfigException, OSError, TypeError, AttributeError, KeyError, ValueError)


def configuration(kubeconfig: str | None = None, context: str | None = None, *,
                  in_cluster: bool | Literal["auto"] = "auto") -> kubernetes.client.Configuration:
    """A client configuration from ``kubeconfig`` and ``context``, as the module says.

    ``in_cluster``: "auto" as described; False never uses the in-cluster configuration (a tool a person
    runs); True always does. Raises ConfigError.
    """
    path = kubeconfig_path(kubeconfig)
    found = any(os.path.exists(part) for part in path.split(os.pathsep) if part)
    if in_cluster is True or (in_cluster == "auto" and not (kubeconfig or context or found)
                              and os.environ.get("KUBERNETES_SERVICE_HOST")):
        return _in_cluster()
    if not found:
        raise ConfigError(f"kubeconfig {path} not found; pass --kubeconfig or set KUBECONFIG")
    _check_context(path, context)
    import kubernetes

    config = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_kube_config(config_file=path, context=context, persist_config=False,
                                           client_configuration=config)
    except _read_errors() as error:
        raise ConfigError(f"cannot use kubeconfig {path}: {error}") from None
    return config


def _in_cluster() -> kubernetes.client.Configuration:
    import kubernetes

    config = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=config)
    except _read_errors() as error:
        raise ConfigError(f"cannot use the in-cluster configuration: {error}") from None
    return config


def _check_context(path: str, context: str | None) -> None:
    """The file reads as YAML and has the context asked for (or a current one), said in one line if not."""
    import kubernetes
    import yaml

    try:
        contexts, active = kubernetes.config.list_kube_config_contexts(config_file=path)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError(f"cannot read kubeconfig {path}: not valid YAML{line}") from None
    except _read_errors() as error:
        raise ConfigError(f"cannot read kubeconfig {path}: {error}") from None
    names = [entry.get("name") for entry in contexts or ()]
    if context and context not in names:
        raise ConfigError(f'context "{context}" not found in {path} (contexts: {", ".join(names) or "none"})')
    if not context and not active:
        raise ConfigError(f"{path} has no current context; pass --context")
