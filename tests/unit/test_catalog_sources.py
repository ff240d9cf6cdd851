"""The catalog's sources are read as the providers wrote them, and the drift check notices staleness."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from provider_service.catalog import build, sources, typescript

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gen_catalog() -> ModuleType:
    # scripts/ has no __init__.py: from the repository root (on sys.path in tests) it is a namespace package.
    return importlib.import_module("scripts.gen_catalog")


def test_fal_declarations_are_read_with_their_literals_defaults_and_aliases() -> None:
    schema = sources.fal_schema("fal-ai/kling-video/v2.1/master/text-to-video")
    duration = schema.get("duration")
    assert duration is not None
    assert (duration.values, duration.default, duration.required) == (("5", "10"), "5", False)
    prompt = schema.get("prompt")
    assert prompt is not None
    assert (prompt.required, prompt.max_length) == (True, 2500)  # the limit from the docs, in offered.toml
    # KlingVideoV21MasterTextToVideoInput = KlingVideoV15ProTextToVideoInput = { ... }
    assert sources.fal_input_type("fal-ai/kling-video/v2.1/master/text-to-video") == (
        "KlingVideoV15ProTextToVideoInput"
    )


def test_typescript_reader_handles_unions_over_lines_and_refuses_what_it_cannot_read() -> None:
    declarations = typescript.parse(
        "export type A = B;\n"
        "export type B = {\n"
        "    /**\n"
        "     * Side. Default value: `4`\n"
        "     */\n"
        "    side?:\n"
        "        | 4\n"
        "        | 8;\n"
        '    mode: "auto" | string;\n'
        "    image_url: string | Blob | File;\n"
        "};\n"
    )
    side, mode, image = declarations.schema("A").fields
    assert (side.kinds, side.values, side.default) == (("integer",), (4, 8), 4)
    assert (mode.kinds, mode.values) == (("string",), ())  # "auto" | string takes any string
    assert (image.kinds, image.required) == (("string",), True)
    with pytest.raises(typescript.TypeScriptError):
        typescript.parse("export type C = {\n    x?: number\n    garbage\n};\n")


def test_runway_limits_come_from_the_sdk_docstrings() -> None:
    duration = sources.runway_schema("text_to_video", "gen4.5").get("duration")
    assert duration is not None
    assert (duration.required, duration.minimum, duration.maximum) == (True, 2, 10)
    assert "Must be an integer from 2 to 10" in duration.doc
    turbo = sources.runway_schema("image_to_video", "gen4_turbo").get("duration")
    assert turbo is not None
    assert (turbo.required, turbo.minimum, turbo.maximum) == (False, 2, 10)  # range from the docs


def test_the_drift_check_passes_on_the_repository(
    gen_catalog: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["gen_catalog.py", "--check"])
    assert gen_catalog.main() == 0


def test_the_drift_check_fails_on_a_stale_catalog_or_readme(
    gen_catalog: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "argv", ["gen_catalog.py", "--check"])
    stale = json.loads(gen_catalog.CATALOG.read_text())
    stale["models"][0]["modes"]["text_to_video"]["durations"].append(30)
    catalog = tmp_path / "models.json"
    catalog.write_text(json.dumps(stale))
    monkeypatch.setattr(gen_catalog, "CATALOG", catalog)
    assert gen_catalog.main() == 1

    monkeypatch.setattr(gen_catalog, "CATALOG", ROOT / "provider_service" / "catalog" / "models.json")
    readme = tmp_path / "README.md"
    readme.write_text(gen_catalog.README.read_text().replace("| 5, 10 |", "| 5, 10, 15 |", 1))
    monkeypatch.setattr(gen_catalog, "README", readme)
    assert gen_catalog.main() == 1


def test_the_drift_check_fails_when_recorded_sdk_types_differ(
    gen_catalog: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    recorded = json.loads(sources.RUNWAY_TYPES.read_text())
    recorded["endpoints"]["text_to_video"]["gen4.5"]["fields"]["ratio"]["values"].append("960:960")
    monkeypatch.setattr(gen_catalog, "recorded_runway", lambda: recorded)
    assert any("runwayml" in problem for problem in gen_catalog.check_sources())


def test_the_readme_table_lists_every_model_and_mode() -> None:
    table = build.readme_table(build.catalog())
    for entry in build.catalog()["models"]:
        assert f"`{entry['id']}`" in table


def test_runway_sizes_of_one_aspect_ratio_are_listed_as_resolutions() -> None:
    """Runway's ratio is a pixel size: veo3.1 takes 1280:720 and 1920:1080 (two resolutions); gen4_turbo has
    one size per aspect ratio (one resolution, so none listed). We send the smallest size either way."""
    models = {(entry["provider"], entry["id"]): entry for entry in build.catalog()["models"]}
    for model in ("veo3.1", "veo3.1_fast"):
        for spec in models[("runway", model)]["modes"].values():
            assert spec["resolutions"] == ["720p", "1080p"]
            assert spec["aspect_ratios"] == {"16:9": "1280:720", "9:16": "720:1280"}
    for model in ("gen4_turbo", "gen4.5"):
        for spec in models[("runway", model)]["modes"].values():
            assert spec["resolutions"] == []
