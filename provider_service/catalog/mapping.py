"""How a spec becomes one model's request parameters. The rule, in full:

- The model is `spec.model`, else the provider's default for the mode (image_to_video when the spec has an
  image, else text_to_video). A model outside the catalog, or without that mode, is not run.
- Duration: 0 means the model's default (the catalog's `default_duration`). Otherwise the shortest allowed
  duration not shorter than asked (6 s on a 5/10 s model is 10 s): a video is never shorter than asked for.
  Longer than the model's longest: not run.
- Aspect ratio: never changed. A model that does not offer it is not run. An image-to-video model without an
  aspect-ratio parameter frames the video like its image; the spec's aspect ratio is not sent.
- Prompt: never cut. Longer than the model's limit (Runway counts UTF-16 code units), or missing where the
  model needs one: not run.
- Audio: asked for on every model that has the switch.

"Not run" is FAILED_PRECONDITION with reason UNSUPPORTED_SPEC naming every field concerned, so the
orchestrator moves on to the next provider without a paid request the provider would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provider_service.catalog import Catalog, Mode, ModelEntry, ModeSpec
from provider_service.catalog.wire import prompt_length
from videojobs import errors
from videojobs.contract import Reason
from videojobs.effective import EffectiveSpec


@dataclass(frozen=True)
class Mapped:
    model: ModelEntry
    mode: ModeSpec
    parameters: dict[str, Any]  # duration, aspect ratio, audio and constants, by their wire names
    effective: EffectiveSpec


def unsupported(provider: str, problems: list[errors.FieldViolation]) -> errors.FailedPrecondition:
    """A valid spec this provider cannot run: the orchestrator may try the next provider."""
    summary = "; ".join(f"{p.field} {p.description}" for p in problems)
    return errors.FailedPrecondition(
        f"{provider} cannot run this spec: {summary}",
        reason=Reason.UNSUPPORTED_SPEC,
        metadata={
            "provider": provider,
            "field": problems[0].field,
            "fields": ",".join(p.field for p in problems),
        },
    )


def choose(catalog: Catalog, provider: str, model_id: str, *, has_image: bool) -> tuple[ModelEntry, ModeSpec]:
    mode: Mode = "image_to_video" if has_image else "text_to_video"
    model = catalog.get(provider, model_id)
    if model is None:
        offered = ", ".join(m.id for m in catalog.of(provider))
        raise unsupported(
            provider,
            [
                errors.FieldViolation(
                    "spec.model", f"{model_id[:100]!r} is not a {provider} model; offered: {offered}"
                )
            ],
        )
    spec = model.modes.get(mode)
    if spec is None:
        what = "does not animate images" if has_image else "needs an image"
        raise unsupported(provider, [errors.FieldViolation("spec.image_uri", f"{model_id} {what}")])
    return model, spec


def map_spec(
    provider: str,
    model: ModelEntry,
    spec: ModeSpec,
    *,
    prompt: str,
    duration_seconds: int,
    aspect_ratio: str,
) -> Mapped:
    problems: list[errors.FieldViolation] = []
    if spec.prompt_required and not prompt.strip():
        problems.append(errors.FieldViolation("spec.prompt", f"is required by {model.id}"))
    if spec.max_prompt_chars is not None and prompt_length(prompt, spec.prompt_unit) > spec.max_prompt_chars:
        unit = "UTF-16 code units" if spec.prompt_unit == "utf16" else "characters"
        problems.append(
            errors.FieldViolation(
                "spec.prompt", f"must be at most {spec.max_prompt_chars} {unit} for {model.id}"
            )
        )
    asked = duration_seconds or spec.default_duration
    duration = next((d for d in spec.durations if d >= asked), None)
    if duration is None:
        problems.append(
            errors.FieldViolation(
                "spec.duration_seconds",
                f"{asked} s is longer than {model.id}'s longest, {spec.durations[-1]} s",
            )
        )
    if spec.framing != "image" and aspect_ratio not in spec.aspect_ratios:
        problems.append(
            errors.FieldViolation(
                "spec.aspect_ratio",
                f"{aspect_ratio} is not offered by {model.id} ({', '.join(spec.aspect_ratios)})",
            )
        )
    if problems or duration is None:
        raise unsupported(provider, problems)
    parameters: dict[str, Any] = dict(spec.constants)
    parameters[spec.duration_field] = spec.wire_duration(duration)
    if spec.aspect_ratio_field is not None:
        parameters[spec.aspect_ratio_field] = spec.aspect_ratios[aspect_ratio]
    if spec.audio_field is not None:
        parameters[spec.audio_field] = True
    effective = EffectiveSpec(
        provider=provider,
        model=model.id,
        mode=spec.mode,
        duration_seconds=duration,
        aspect_ratio="" if spec.framing == "image" else aspect_ratio,
        audio=True if spec.audio_field else None,
        parameters=dict(parameters),
    )
    return Mapped(model, spec, parameters, effective)
