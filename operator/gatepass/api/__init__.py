"""The Gatepass API: schemas of the AccessPolicy, AccessRequest and AccessReview custom resources.

This package is pure data. It holds pydantic models for the three kinds (spec,
status, enums, printer columns and short names declared on the classes), the
generator that turns them into CustomResourceDefinitions (``crdgen``), the
parser that validates raw objects into models (``parsing``), and ``values``:
the one place an object of a Gatepass kind becomes the core's values, read
with the same models. It may use pydantic, PyYAML and the standard library,
and the pure core (gatepass.core) for the rules and names it states once (what
a duration is, the defaults, the API group); it may not import kopf, a
Kubernetes client, an HTTP library, or any other Gatepass package, and it does
no I/O except for the CRD generator's command line writing and comparing files.
The names below are imported on first use.
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .accesspolicy import (AccessPolicy, AccessPolicySpec, AccessPolicyStatus, RequestableRole, ResourceBound,
                               Threshold)
    from .accessrequest import (
        AccessRequest,
        AccessRequestSpec,
        AccessRequestStatus,
        BindingKind,
        BindingRef,
        ConditionType,
        OnBehalfOf,
        RequestState,
        ResourceRule,
        ReviewRecord,
        ReviewSource,
        RoleRef,
    )
    from .accessreview import AccessReview, AccessReviewSpec, AccessReviewStatus
    from .base import API_VERSION, GROUP, VERSION, CustomResource, ObjectMeta, PrinterColumn, ResourceInfo
    from .common import Condition, ConditionStatus, Decision, RoleKind, Subjects, UserInfo
    from .parsing import RESOURCES, InvalidObject, model_for_kind, parse_any, parse_object

__all__ = [
    "API_VERSION",
    "GROUP",
    "RESOURCES",
    "VERSION",
    "AccessPolicy",
    "AccessPolicySpec",
    "AccessPolicyStatus",
    "AccessRequest",
    "AccessRequestSpec",
    "AccessRequestStatus",
    "AccessReview",
    "AccessReviewSpec",
    "AccessReviewStatus",
    "BindingKind",
    "BindingRef",
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "CustomResource",
    "Decision",
    "InvalidObject",
    "ObjectMeta",
    "OnBehalfOf",
    "PrinterColumn",
    "RequestState",
    "RequestableRole",
    "ResourceBound",
    "ResourceInfo",
    "ResourceRule",
    "ReviewRecord",
    "ReviewSource",
    "RoleKind",
    "RoleRef",
    "Subjects",
    "Threshold",
    "UserInfo",
    "model_for_kind",
    "parse_any",
    "parse_object",
]

#: The modules the names above live in. They are imported on first use, so that importing one module
#: (gatepass.api.values, by the kubectl plugin as it starts) does not build every model.
_MODULES = ("base", "common", "accesspolicy", "accessrequest", "accessreview", "parsing")


def __getattr__(name: str) -> object:
    if name in __all__:
        for home in _MODULES:
            module = importlib.import_module(f".{home}", __name__)
            if name in vars(module):
                globals()[name] = value = vars(module)[name]
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
