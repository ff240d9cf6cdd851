"""Reads fal's input types from TypeScript declarations (`@fal-ai/client`, src/types/endpoints.d.ts).

Only the subset those declarations use: `export type Name = { field?: Type; ... };` with a `/** doc */` before
each field, and aliases `export type Name = Other;`. A type is a union of string or number literals,
`string`, `number`, `boolean`, `Blob`/`File` (uploads the client turns into URLs), arrays and named types.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from provider_service.catalog.wire import Field, Kind, Scalar, Schema

_TYPE_START = re.compile(r"^export type (\w+) = (.*)$")
_FIELD = re.compile(r"^    (\w+)(\??):\s*(.*)$")
_DEFAULT = re.compile(r"Default value: `(.+?)`")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


class TypeScriptError(ValueError):
    """The declarations do not have the shape this reader knows."""


@dataclass(frozen=True)
class Declarations:
    """Object types by name and aliases by name, as declared."""

    objects: dict[str, list[tuple[str, bool, str, str]]]  # name -> [(field, optional, type text, doc)]
    aliases: dict[str, str]

    def resolve(self, name: str) -> str:
        seen = set()
        while name in self.aliases:
            if name in seen:
                raise TypeScriptError(f"alias loop at {name}")
            seen.add(name)
            name = self.aliases[name]
        if name not in self.objects:
            raise TypeScriptError(f"type {name} is not declared")
        return name

    def schema(self, name: str) -> Schema:
        return Schema(tuple(_field(*declared) for declared in self.objects[self.resolve(name)]))


def parse(text: str) -> Declarations:
    objects: dict[str, list[tuple[str, bool, str, str]]] = {}
    aliases: dict[str, str] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = _TYPE_START.match(lines[index])
        index += 1
        if not match:
            continue
        name, rest = match.groups()
        if rest != "{":
            alias = rest.rstrip(";").strip()
            if not re.fullmatch(r"\w+", alias):
                raise TypeScriptError(f"{name}: unsupported type expression {alias!r}")
            aliases[name] = alias
            continue
        fields: list[tuple[str, bool, str, str]] = []
        doc: list[str] = []
        while index < len(lines) and lines[index] != "};":
            line = lines[index]
            index += 1
            stripped = line.strip()
            if stripped.startswith(("/**", "*/")) or stripped == "*":
                continue
            if stripped.startswith("* "):
                doc.append(stripped[2:])
                continue
            field = _FIELD.match(line)
            if not field:
                raise TypeScriptError(f"{name}: cannot read {line!r}")
            type_text = field.group(3)
            while not type_text.endswith(";"):  # a union written over lines
                if index >= len(lines) or lines[index] == "};" or _FIELD.match(lines[index]):
                    raise TypeScriptError(f"{name}: {line.strip()!r} does not end")
                type_text += " " + lines[index].strip()
                index += 1
            fields.append((field.group(1), field.group(2) == "?", type_text.rstrip(";"), " ".join(doc)))
            doc = []
        index += 1
        objects[name] = fields
    return Declarations(objects, aliases)


def _alternatives(type_text: str) -> list[str]:
    """Top-level `|` alternatives (not those inside <...>, (...) or {...})."""
    parts, depth, current = [], 0, ""
    for char in type_text:
        if char in "<({[":
            depth += 1
        elif char in ">)}]":
            depth -= 1
        if char == "|" and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return [p for p in parts if p]


def _field(name: str, optional: bool, type_text: str, doc: str) -> Field:
    kinds: set[Kind] = set()
    values: list[Scalar] = []
    for alternative in _alternatives(type_text):
        if alternative.startswith('"'):
            kinds.add("string")
            values.append(json.loads(alternative))
        elif _NUMBER.match(alternative):
            kinds.add("number" if "." in alternative else "integer")
            values.append(json.loads(alternative))
        elif alternative in ("true", "false"):
            kinds.add("boolean")
            values.append(alternative == "true")
        elif alternative in ("string", "Blob", "File"):
            kinds.add("string")
        elif alternative == "number":
            kinds.add("number")
        elif alternative == "boolean":
            kinds.add("boolean")
        elif alternative.endswith("[]") or alternative.startswith("Array<"):
            kinds.add("array")
        elif alternative in ("unknown", "any"):
            kinds.clear()
            values.clear()
            break
        else:
            kinds.add("object")  # a named type or an inline object
    # Literals only constrain when every alternative is one (`"auto" | string` accepts any string).
    literal_only = all(
        a.startswith('"') or _NUMBER.match(a) or a in ("true", "false") for a in _alternatives(type_text)
    )
    default_text = _DEFAULT.search(doc)
    default: Scalar | None = None
    if default_text:
        try:
            default = json.loads(default_text.group(1))
        except ValueError:
            default = None
    order: tuple[Kind, ...] = ("string", "integer", "number", "boolean", "object", "array")
    return Field(
        name=name,
        kinds=tuple(k for k in order if k in kinds),
        required=not optional,
        values=tuple(values) if literal_only else (),
        default=default if isinstance(default, str | int | bool) else None,
        doc=doc,
    )
