"""Which kubeconfig a client reads, and the error for one it cannot use: client-go's rules, kubectl's too.

Nothing here imports the Kubernetes client, so the kubectl plugin (which reads kubeconfigs itself) and
``gatepass.kube.connection`` (which hands them to the client) share these without the plugin paying for it.
"""

from __future__ import annotations

import os

__all__ = ["ConfigError", "kubeconfig_path"]


class ConfigError(ValueError):
    """No usable kubeconfig or in-cluster configuration; ``str()`` is one line saying why."""


def kubeconfig_path(kubeconfig: str | None = None) -> str:
    """The kubeconfig file (or ``os.pathsep``-separated files) a client reads: the one named, else
    ``$KUBECONFIG``, else ``~/.kube/config``."""
    return kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
