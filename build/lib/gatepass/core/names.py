"""The names Gatepass owns in the Kubernetes API, written once.

The API group and version of the three kinds, their plurals, and the prefix
of every label and annotation key Gatepass reads or writes. Everything that
builds a URL, a manifest or a key imports these; none spells them again.
"""

from __future__ import annotations

GROUP = "gatepass.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# kind -> plural (the URL segment and the resource RBAC names)
REQUESTS, REVIEWS, POLICIES = "accessrequests", "accessreviews", "accesspolicies"
PLURALS: dict[str, str] = {"AccessRequest": REQUESTS, "AccessReview": REVIEWS, "AccessPolicy": POLICIES}

KEY_PREFIX = f"{GROUP}/"  # of Gatepass's labels and annotations
