"""Turning raw objects, as kopf and the Kubernetes client hand them over, into models.

``parse_object`` validates a raw object with the same model that generates its
CRD. A failure is an ``InvalidObject`` whose ``str()`` is one line naming the
first bad field and what it must be (``spec.request must be a string (Name of
the AccessRequest reviewed)``), never pydantic's own multi-line report. That
conversion, ``one_line``, is the only one: admission, the reconciler and the
tools all say it the same way.
"""

from __future__ import annotations

import functools
import json
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError, create_model
from pydantic.fields import FieldInfo

from .accesspolicy import AccessPolicy
from .accessrequest import AccessRequest
from .accessreview import AccessReview
from .base import ApiModel, CustomResource
from .common import CONDITION_TYPE_PATTERN, DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN

R = TypeVar("R", bound=CustomResource)

#: Every kind Gatepass defines, in the order the CRDs are generated.
RESOURCES: tuple[type[CustomResource], ...] = (AccessPolicy, AccessRequest, AccessReview)

#: Longest message parse_object gives (user input is quoted in it, so it is bounded).
MAX_MESSAGE_LENGTH = 480
MAX_NAME_IN_MESSAGE = 253
MAX_KEY_IN_PATH = 63
MAX_HINT_LENGTH = 120
#: How deep parse_object looks into an object (the schemas are less than half as deep).
MAX_DEPTH = 32

#: Plain-English readings of the patterns the schemas use.
PATTERNS = {
    DNS_LABEL_PATTERN: "a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit",
    DNS_SUBDOMAIN_PATTERN: "a lowercase DNS name: letters, digits, '-' and '.', starting and ending with a "
                           "letter or digit",
    CONDITION_TYPE_PATTERN: "a condition type such as Approved or example.com/Ready",
    r"^[A-Z0-9]+$": "a Slack user ID such as U024BE7LH (capital letters and digits)",
    r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$": "a CamelCase word such as ReviewsMet",
}

_TIME_EXAMPLE = "2026-01-01T09:00:00Z"
#: What a value of the wrong type should have been, by pydantic error type.
EXPECTED = {
    "model_type": "an object",
    "model_attributes_type": "an object",
    "dict_type": "an object",
    "dataclass_type": "an object",
    "string_type": "a string",
    "string_unicode": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "datetime_type": f"a time in RFC 3339 form, such as {_TIME_EXAMPLE}",
    "datetime_parsing": f"a time in RFC 3339 form, such as {_TIME_EXAMPLE}",
    "datetime_from_date_parsing": f"a time in RFC 3339 form, such as {_TIME_EXAMPLE}",
    "datetime_object_invalid": f"a time in RFC 3339 form, such as {_TIME_EXAMPLE}",
    "timezone_aware": f"a time with a time zone, such as {_TIME_EXAMPLE}",
}
_TYPE_ERRORS = frozenset(EXPECTED) | {"missing"}
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)\.(\s|$)")
_PARENTHESES = re.compile(r"\s*\([^()]*\)")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class InvalidObject(ValueError):
    """An object does not match its schema. ``str()`` is one line naming the object and the first bad field;
    ``problems`` has one line per problem found."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


def parse_object(model: type[R], obj: Mapping[str, Any], *, strict: bool = False) -> R:
    """Validate a raw object (a dict, or kopf's body) against ``model``.

    Raises InvalidObject with a one-line message such as
    ``AccessRequest "bob-dba" is invalid: spec.duration: '1d' is not a duration like 90m, ...``.
    ``strict``: JSON's types exactly, as the API server's schema checks them ("2" is not an integer);
    for objects that have not been through the API server's validation yet, such as in admission.
    """
    data = _plain(obj)
    if not isinstance(data, dict):
        raise InvalidObject(f"{model.resource.kind} is invalid: the object must be an object, "
                            f"not {_json_type(data)}")
    return _validated(model, data, strict=strict)


def parse_stored(model: type[R], obj: Mapping[str, Any]) -> R:
    """parse_object for an object the API server has stored (so validated already): the same model and
    the same one-line errors, without parse_object's deep copy (pydantic reads mapping views as they are).
    What the operator reads at run time, over and over (gatepass.api.values)."""
    return _validated(model, obj, strict=False)


def _validated(model: type[R], data: Mapping[str, Any], *, strict: bool) -> R:
    kind = data.get("kind")
    if kind and kind != model.resource.kind:
        label = _label(model.resource.kind, data)
        raise InvalidObject(_bounded(f"{label} is invalid: kind is {_quote(kind)}, expected {model.resource.kind!r}"))
    try:
        if strict:
            _strict_twin(model).model_validate_json(json.dumps(data), strict=True)
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        problems = [describe(error, model) for error in errors]
        label = _label(model.resource.kind, data)
        raise InvalidObject(_bounded(f"{label} is invalid: {one_line(exc, model)}"), problems) from None


def one_line(error: ValidationError, model: type[BaseModel] | None = None) -> str:
    """A pydantic ValidationError as one line: the first problem, and how many more there are.

    ``model`` (the class validated) adds what the field is for to a wrong-type problem.
    """
    errors = error.errors(include_url=False, include_input=False)
    if not errors:
        return "the object is invalid"
    line = describe(errors[0], model)
    if len(errors) > 1:
        more = len(errors) - 1
        line += f" (and {more} more problem{'s' if more > 1 else ''})"
    return _bounded(line)


def describe(error: Mapping[str, Any], model: type[BaseModel] | None = None) -> str:
    """One pydantic error (an item of ``ValidationError.errors()``) as a line: the field as a dotted path
    and what it must be, in plain English."""
    loc = tuple(error.get("loc") or ())
    path = field_path(loc)
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind in _TYPE_ERRORS:
        expectation = "is required" if kind == "missing" else f"must be {EXPECTED[kind]}"
        hint = _hint(model, loc) if model is not None else ""
        return _bounded(f"{path} {expectation}" + (f" ({hint})" if hint else ""))
    expectation = _expectation(kind, ctx)
    if expectation:
        return _bounded(f"{path} {expectation}")
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        message = str(ctx["error"])
    else:
        message = str(error.get("msg", "is invalid")).replace("Input should be", "must be")
    return _bounded(f"{path}: {message}" if loc else message)


def field_path(loc: Sequence[Any]) -> str:
    """``("spec", "roles", 0, "name")`` as ``spec.roles[0].name``; odd keys (labels, annotations) quoted."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _PLAIN_KEY.match(str(part)) and len(str(part)) <= MAX_KEY_IN_PATH:
            path += f".{part}" if path else str(part)
        else:
            path += f"[{_quote(str(part), MAX_KEY_IN_PATH)}]"
    return path or "the object"


@functools.cache
def _strict_twin(model: type[BaseModel]) -> type[BaseModel]:
    """``model``'s fields without its before-validator (which hands pydantic Python values, where strict
    validation refuses a time as a string): validated from JSON, strictly, it checks JSON's types exactly."""
    fields: dict[str, Any] = {name: (info.annotation, info) for name, info in model.model_fields.items()}
    return create_model(f"Strict{model.__name__}", __base__=ApiModel, **fields)


def model_for_kind(kind: str) -> type[CustomResource]:
    """The model class of a Gatepass kind."""
    for model in RESOURCES:
        if model.resource.kind == kind:
            return model
    known = ", ".join(model.resource.kind for model in RESOURCES)
    raise InvalidObject(_bounded(f"{_quote(kind)} is not a Gatepass kind (expected one of {known})"))


def parse_any(obj: Mapping[str, Any]) -> CustomResource:
    """Validate a raw object of any Gatepass kind, chosen by its ``kind``."""
    return parse_object(model_for_kind(str(obj.get("kind", ""))), obj)


def _expectation(kind: str, ctx: Mapping[str, Any]) -> str:
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return "must not be empty" if n == 1 else f"must have at least {n} characters"
    if kind == "string_too_long":
        return f"must have at most {ctx.get('max_length')} characters"
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        return f"must have at {'least' if kind == 'too_short' else 'most'} {n} item{'' if n == 1 else 's'}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return f"must be {PATTERNS[pattern]}" if pattern in PATTERNS else f"must match the pattern {pattern}"
    if kind in ("enum", "literal_error"):
        return f"must be {ctx.get('expected')}"
    bounds = {"greater_than_equal": ("ge", "at least"), "greater_than": ("gt", "more than"),
              "less_than_equal": ("le", "at most"), "less_than": ("lt", "less than")}
    if kind in bounds:
        key, words = bounds[kind]
        return f"must be {words} {ctx.get(key)}"
    return ""


def _hint(model: type[BaseModel], loc: Sequence[Any]) -> str:
    """The first sentence of the description of the field at ``loc``, if it is short."""
    info = _field_at(model, loc)
    description = (info.description or "") if info is not None else ""
    sentence = _SENTENCE_END.split(description, maxsplit=1)[0]
    while _PARENTHESES.search(sentence):
        sentence = _PARENTHESES.sub("", sentence)
    sentence = sentence.strip()
    return sentence if 0 < len(sentence) <= MAX_HINT_LENGTH else ""


def _field_at(model: type[BaseModel], loc: Sequence[Any]) -> FieldInfo | None:
    """The pydantic field a location points at (list items and map values are their field's)."""
    current: Any = model
    info: FieldInfo | None = None
    for part in loc:
        current = _unwrap(current)
        origin = typing.get_origin(current)
        if origin in (list, tuple, set, frozenset) and isinstance(part, int):
            current = (typing.get_args(current) or (Any,))[0]
            continue
        if origin is dict:
            current = (typing.get_args(current) or (Any, Any))[-1]
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or isinstance(part, int):
            return None
        info = next((f for name, f in current.model_fields.items() if part in (name, f.alias)), None)
        if info is None:
            return None
        current = info.annotation
    return info


def _unwrap(annotation: Any) -> Any:
    """``X | None`` and ``Annotated[X, ...]`` as X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _plain(value: Any, depth: int = 0) -> Any:
    """Deep copy into plain dicts and lists (kopf's bodies are read-only mapping views).

    Below MAX_DEPTH a dict or list is copied empty: no schema goes that deep, so whatever is there is wrong
    already at a shallower field, which is the one reported (and nothing recurses without bound)."""
    kind = type(value)  # JSON's own types first: what admission parses (the ABC checks cost more)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is dict:
        if depth >= MAX_DEPTH:
            return {}
        return {k if type(k) is str else str(k): _plain(v, depth + 1) for k, v in value.items()}
    if kind is list:
        return [_plain(v, depth + 1) for v in value] if depth < MAX_DEPTH else []
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()} if depth < MAX_DEPTH else {}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
        return [_plain(v, depth + 1) for v in value] if depth < MAX_DEPTH else []
    return value


def _label(kind: str, data: Mapping[str, Any]) -> str:
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if isinstance(name, str) and 0 < len(name) <= MAX_NAME_IN_MESSAGE and re.fullmatch(DNS_SUBDOMAIN_PATTERN, name):
        return f'{kind} "{name}"'
    return kind


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "an object"


def _quote(text: Any, limit: int = 60) -> str:
    """User input, quoted safely for a one-line message: escaped (no control or invisible characters) and cut."""
    quoted = json.dumps(str(text))
    return quoted if len(quoted) <= limit else quoted[:limit - 2] + '…"'


def _bounded(line: str) -> str:
    """One line (whitespace runs, newlines included, become one space), at most MAX_MESSAGE_LENGTH long."""
    line = " ".join(line.split())
    return line if len(line) <= MAX_MESSAGE_LENGTH else line[:MAX_MESSAGE_LENGTH - 1] + "…"
