"""Reading the user's kubeconfig as kubectl does: gatepass.kube.kubeconfig, which the operator reads it with too."""

from gatepass.kube.kubeconfig import ConfigError, ContextEntry, Credentials, Endpoint, context_entry, load, resolve

__all__ = ["ConfigError", "ContextEntry", "Credentials", "Endpoint", "context_entry", "load", "resolve"]
