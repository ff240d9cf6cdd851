"""A provider's request body as its published types declare it, and a check of a body against it.

The fake providers refuse with these checks what the real APIs refuse; the catalog generator reads the same
declarations to work out each model's allowed values and wire forms. Declarations come from the recorded
sources (see sources.py), never from the adapters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["string", "integer", "number", "boolean", "object", "array"]
Scalar = str | int | bool
IssueType = Literal["missing", "extra", "type", "literal", "range", "too_long", "empty", "exclusive"]


@dataclass(frozen=True)
class Field:
    """One field of a request body. An empty `kinds` accepts any JSON value."""

    name: str
    kinds: tuple[Kind, ...] = ()
    required: bool = False
    values: tuple[Scalar, ...] = ()  # the literal alternatives, when the type is a union of literals
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    length_unit: Literal["characters", "utf16"] = "characters"
    non_empty: bool = False
    default: Scalar | None = None
    doc: str = ""
    fields: tuple[Field, ...] = ()  # an object's own fields, when declared
    one_of: tuple[str, ...] = ()  # of an object's fields, exactly one must be present

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kinds": list(self.kinds)}
        if self.required:
            out["required"] = True
        for name in ("minimum", "maximum", "max_length", "default"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.values:
            out["values"] = list(self.values)
        if self.length_unit != "characters":
            out["length_unit"] = self.length_unit
        if self.non_empty:
            out["non_empty"] = True
        if self.fields:
            out["fields"] = {f.name: f.to_json() for f in self.fields}
        if self.one_of:
            out["one_of"] = list(self.one_of)
        if self.doc:
            out["doc"] = self.doc
        return out

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> Field:
        return cls(
            name=name,
            kinds=tuple(data.get("kinds", ())),
            required=bool(data.get("required", False)),
            values=tuple(data.get("values", ())),
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
            max_length=data.get("max_length"),
            length_unit=data.get("length_unit", "characters"),
            non_empty=bool(data.get("non_empty", False)),
            default=data.get("default"),
            doc=str(data.get("doc", "")),
            fields=tuple(cls.from_json(k, v) for k, v in (data.get("fields") or {}).items()),
            one_of=tuple(data.get("one_of", ())),
        )


@dataclass(frozen=True)
class Schema:
    """A request body: its declared fields. Anything undeclared is refused (see validate)."""

    fields: tuple[Field, ...]

    def get(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {f.name: f.to_json() for f in self.fields}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Schema:
        return cls(tuple(Field.from_json(name, value) for name, value in data.items()))


@dataclass(frozen=True)
class Issue:
    """Why a body does not match: `path` names the field on the wire (e.g. ("parameters", "aspectRatio"))."""

    path: tuple[str | int, ...]
    type: IssueType
    message: str
    value: Any = None
    expected: tuple[Scalar, ...] = field(default=())


def prompt_length(text: str, unit: Literal["characters", "utf16"]) -> int:
    """Length as the provider counts it: Runway counts UTF-16 code units (an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2 if unit == "utf16" else len(text)


# In order: a bool is an int to isinstance, so it is asked about first.
_KINDS: tuple[tuple[type, Kind], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (Mapping, "object"),
    (list, "array"),
)


def _kind_of(value: Any) -> Kind | None:
    return next((kind for python_type, kind in _KINDS if isinstance(value, python_type)), None)


def _kind_matches(value: Any, kinds: Sequence[Kind]) -> bool:
    actual = _kind_of(value)
    return not kinds or actual in kinds or (actual == "integer" and "number" in kinds)


def _literal(values: Sequence[Scalar]) -> str:
    return " or ".join(repr(v) if isinstance(v, str) else str(v) for v in values)


def check_field(spec: Field, value: Any, path: tuple[str | int, ...]) -> list[Issue]:
    """Issues with one present value. Types are strict: 5 is not "5", and True is not 1."""
    # A union of literals is checked as pydantic does: by value and type at once (5 is not "5").
    if spec.values and not any(value == v and type(value) is type(v) for v in spec.values):
        return [Issue(path, "literal", f"must be {_literal(spec.values)}", value, spec.values)]
    if not _kind_matches(value, spec.kinds):
        return [Issue(path, "type", f"must be of type {' or '.join(spec.kinds)}", value)]
    issues: list[Issue] = []
    integer = isinstance(value, int) and not isinstance(value, bool)
    if integer and (
        (spec.minimum is not None and value < spec.minimum)
        or (spec.maximum is not None and value > spec.maximum)
    ):
        issues.append(Issue(path, "range", f"must be from {spec.minimum} to {spec.maximum}", value))
    if isinstance(value, str):
        if spec.non_empty and not value:
            issues.append(Issue(path, "empty", "must not be empty", value))
        if spec.max_length is not None and prompt_length(value, spec.length_unit) > spec.max_length:
            unit = "UTF-16 code units" if spec.length_unit == "utf16" else "characters"
            issues.append(Issue(path, "too_long", f"must be at most {spec.max_length} {unit}", value))
    if isinstance(value, Mapping) and spec.fields:
        issues.extend(validate(Schema(spec.fields), value, path))
        present = [name for name in spec.one_of if name in value]
        if spec.one_of and len(present) != 1:
            issues.append(
                Issue(path, "exclusive", f"must carry exactly one of {', '.join(spec.one_of)}", value)
            )
    return issues


def validate(schema: Schema, body: Mapping[str, Any], path: tuple[str | int, ...] = ()) -> list[Issue]:
    """Every issue with `body`: missing required fields, undeclared fields, wrong types and values.

    Undeclared fields are refused although some providers ignore them: an adapter must never rely on a
    field the model does not read (that is how a spec gets silently dropped).
    """
    issues: list[Issue] = []
    for spec in schema.fields:
        if spec.name in body:  # null is a value like any other: it must match the declared type
            issues.extend(check_field(spec, body[spec.name], (*path, spec.name)))
        elif spec.required:
            issues.append(Issue((*path, spec.name), "missing", "is required"))
    declared = {f.name for f in schema.fields}
    issues.extend(
        Issue((*path, name), "extra", "is not a field of this model", body[name])
        for name in body
        if name not in declared
    )
    return issues
