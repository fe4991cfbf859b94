"""Admission of AccessPolicies: refused in one line when malformed or unworkable, accepted with a warning for
what the cluster does not have yet."""

from __future__ import annotations

import asyncio
import logging

from kubernetes.client import ApiException

from gatepass.api import AccessPolicy, AccessPolicySpec
from gatepass.api import values
from gatepass.core.grants import bind_targets, bind_warnings
from gatepass.core.policy_checks import ClusterFacts, check_policy, needed_reads
from gatepass.core.resources import MAX_BOUND_CHECKS, bound_accesses, bound_warnings, bounded, cluster_roles
from gatepass.core.types import Policy
from gatepass.rules import check_all as check_rules

from .cluster import Cluster
from .common import admit, refuse, spec_of

INVALID = "invalid AccessPolicy: "

logger = logging.getLogger("gatepass.admission")


class PolicyAdmission:
    """The mutating and validating webhooks of AccessPolicies, reading the cluster through ``cluster``."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    async def mutate(self, body, old=None, **_) -> None:
        """Changes nothing: refuses a malformed policy with one line before the API server's schema check."""
        admit(AccessPolicy, AccessPolicySpec, body, old, INVALID)

    async def validate(self, new, warnings, old=None, **_) -> None:
        admit(AccessPolicy, AccessPolicySpec, new, old, INVALID)
        try:
            policy = values.policy(new)
        except (ValueError, KeyError, TypeError) as error:
            refuse(f"{INVALID}{error}")
        error = await check_rules(policy.rules)  # in worker threads, within a time budget: never on the event loop
        if error is not None:
            refuse(f"{INVALID}{error}")
        findings = check_policy(policy, await self._facts(policy))
        # A policy stored before these checks existed may still have its metadata changed (a finalizer removed).
        unchanged = old is not None and spec_of(old) == spec_of(new)
        if findings.errors and not unchanged:
            refuse(f"{INVALID}{'; '.join(findings.errors)}")
        warnings.extend((*findings.errors, *findings.warnings))  # kubectl prints each: "Warning: ..."
        warnings.extend(await self._bind_warnings(policy))
        warnings.extend(await self._bound_warnings(policy))

    async def _bound_warnings(self, policy: Policy) -> list[str]:
        """Resource bounds within which the operator does not hold everything are accepted with a warning, like
        roles it may not bind: an administrator may bind the operator to the ClusterRole a moment later."""
        if not policy.resources:
            return []
        try:
            read = await self.cluster.cluster_role_rules(cluster_roles(policy.resources))
            (bounded_policy,) = bounded([policy], read)
            accesses = list(dict.fromkeys(access for bound in bounded_policy.resources
                                          for access in bound_accesses(bound)))[:MAX_BOUND_CHECKS]
            answers = await asyncio.gather(*(self.cluster.holds(access) for access in accesses))
        except ApiException as error:
            return [f"could not check what the operator holds of the resource bounds ({error.status} {error.reason}); "
                    "what it does not hold is never granted"]
        return bound_warnings(bounded_policy.resources, dict(zip(accesses, answers)))

    async def _bind_warnings(self, policy: Policy) -> list[str]:
        """A role the operator may not bind is accepted with a warning, not refused: an administrator may apply
        the policy together with the ClusterRole that allows it, which RBAC aggregation adds to
        gatepass-operator-bind only a moment later. Such a role is never bound until it is allowed."""
        targets = bind_targets(policy)
        try:
            answers = await asyncio.gather(*(self.cluster.may_bind(target) for target in targets))
        except ApiException as error:
            return [f"could not check which roles the operator may bind ({error.status} {error.reason}); "
                    "roles it may not bind are never granted"]
        return bind_warnings(policy, dict(zip(targets, answers)))

    async def _facts(self, policy: Policy) -> ClusterFacts:
        """Which of the namespaces, ClusterRoles and Roles ``policy`` names exist; what could not be read is
        None (logged, and the policy is not refused for it)."""
        cluster_roles, roles = needed_reads(policy)

        async def read(what: str, call):
            try:
                return await call
            except Exception as error:  # noqa: BLE001 - a failed read only means fewer warnings
                logger.warning("Could not read the %s AccessPolicy %s names: %s", what, policy.name,
                               getattr(error, "reason", None) or error)
                return None

        namespaces, existing, found = await asyncio.gather(
            read("namespaces", self.cluster.namespace_names()),
            read("ClusterRoles", self.cluster.existing_cluster_roles(cluster_roles)),
            read("Roles", self.cluster.role_namespaces(roles)),
        )
        return ClusterFacts(namespaces=namespaces, cluster_roles=existing, roles=found)
