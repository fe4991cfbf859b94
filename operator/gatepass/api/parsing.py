"""Turning raw objects, as kopf and the Kubernetes client hand them over, into models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import ValidationError

from .accesspolicy import AccessPolicy
from .accessrequest import AccessRequest
from .accessreview import AccessReview
from .base import CustomResource

R = TypeVar("R", bound=CustomResource)

#: Every kind Gatepass defines, in the order the CRDs are generated.
RESOURCES: tuple[type[CustomResource], ...] = (AccessPolicy, AccessRequest, AccessReview)

MAX_REPORTED_ERRORS = 5


class InvalidObject(ValueError):
    """An object does not match its schema. ``str()`` is one line naming the object and the fields."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


def parse_object(model: type[R], obj: Mapping[str, Any]) -> R:
    """Validate a raw object (a dict, or kopf's body) against ``model``.

    Raises InvalidObject with a one-line message such as
    ``AccessRequest "bob-dba" is invalid: spec.duration: '1d' is not a duration like 90m, ...``.
    """
    data = _plain(obj)
    if not isinstance(data, dict):
        raise InvalidObject(f"{model.resource.kind}: expected an object, got {type(obj).__name__}")
    label = _label(model.resource.kind, data)
    kind = data.get("kind")
    if kind and kind != model.resource.kind:
        raise InvalidObject(f"{label} is invalid: kind is {kind!r}, expected {model.resource.kind!r}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(error) for error in exc.errors(include_url=False, include_input=False)]
        raise InvalidObject(f"{label} is invalid: {_join(problems)}", problems) from None


def model_for_kind(kind: str) -> type[CustomResource]:
    """The model class of a Gatepass kind."""
    for model in RESOURCES:
        if model.resource.kind == kind:
            return model
    known = ", ".join(model.resource.kind for model in RESOURCES)
    raise InvalidObject(f"{kind!r} is not a Gatepass kind (expected one of {known})")


def parse_any(obj: Mapping[str, Any]) -> CustomResource:
    """Validate a raw object of any Gatepass kind, chosen by its ``kind``."""
    return parse_object(model_for_kind(str(obj.get("kind", ""))), obj)


def _plain(value: Any) -> Any:
    """Deep copy into plain dicts and lists (kopf's bodies are read-only mapping views)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
        return [_plain(v) for v in value]
    return value


def _label(kind: str, data: Mapping[str, Any]) -> str:
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return f'{kind} "{name}"' if name else kind


def _describe(error: Any) -> str:
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{path}: {message}" if path else message


def _join(problems: list[str]) -> str:
    shown = "; ".join(problems[:MAX_REPORTED_ERRORS])
    if len(problems) > MAX_REPORTED_ERRORS:
        shown += f"; and {len(problems) - MAX_REPORTED_ERRORS} more"
    return " ".join(shown.split())
