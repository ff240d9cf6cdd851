"""The model catalog: record the providers' published types, and generate models.json and the README table.

    python scripts/gen_catalog.py            # regenerate models.json and the README table from the sources
    python scripts/gen_catalog.py --refresh  # first re-record the sources from the pinned packages (network)
    python scripts/gen_catalog.py --check    # offline: exit 1 if anything below is stale (`make lint`)

Sources, in provider_service/catalog/sources/ (see sources.py there):
- fal: the input type of every offered endpoint, copied verbatim (with its aliases) from `src/types/
  endpoints.d.ts` of the npm package @fal-ai/client at the version and integrity pinned in offered.toml.
  --refresh downloads it with `npm pack` and refuses a tarball whose sha512 differs from the pin.
- Runway: runwayml's typed params (text_to_video_create_params, image_to_video_create_params), read with
  typing introspection from the installed SDK (a pinned dev dependency); field docstrings, which carry the
  ranges the types cannot (e.g. "an integer from 2 to 10"), are read from the same module's source.
- Veo: google-genai's GenerateVideosSource/GenerateVideosConfig run through the SDK's own Vertex request
  converter, one field at a time, which gives each field's place and name on the wire and its type.

--check re-reads runwayml and google-genai from the installed packages and compares them with what is
recorded, checks that the fal excerpt is the pinned version, and regenerates models.json and the README
table in memory; it needs no network.
"""

from __future__ import annotations

import argparse
import ast
import base64
import enum
import hashlib
import inspect
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import types as pytypes
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typing_extensions

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provider_service.catalog import build, sources  # noqa: E402
from provider_service.catalog.wire import Field, Kind, Scalar, Schema  # noqa: E402

README = ROOT / "README.md"
CATALOG = ROOT / "provider_service" / "catalog" / "models.json"


def dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# -- fal: the npm package's type declarations ------------------------------------------------------------


def fetch_fal_declarations(package: str, version: str, integrity: str) -> str:
    """endpoints.d.ts of the pinned package, downloaded with npm and checked against the pinned sha512."""
    with tempfile.TemporaryDirectory() as tmp:
        packed = subprocess.run(  # noqa: S603 - fixed argv
            ["npm", "pack", f"{package}@{version}", "--json", "--pack-destination", tmp],  # noqa: S607
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
        filename = json.loads(packed.stdout)[0]["filename"]
        tarball = Path(tmp) / filename
        digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        if digest != integrity:
            raise SystemExit(f"{package}@{version}: tarball sha512 {digest} is not the pinned {integrity}")
        with tarfile.open(tarball) as archive:
            member = archive.extractfile(f"package/{sources.offered()['fal']['file']}")
            if member is None:
                raise SystemExit(f"{package}@{version} has no {sources.offered()['fal']['file']}")
            return member.read().decode()


def fal_excerpt(declarations: str, endpoints: Iterable[str], header: dict[str, str]) -> str:
    """The input type of each endpoint, verbatim with the aliases it goes through, and nothing else."""
    lines = declarations.splitlines()
    starts = {
        match.group(1): index
        for index, line in enumerate(lines)
        if (match := re.match(r"^export type (\w+) = ", line))
    }
    out = [
        f"// Recorded from {header['package']} {header['version']}, {header['file']}",
        f"// (npm tarball integrity {header['integrity']}).",
        "// Written by `python scripts/gen_catalog.py --refresh`; do not edit. Each offered endpoint's input",
        "// type, copied verbatim with every alias it goes through.",
        "",
    ]
    blocks: list[str] = []
    for endpoint in endpoints:
        match = re.search(rf'^    "{re.escape(endpoint)}": {{\n        input: (\w+);', declarations, re.M)
        if not match:
            raise SystemExit(f"{endpoint} is not in {header['package']} {header['version']}")
        out.append(f"// endpoint {endpoint} input {match.group(1)}")
        name: str | None = match.group(1)
        while name is not None:
            start = starts[name]
            alias = re.match(r"^export type \w+ = (\w+);$", lines[start])
            end = start
            while not alias and lines[end] != "};":
                end += 1
            block = "\n".join(lines[start : end + 1])
            if block not in blocks:
                blocks.append(block)
            name = alias.group(1) if alias else None
    return "\n".join([*out, "", *blocks]) + "\n"


# -- Runway: runwayml's typed params ---------------------------------------------------------------------

_RANGE = re.compile(r"Must be an integer from (\d+) to (\d+)")
_UTF16 = re.compile(r"up to (\d+) characters \(measured in UTF-16 code units\)")


def _docstrings(module: pytypes.ModuleType) -> dict[tuple[str, str], str]:
    """(class, field) -> the docstring written under the field, from the module's source."""
    found: dict[tuple[str, str], str] = {}
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not isinstance(node, ast.ClassDef):
            continue
        for current, following in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(current, ast.AnnAssign)
                and isinstance(current.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                found[(node.name, current.target.id)] = inspect.cleandoc(following.value.value)
    return found


def _python_field(name: str, hint: Any, doc: str, docs: dict[tuple[str, str], str]) -> Field:
    required = False
    alias = name
    while True:
        origin = typing.get_origin(hint)
        if origin in (typing.Required, typing.NotRequired):
            required = origin is typing.Required
            hint = typing.get_args(hint)[0]
        elif origin is typing.Annotated:
            for extra in hint.__metadata__:
                alias = getattr(extra, "alias", None) or alias
            hint = typing.get_args(hint)[0]
        else:
            break
    kinds, values, nested = _python_kinds(hint, docs)
    field = Field(
        name=alias,
        kinds=kinds,
        required=required,
        values=values,
        doc=_constraint_paragraphs(doc),
        fields=nested,
    )
    if match := _RANGE.search(doc):
        field = Field(**{**field.__dict__, "minimum": int(match.group(1)), "maximum": int(match.group(2))})
    if match := _UTF16.search(doc):
        field = Field(**{**field.__dict__, "max_length": int(match.group(1)), "length_unit": "utf16"})
    if "A non-empty string" in doc:
        field = Field(**{**field.__dict__, "non_empty": True})
    return field


def _python_kinds(
    hint: Any, docs: dict[tuple[str, str], str]
) -> tuple[tuple[Kind, ...], tuple[Scalar, ...], tuple[Field, ...]]:
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        values = typing.get_args(hint)
        kinds: list[Kind] = []
        for value in values:
            kind: Kind = (
                "boolean" if isinstance(value, bool) else "integer" if isinstance(value, int) else "string"
            )
            if kind not in kinds:
                kinds.append(kind)
        return tuple(kinds), tuple(values), ()
    if origin in (typing.Union, pytypes.UnionType):
        all_kinds: list[Kind] = []
        for member in typing.get_args(hint):
            for kind in _python_kinds(member, docs)[0]:
                if kind not in all_kinds:
                    all_kinds.append(kind)
        return tuple(all_kinds), (), ()
    if origin is not None and origin is not typing.Literal and isinstance(origin, type):
        if issubclass(origin, dict):
            return ("object",), (), ()
        return ("array",), (), ()  # Iterable[...], list[...]
    simple: dict[Any, Kind] = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if hint in simple:
        return (simple[hint],), (), ()
    if typing_extensions.is_typeddict(hint):
        return ("object",), (), _typeddict_fields(hint, docs)
    if hint is object:
        return (), (), ()
    raise SystemExit(f"runwayml: no reading for the type {hint!r}")


def _typeddict_fields(cls: Any, docs: dict[tuple[str, str], str]) -> tuple[Field, ...]:
    hints = typing.get_type_hints(cls, include_extras=True)
    return tuple(
        _python_field(name, hint, docs.get((cls.__name__, name), ""), docs) for name, hint in hints.items()
    )


def read_runwayml(models: Iterable[str]) -> dict[str, Any]:
    import runwayml
    from runwayml.types import image_to_video_create_params, text_to_video_create_params

    wanted = set(models)
    endpoints: dict[str, Any] = {}
    for endpoint, module, union in (
        ("text_to_video", text_to_video_create_params, text_to_video_create_params.TextToVideoCreateParams),
        (
            "image_to_video",
            image_to_video_create_params,
            image_to_video_create_params.ImageToVideoCreateParams,
        ),
    ):
        docs = _docstrings(module)
        endpoints[endpoint] = {}
        for cls in typing.get_args(union):
            hints = typing.get_type_hints(cls, include_extras=True)
            model_hint = hints["model"]
            while typing.get_origin(model_hint) in (typing.Required, typing.Annotated):
                model_hint = typing.get_args(model_hint)[0]
            (model,) = typing.get_args(model_hint)
            if model in wanted:
                fields = _typeddict_fields(cls, docs)
                endpoints[endpoint][model] = {
                    "class": f"{module.__name__.rsplit('.', 1)[1]}.{cls.__name__}",
                    "fields": Schema(fields).to_json(),
                }
    missing = wanted - {m for models_ in endpoints.values() for m in models_}
    if missing:
        raise SystemExit(f"runwayml {runwayml.__version__} has no typed params for {sorted(missing)}")
    return {
        "package": "runwayml",
        "version": runwayml.__version__,
        "read_with": "typing.get_type_hints(include_extras=True) on the TypedDicts of "
        "runwayml.types.text_to_video_create_params and image_to_video_create_params; minimum, maximum, "
        "max_length and non_empty come from the field docstrings quoted in `doc`",
        "endpoints": endpoints,
    }


# -- Veo: google-genai's request converter ---------------------------------------------------------------


def _leaves(data: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every scalar in a converted request by its path, list items as their index ("instances", "0", ...)."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else None
    if items is None:
        return {path: data}
    out: dict[tuple[str, ...], Any] = {}
    for key, value in items:
        out.update(_leaves(value, (*path, str(key))))
    return out


def _pydantic_field(name: str, annotation: Any, doc: str) -> Field:
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    (hint,) = args
    simple: dict[Any, Kind] = {
        str: "string",
        int: "integer",
        float: "number",
        bool: "boolean",
        bytes: "string",
    }
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return Field(name, ("string",), values=tuple(m.value for m in hint), doc=doc)
    return Field(name, (simple[hint],), doc=" ".join(doc.split()))


def _constraint_paragraphs(doc: str) -> str:
    """The first paragraph of a field docstring and any other that states a limit we read."""
    paragraphs = doc.split("\n\n")
    kept = [p for i, p in enumerate(paragraphs) if i == 0 or _RANGE.search(p) or _UTF16.search(p)]
    return " ".join(" ".join(kept).split())


def read_google_genai() -> dict[str, Any]:
    from google import genai
    from google.genai import models, types

    def convert(**kwargs: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "config" in kwargs:
            models._GenerateVideosConfig_to_vertex(types.GenerateVideosConfig(**kwargs["config"]), out)
        else:
            models._GenerateVideosSource_to_vertex(types.GenerateVideosSource(**kwargs["source"]), out)
        return out

    parameters: list[Field] = []
    for name, info in types.GenerateVideosConfig.model_fields.items():
        try:
            probe = _pydantic_field(name, info.annotation, info.description or "")
        except (KeyError, ValueError):
            continue  # objects (images, masks, webhooks): not part of what we send
        sample: Any = {"string": "x", "integer": 7, "number": 0.5, "boolean": True}[probe.kinds[0]]
        if probe.values:
            sample = probe.values[0]
        try:
            wire = _leaves(convert(config={name: sample}))
        except ValueError:
            continue  # refused in Vertex mode by the SDK itself
        for path in wire:
            if path[0] == "parameters" and len(path) == 2:
                parameters.append(Field(**{**probe.__dict__, "name": path[1]}))
    image_fields: list[Field] = []
    for name, info in types.Image.model_fields.items():
        probe = _pydantic_field(name, info.annotation, info.description or "")
        sample = b"x" if name == "image_bytes" else "x"
        for path in _leaves(convert(source={"image": types.Image(**{name: sample})})):
            if path[:3] != ("instances", "0", "image"):
                raise SystemExit(f"google-genai writes Image.{name} at {path}, not under instances[0].image")
            # bytes travel as base64 text in JSON
            image_fields.append(Field(**{**probe.__dict__, "name": path[3], "kinds": ("string",)}))
    prompt_info = types.GenerateVideosSource.model_fields["prompt"]
    (prompt_path,) = _leaves(convert(source={"prompt": "x"}))
    image_doc = " ".join((types.GenerateVideosSource.model_fields["image"].description or "").split())
    instance = [
        _pydantic_field(prompt_path[-1], prompt_info.annotation, prompt_info.description or ""),
        # "can contain a value for this field or the image_bytes field but not both" (one_of below)
        Field(
            "image",
            ("object",),
            fields=tuple(image_fields),
            one_of=("gcsUri", "bytesBase64Encoded"),
            doc=image_doc,
        ),
    ]
    return {
        "package": "google-genai",
        "version": genai.__version__,
        "read_with": "each scalar field of GenerateVideosConfig, and the prompt and image of "
        "GenerateVideosSource, passed alone through google.genai.models._GenerateVideosConfig_to_vertex / "
        "_GenerateVideosSource_to_vertex; types from the pydantic annotations",
        "instance": Schema(tuple(instance)).to_json(),
        "parameters": Schema(tuple(parameters)).to_json(),
    }


# -- generation and checks -------------------------------------------------------------------------------


def recorded_runway() -> dict[str, Any]:
    recorded: dict[str, Any] = json.loads(sources.RUNWAY_TYPES.read_text())
    return recorded


def recorded_google() -> dict[str, Any]:
    recorded: dict[str, Any] = json.loads(sources.GOOGLE_TYPES.read_text())
    return recorded


def refresh() -> None:
    fal = sources.offered()["fal"]
    declarations = fetch_fal_declarations(fal["package"], fal["version"], fal["integrity"])
    endpoints = [m["id"] for m in fal["models"]]
    sources.FAL_TYPES.write_text(fal_excerpt(declarations, endpoints, fal))
    runway_models = [m["id"] for m in sources.offered()["runway"]["models"]]
    sources.RUNWAY_TYPES.write_text(dump(read_runwayml(runway_models)))
    sources.GOOGLE_TYPES.write_text(dump(read_google_genai()))
    print(f"recorded {sources.FAL_TYPES.name}, {sources.RUNWAY_TYPES.name}, {sources.GOOGLE_TYPES.name}")


def check_sources() -> list[str]:
    problems: list[str] = []
    fal = sources.offered()["fal"]
    first = sources.FAL_TYPES.read_text().splitlines()[:2]
    if f"{fal['package']} {fal['version']}," not in first[0] or fal["integrity"] not in first[1]:
        problems.append(f"{sources.FAL_TYPES.name} is not {fal['package']}@{fal['version']} as pinned")
    recorded_endpoints = set(sources.fal_endpoints())
    offered_endpoints = {m["id"] for m in fal["models"]}
    if recorded_endpoints != offered_endpoints:
        problems.append(f"{sources.FAL_TYPES.name} does not hold exactly the offered fal endpoints")
    runway_models = [m["id"] for m in sources.offered()["runway"]["models"]]
    if read_runwayml(runway_models) != recorded_runway():
        problems.append(f"{sources.RUNWAY_TYPES.name} differs from the installed runwayml")
    if read_google_genai() != recorded_google():
        problems.append(f"{sources.GOOGLE_TYPES.name} differs from the installed google-genai")
    for section in ("runway", "veo"):
        pinned = sources.offered()[section]["version"]
        recorded = (recorded_runway() if section == "runway" else recorded_google())["version"]
        if pinned != recorded:
            problems.append(f"offered.toml pins {section} types at {pinned}, recorded from {recorded}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="exit 1 if anything is stale (offline)")
    group.add_argument("--refresh", action="store_true", help="re-record the sources first (network)")
    args = parser.parse_args()
    if args.refresh:
        refresh()
    catalog = dump(build.catalog())
    readme = build.with_readme_table(README.read_text(), build.catalog())
    if args.check:
        problems = check_sources()
        if CATALOG.read_text() != catalog:
            problems.append(f"{CATALOG.name} is stale")
        if README.read_text() != readme:
            problems.append("the model table in README.md is stale")
        for problem in problems:
            print(f"catalog: {problem}; run `make catalog`", file=sys.stderr)
        return 1 if problems else 0
    CATALOG.write_text(catalog)
    README.write_text(readme)
    print(f"wrote {CATALOG.relative_to(ROOT)} and the model table in README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
