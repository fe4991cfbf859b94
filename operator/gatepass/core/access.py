"""One API request, as RBAC and a SelfSubjectAccessReview see it: what a Forbidden error names, what a
resource request asks for, what the operator must hold. Plain data; it imports nothing of Gatepass."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Access:
    """One API request: what a Forbidden error names.

    ``resource`` includes the subresource ("pods/exec"); ``namespace`` is empty
    at the cluster scope; ``path`` is set instead of a resource for a
    non-resource URL such as /metrics.
    """

    verb: str
    resource: str = ""
    api_group: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def is_resource(self) -> bool:
        return not self.path

    def describe(self) -> str:
        """'list secrets in namespace payments', 'get path /metrics', 'list nodes cluster-wide'."""
        if not self.is_resource:
            return f"{self.verb} path {self.path}"
        what = self.resource
        if self.api_group:
            base, slash, sub = what.partition("/")
            what = f"{base}.{self.api_group}{slash}{sub}"
        if self.name:
            what += f" {self.name}"
        where = f"in namespace {self.namespace}" if self.namespace else "cluster-wide"
        return f"{self.verb} {what} {where}"
