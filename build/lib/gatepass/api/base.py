"""Building blocks shared by the three custom resources.

``ApiModel`` fixes how every schema class maps Python names to the camelCase
field names of the Kubernetes API. ``ResourceInfo`` and ``PrinterColumn`` are
the class-level description of a kind (names, scope, ``kubectl get`` columns)
that the CRD generator reads. The small helpers at the bottom attach
Kubernetes schema extensions (list types, CEL rules) to pydantic fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from gatepass.core.names import API_VERSION, GROUP, PLURALS, VERSION

__all__ = ["API_VERSION", "GROUP", "VERSION", "ApiModel", "CustomResource", "ObjectMeta", "PrinterColumn",
           "ResourceInfo"]

ColumnType = Literal["string", "integer", "number", "boolean", "date"]


class ApiModel(BaseModel):
    """Base of every schema class: camelCase on the wire, snake_case in Python.

    Unknown fields are ignored rather than rejected, so an operator keeps
    reading objects written under a newer schema; the API server prunes
    unknown fields before they are stored anyway.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
    )

    def to_dict(self) -> dict[str, Any]:
        """The object as the API expects it: camelCase keys, JSON values, no nulls."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry: a column of ``kubectl get``."""

    name: str
    json_path: str
    type: ColumnType = "string"
    description: str = ""
    priority: int = 0
    format: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.format:
            out["format"] = self.format
        if self.description:
            out["description"] = self.description
        if self.priority:
            out["priority"] = self.priority
        return out


def age_column(name: str = "AGE") -> PrinterColumn:
    """The usual creation-time column (kubectl renders ``date`` columns as an age)."""
    return PrinterColumn(
        name, ".metadata.creationTimestamp", "date", "Time since the object was created."
    )


@dataclass(frozen=True)
class ResourceInfo:
    """Names, scope and presentation of one kind, declared on its model class."""

    kind: str
    plural: str = ""  # a Gatepass kind's is gatepass.core.names.PLURALS[kind]
    singular: str = ""  # the kind in lower case
    short_names: tuple[str, ...] = ()
    scope: Literal["Cluster", "Namespaced"] = "Cluster"
    categories: tuple[str, ...] = ("gatepass",)
    printer_columns: tuple[PrinterColumn, ...] = ()
    selectable_fields: tuple[str, ...] = ()
    group: str = GROUP
    version: str = VERSION

    def __post_init__(self) -> None:
        if not self.plural:
            object.__setattr__(self, "plural", PLURALS[self.kind])
        if not self.singular:
            object.__setattr__(self, "singular", self.kind.lower())

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


class ObjectMeta(ApiModel):
    """The part of ``metadata`` Gatepass reads. Other keys are ignored."""

    name: str = Field(description="Name of the object, unique within the cluster.")
    uid: str = Field("", description="Unique ID the API server assigned to the object.")
    generation: int = Field(0, description="Sequence number of the desired state (spec).")
    resource_version: str = Field("", description="Opaque version used for optimistic concurrency.")
    creation_timestamp: AwareDatetime | None = Field(None, description="When the object was created.")
    deletion_timestamp: AwareDatetime | None = Field(
        None, description="When the object was marked for deletion, if it was."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Labels of the object.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations of the object.")


class CustomResource(ApiModel):
    """A whole Gatepass object: apiVersion, kind, metadata, spec and status.

    Subclasses set ``resource`` and declare ``spec`` and ``status``.
    """

    resource: ClassVar[ResourceInfo]

    api_version: str = Field(
        API_VERSION,
        description="APIVersion defines the versioned schema of this representation of an object.",
    )
    kind: str = Field(
        "", description="Kind is a string value representing the REST resource this object represents."
    )
    metadata: ObjectMeta = Field(description="Standard object metadata.")

    @model_validator(mode="before")
    @classmethod
    def _fill_type_meta(cls, data: Any) -> Any:
        """apiVersion and kind default to this class's own."""
        if isinstance(data, dict) and hasattr(cls, "resource"):
            data = dict(data)
            if "apiVersion" not in data and "api_version" not in data:
                data["apiVersion"] = cls.resource.api_version
            data.setdefault("kind", cls.resource.kind)
        return data

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def created(self) -> datetime | None:
        return self.metadata.creation_timestamp


# --- Kubernetes schema extensions attached through json_schema_extra ---------------------------


def cel(rule: str, message: str, *, field_path: str = "", reason: str = "") -> dict[str, str]:
    """One ``x-kubernetes-validations`` entry."""
    out = {"rule": rule, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    if reason:
        out["reason"] = reason
    return out


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    return {"x-kubernetes-validations": list(rules)}


def listed(description: str, list_type: dict[str, Any], *, max_length: int | None = None) -> Any:
    """A list field that may be left out (then it is empty): ``list_type`` is set_list(), atomic_list() or
    map_list(...)."""
    return Field(default_factory=list, max_length=max_length, description=description, json_schema_extra=list_type)


def set_list() -> dict[str, Any]:
    """A list of unique scalars; server-side apply merges it item by item."""
    return {"x-kubernetes-list-type": "set"}


def atomic_list() -> dict[str, Any]:
    """A list replaced as a whole (order and duplicates kept)."""
    return {"x-kubernetes-list-type": "atomic"}


def map_list(*keys: str) -> dict[str, Any]:
    """A list of objects keyed by ``keys`` (which must be unique and required)."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


def unchanged(field_name: str) -> str:
    """CEL for a transition rule on the parent: ``field_name`` was not added, removed or changed."""
    f = field_name
    return f"(has(self.{f}) == has(oldSelf.{f})) && (!has(self.{f}) || self.{f} == oldSelf.{f})"
