"""The recorded sources of the catalog, read into request schemas per provider and model.

    sources/offered.toml              the models we offer and what their types do not say (hand-written)
    sources/fal-client.endpoints.d.ts fal's input types, from the npm package @fal-ai/client (recorded)
    sources/runwayml.json             Runway's typed params, read from the runwayml SDK (recorded)
    sources/google-genai.json         Veo's request fields, read from the google-genai SDK (recorded)

`scripts/gen_catalog.py --refresh` records the last three from the pinned packages. The fake providers
validate every request against these schemas; the catalog generator derives each model's limits from them.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from provider_service.catalog import typescript
from provider_service.catalog.wire import Field, Schema

SOURCES = Path(__file__).resolve().parent / "sources"
OFFERED = SOURCES / "offered.toml"
FAL_TYPES = SOURCES / "fal-client.endpoints.d.ts"
RUNWAY_TYPES = SOURCES / "runwayml.json"
GOOGLE_TYPES = SOURCES / "google-genai.json"

_ENDPOINT_LINE = re.compile(r"^// endpoint (\S+) input (\w+)$")


@cache
def offered() -> dict[str, Any]:
    with OFFERED.open("rb") as file:
        return tomllib.load(file)


def offered_model(provider: str, model: str) -> dict[str, Any]:
    found = [m for m in offered()[provider]["models"] if m["id"] == model]
    if not found:
        raise KeyError(f"{provider} model {model!r} is not in {OFFERED.name}")
    return dict(found[0])


# -- fal ----------------------------------------------------------------------------------------------


@cache
def _fal() -> tuple[dict[str, str], typescript.Declarations]:
    text = FAL_TYPES.read_text()
    endpoints = {m.group(1): m.group(2) for line in text.splitlines() if (m := _ENDPOINT_LINE.match(line))}
    return endpoints, typescript.parse(text)


def fal_endpoints() -> dict[str, str]:
    """Endpoint id -> the name of its input type, as recorded."""
    return dict(_fal()[0])


def fal_schema(endpoint: str) -> Schema:
    """The endpoint's input as @fal-ai/client declares it, with the documented prompt limit."""
    endpoints, declarations = _fal()
    schema = declarations.schema(endpoints[endpoint])
    limit = offered_model("fal", endpoint).get("max_prompt_chars")
    return _with(schema, "prompt", max_length=limit) if limit else schema


def fal_input_type(endpoint: str) -> str:
    endpoints, declarations = _fal()
    return declarations.resolve(endpoints[endpoint])


# -- Runway -------------------------------------------------------------------------------------------


@cache
def _runway() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RUNWAY_TYPES.read_text())
    return data


def runway_endpoints(model: str) -> list[str]:
    """The endpoints (text_to_video, image_to_video) whose typed params accept `model`."""
    return [endpoint for endpoint, models in _runway()["endpoints"].items() if model in models]


def runway_class(endpoint: str, model: str) -> str:
    return str(_runway()["endpoints"][endpoint][model]["class"])


def runway_schema(endpoint: str, model: str) -> Schema:
    """One model's params on one endpoint, as the runwayml SDK types them (with the documented duration
    range where the SDK says only `int`)."""
    schema = Schema.from_json(_runway()["endpoints"][endpoint][model]["fields"])
    duration_range = offered_model("runway", model).get("duration_range")
    duration = schema.get("duration")
    if duration_range and duration is not None and duration.minimum is None and not duration.values:
        schema = _with(schema, "duration", minimum=duration_range[0], maximum=duration_range[1])
    return schema


# -- Veo ----------------------------------------------------------------------------------------------


@cache
def _google() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GOOGLE_TYPES.read_text())
    return data


def vertex_schemas(model: str) -> tuple[Schema, Schema]:
    """(instance, parameters) of a Vertex predictLongRunning body for `model`: the fields and types
    google-genai writes, with the values Google documents for that model."""
    limits = offered_model("veo", model)
    instance = Schema.from_json(_google()["instance"])
    parameters = Schema.from_json(_google()["parameters"])
    durations = tuple(int(d) for d in limits["durations"])
    parameters = _with(parameters, "durationSeconds", values=durations)
    parameters = _with(parameters, "aspectRatio", values=tuple(limits["aspect_ratios"]))
    parameters = _with(parameters, "resolution", values=tuple(limits["resolutions"]))
    if not limits["audio"]:
        parameters = Schema(tuple(f for f in parameters.fields if f.name != "generateAudio"))
    return instance, parameters


def google_source() -> dict[str, Any]:
    return {k: v for k, v in _google().items() if k not in ("instance", "parameters")}


def runway_source() -> dict[str, Any]:
    return {k: v for k, v in _runway().items() if k != "endpoints"}


def _with(schema: Schema, name: str, **changes: Any) -> Schema:
    return Schema(tuple(replace(f, **changes) if f.name == name else f for f in schema.fields))


def field_of(schema: Schema, name: str) -> Field:
    found = schema.get(name)
    if found is None:
        raise KeyError(f"no field {name!r}")
    return found
