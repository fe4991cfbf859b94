"""Token-mode grants: the ServiceAccount the bindings name, its token in a Secret only the requester reads.

While the grant is live (Granted), the operator makes sure of the ServiceAccount, a Role and RoleBinding
that let the requester `get` the one Secret, and the Secret itself, holding a token of the ServiceAccount
(a TokenRequest of gatepass.core.credentials.lifetime_seconds) and its expiry. When the grant ends they
are deleted with the bindings: deleting the ServiceAccount invalidates its token at once, and the token
expires on its own if the operator is not there to do it. The manifests are the core's
(gatepass.core.credentials); this module only writes them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from kubernetes.client import ApiException

from gatepass.core.conditions import GRANTED, is_true
from gatepass.core.credentials import CredentialMode, mode_of, token_objects, token_request, token_secret
from gatepass.core.grants import request_label
from gatepass.core.lifecycle import TERMINAL, State
from gatepass.core.reconcile import Plan
from gatepass.core.timestamps import parse_optional_time
from gatepass.core.types import Request

from .kubeio import Kube

logger = logging.getLogger("gatepass.tokens")


def _record(status: Mapping) -> Mapping | None:
    record = status.get("credential")
    if not isinstance(record, Mapping) or mode_of(record.get("mode")) is not CredentialMode.TOKEN:
        return None
    if not all(record.get(key) for key in ("namespace", "serviceAccount", "secret")):
        return None
    return record


async def sync(kube: Kube, request: Request, old_status: Mapping, plan: Plan, now) -> bool:
    """Makes the token-mode grant's objects what ``plan`` says: there while it is live, gone once it ended
    (deleted when its end is decided, before that is written, as its bindings are; an error deleting is
    raised, to be retried). False when a live grant's objects could not be made (said in one line): the
    status is written all the same, and the request is to be tried again with a backoff."""
    record = _record(plan.status)
    if record is None:
        return True
    live = plan.state is State.Approved and is_true(plan.status.get("conditions"), GRANTED)
    if live:
        try:
            await _ensure(kube, request, record, plan, now)
        except ApiException as error:
            logger.warning("Could not make the token of request %s in namespace %s: %s", request.name,
                           record["namespace"], error)
            return False
    elif plan.state in TERMINAL and (old_status.get("state") not in {state.value for state in TERMINAL}
                                     or plan.bindings_to_delete):
        await remove(kube, request, record)
    return True


async def _ensure(kube: Kube, request: Request, record: Mapping, plan: Plan, now) -> None:
    if await kube.read_secret(record["namespace"], record["secret"]) is not None:
        return  # made whole before: the Secret is made last
    label = request_label(request.name)
    for manifest in token_objects(record, request.requester.username, label, request.name, request.uid):
        if await kube.create_namespaced(manifest):
            logger.info("Created %s %s/%s for request %s", manifest["kind"], record["namespace"],
                        manifest["metadata"]["name"], request.name)
    expires_at = parse_optional_time(plan.status.get("expiresAt"))
    if expires_at is None:
        return
    issued = await kube.request_token(record["namespace"], record["serviceAccount"], token_request(expires_at, now))
    secret = token_secret(record, issued.get("token", ""), issued.get("expirationTimestamp", ""), label,
                          request.name, request.uid)
    if await kube.create_namespaced(secret):
        logger.info("Created Secret %s/%s with the token of request %s until %s", record["namespace"],
                    record["secret"], request.name, issued.get("expirationTimestamp", ""))


async def remove(kube: Kube, request: Request, record: Mapping) -> None:
    """Deletes the grant's ServiceAccount first (its token stops working), then the Secret and its Role."""
    namespace = record["namespace"]
    for kind, name in (("ServiceAccount", record["serviceAccount"]), ("Secret", record["secret"]),
                       ("RoleBinding", record["secret"]), ("Role", record["secret"])):
        await kube.delete_namespaced(kind, namespace, name)
    logger.info("Deleted ServiceAccount %s/%s and the Secret of its token for request %s", namespace,
                record["serviceAccount"], request.name)
