"""CertificateSigningRequests for certificate-mode grants: read at the edge, decided by the core, answered.

The watch keeps the pending CSRs of the client signer in ``Store.csrs`` and queues each as ``csr/<name>``;
the leader's worker reads one here: spec.request is parsed with ``cryptography`` into CsrFacts (CN, O),
the request its grant group names into GrantFacts, and gatepass.core.credentials.csr_verdict says whether
to approve it or to deny it and why. The answer goes through the ``approval`` subresource. A CSR that is
not ours (another signer, no gatepass:grant: group, or a request that cannot be read) is left alone for
whoever it belongs to, never denied; a CSR that is ours but wrong is denied with a one-line message, never
a traceback.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from gatepass.api import values
from gatepass.core.credentials import (CLIENT_SIGNER, CSR_REQUEST_LABEL, CsrFacts, GrantFacts, csr_verdict, is_ours,
                                       requested_uid)

from .kubeio import Kube
from .store import Store

logger = logging.getLogger("gatepass.csrs")

#: Queue keys of CSRs (a request's name cannot contain "/").
CSR_KEY = "csr/"
_DECISIONS = ("Approved", "Denied", "Failed")


def pending(body: Mapping) -> bool:
    """Whether a CSR is the client signer's and has no decision yet (the only ones worth keeping)."""
    spec, status = body.get("spec") or {}, body.get("status") or {}
    if spec.get("signerName") != CLIENT_SIGNER:
        return False
    return not any(c.get("type") in _DECISIONS for c in status.get("conditions") or ())


def read_csr(body: Mapping) -> CsrFacts | None:
    """The CSR's facts, or None when it is not ours (or its spec.request does not parse: then nobody's)."""
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    try:
        pem = base64.b64decode(spec.get("request") or "", validate=True)
        request = x509.load_pem_x509_csr(pem)
        subject = request.subject
        common_names = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        organizations = tuple(str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    except (ValueError, TypeError, binascii.Error):
        return None
    if not is_ours(str(spec.get("signerName") or ""), organizations):
        return None
    expiration = spec.get("expirationSeconds")
    return CsrFacts(
        name=str(meta.get("name") or ""),
        signer=str(spec.get("signerName")),
        filer=str(spec.get("username") or ""),
        common_name=common_names[0] if len(common_names) == 1 else ", ".join(common_names),
        organizations=organizations,
        usages=tuple(str(usage) for usage in spec.get("usages") or ()),
        expiration_seconds=expiration if isinstance(expiration, int) else None,
    )


def find_request(store: Store, hint: str, uid: str) -> dict | None:
    """The stored AccessRequest with metadata.uid ``uid``: the one named ``hint`` (the CSR's label, for
    display only, so it is checked), else looked for among them all (by their heads, none unpacked)."""
    if hint:
        head = store.requests.head(hint)
        if head is not None and head[0] == uid:
            return store.requests.get(hint)
    for name in list(store.requests):
        head = store.requests.head(name)
        if head is not None and head[0] == uid:
            return store.requests.get(name)
    return None


class CsrApprover:
    """Decides the pending CSRs of grants, one at a time per CSR (the work queue's)."""

    def __init__(self, kube: Kube, store: Store, clock: Callable[[], datetime]) -> None:
        self.kube, self.store, self.clock = kube, store, clock

    async def __call__(self, name: str) -> None:
        body = self.store.csrs.get(name)
        if body is None or not pending(body):
            self.store.csrs.pop(name, None)
            return
        facts = read_csr(body)
        if facts is None:
            self.store.csrs.pop(name, None)
            logger.debug("Left CertificateSigningRequest %s alone: not for a grant", name)
            return
        grant = self._grant(body, facts)
        verdict = csr_verdict(facts, grant, self.clock())
        answered = await self.kube.answer_csr(name, body, verdict.approve, verdict.reason, verdict.message,
                                              self.clock())
        self.store.csrs.pop(name, None)
        if answered is None:
            return  # deleted, or decided by someone else meanwhile
        if verdict.approve:
            logger.info("Approved CertificateSigningRequest %s of %s: %s", name, facts.filer, verdict.message)
        else:
            logger.info("Denied CertificateSigningRequest %s of %s (%s): %s", name, facts.filer, verdict.reason,
                        verdict.message)

    def _grant(self, body: Mapping, facts: CsrFacts) -> GrantFacts | None:
        uid = requested_uid(facts)
        hint = ((body.get("metadata") or {}).get("labels") or {}).get(CSR_REQUEST_LABEL, "")
        request = find_request(self.store, hint, uid or "") if uid else None
        return values.grant(request) if request is not None else None
