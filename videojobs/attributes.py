"""A dataclass or a proto message built from an object whose attributes carry its fields under the same names
(a database row, a proto message, a domain value). Only the fields that are converted or named differently
are spelled out at the call, so they stand out instead of hiding among the plain copies (the idea of
pydantic's `from_attributes`)."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

from google.protobuf.message import Message

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")
M = TypeVar("M", bound=Message)


def from_attributes(cls: type[T], source: object, /, *, source_prefix: str = "", **given: Any) -> T:
    """`cls(**given)` with each other field of the dataclass read from the attribute of `source` of the same
    name (after `source_prefix`: settings name a group's fields `webhook_concurrency`, `webhook_...`).

    A field `source` lacks raises AttributeError, even where the field has a default: every field not given
    must be in `source`, so a column or proto field dropped on one side is not silently defaulted."""
    copied = {
        field.name: getattr(source, source_prefix + field.name)
        for field in fields(cls)
        if field.init and field.name not in given
    }
    return cls(**copied, **given)


def message_from_attributes(cls: type[M], source: object, /, **given: Any) -> M:
    """`cls(**given)` with each other field of the proto message read from the attribute of `source` of the
    same name; as strict as from_attributes."""
    copied = {
        field.name: getattr(source, field.name) for field in cls.DESCRIPTOR.fields if field.name not in given
    }
    return cls(**copied, **given)
