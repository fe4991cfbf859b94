"""Reading the user's kubeconfig as kubectl does: gatepass.kube.kubeconfig, which the operator reads it with too."""

from gatepass.kube.kubeconfig import ConfigError, Credentials, Endpoint, load, resolve

__all__ = ["ConfigError", "Credentials", "Endpoint", "load", "resolve"]
