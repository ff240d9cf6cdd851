"""The HTTP API's JSON to and from the protos: request bodies to a VideoSpec, replies to plain dicts.

Replies are built as dicts straight from the protos (fast); the pydantic models of schemas.py describe them
in the OpenAPI document. Field errors of CreateJob are renamed here for the camelCase animate route. The
compatibility routes answer in the shapes their existing clients read (seed 000's Flask app, seed 004's
Next.js app); those shapes are built here too, next to v1's.
"""

from __future__ import annotations

from typing import Any

from gateway.schemas import AnimateImage, VideoFields
from videojobs.attributes import message_from_attributes
from videojobs.job_json import job_json as job_json  # the routes import it from here
from videojobs.job_json import timestamp_json
from videojobs.public_errors import mask
from videojobs.v1 import common_pb2, job_service_pb2, provider_service_pb2

NOT_CONFIGURED = "not configured on this service"


def spec_from_body(body: VideoFields) -> common_pb2.VideoSpec:
    return message_from_attributes(common_pb2.VideoSpec, body)


def spec_from_animate(body: AnimateImage) -> common_pb2.VideoSpec:
    return common_pb2.VideoSpec(
        prompt=body.prompt,
        image_uri=body.imageUrl,
        duration_seconds=body.durationSeconds,
        aspect_ratio=body.aspectRatio,
        providers=body.providers,
    )


ANIMATE_FIELDS = {
    "image_uri": "imageUrl",
    "client_request_id": "clientRequestId",
    "duration_seconds": "durationSeconds",
    "aspect_ratio": "aspectRatio",
}


def animate_field(name: str) -> str:
    """A field error of CreateJob (`spec.image_uri`) under the name the animate route's clients sent."""
    name = name.removeprefix("spec.")
    return ANIMATE_FIELDS.get(name, name)


def created_json(reply: job_service_pb2.CreateJobResponse) -> dict[str, Any]:
    """A create's answer on /v1/videos: the job; a keyless duplicate also says which job it repeats and why
    (a replay of a key keeps the identical body, as the Idempotency-Key draft asks)."""
    body = job_json(reply.job)
    if reply.reason == job_service_pb2.CreateJobResponse.DUPLICATE_REQUEST:
        body["duplicate_of"] = reply.job.id
        body["reason"] = DUPLICATE_REQUEST
    return body


DUPLICATE_REQUEST = job_service_pb2.CreateJobResponse.Reason.Name(
    job_service_pb2.CreateJobResponse.DUPLICATE_REQUEST
)

# --- the compatibility routes' shapes --------------------------------------------------------------------

_S = job_service_pb2
# Seed 000 (Flask): pending/processing/completed/failed/content_violation. Everything a provider may still be
# working on reads as "processing", which is what that app's clients wait on; it has no "cancelled".
GENERATE_STATUS = {
    _S.PENDING: "processing",
    _S.SUBMITTING: "processing",
    _S.PROCESSING: "processing",
    _S.FINALIZING: "processing",
    _S.COMPLETED: "completed",
    _S.FAILED: "failed",
    _S.CONTENT_VIOLATION: "content_violation",
    _S.CANCELLED: "failed",
}
# Seed 004 (Next.js, a Supabase video_jobs row): pending/processing/completed/failed; why a job failed is in
# error_message (a content violation says so there), so the app's status union needs no new member.
VIDEO_JOB_STATUS = {
    _S.PENDING: "pending",
    _S.SUBMITTING: "processing",
    _S.PROCESSING: "processing",
    _S.FINALIZING: "processing",
    _S.COMPLETED: "completed",
    _S.FAILED: "failed",
    _S.CONTENT_VIOLATION: "failed",
    _S.CANCELLED: "failed",
}
_TERMINAL = frozenset({_S.COMPLETED, _S.FAILED, _S.CONTENT_VIOLATION, _S.CANCELLED})

# Seed 000's own answers: its routes checked `status == 'processing'` first, then `veo_job_id` (set from the
# moment generation started, so also on finished videos).
MESSAGE_STARTED = "Video generation started"
MESSAGE_BEING_PROCESSED = "Video is already being processed"
MESSAGE_ALREADY_STARTED = "Video generation already started"


def generate_json(reply: job_service_pb2.CreateJobResponse) -> dict[str, Any]:
    """POST /generate and /api/v1/generate, as seed 000's clients read them."""
    job = reply.job
    if reply.created:
        message = MESSAGE_STARTED
    elif job.state in _TERMINAL:
        message = MESSAGE_ALREADY_STARTED
    else:
        message = MESSAGE_BEING_PROCESSED
    body: dict[str, Any] = {
        "success": True,
        "video_id": job.id,
        "status": GENERATE_STATUS[job.state],
        "message": message,
    }
    if reply.reason == job_service_pb2.CreateJobResponse.DUPLICATE_REQUEST:
        body["duplicate_of"] = job.id
        body["reason"] = DUPLICATE_REQUEST
    return body


def video_job_row(job: job_service_pb2.Job) -> dict[str, Any]:
    """A job as seed 004's `video_jobs` row (snake_case), for /api/video/animate and /api/video/jobs/{id}."""
    return {
        "id": job.id,
        "user_id": job.user_id,
        "status": VIDEO_JOB_STATUS[job.state],
        "provider": job.provider or None,
        "client_request_id": job.client_request_id or None,
        "output_video_url": job.video_url or None,
        "thumbnail_url": job.thumbnail_url or None,
        "error_message": _error_message(job),
        "created_at": timestamp_json(job.create_time, job.HasField("create_time")),
        "updated_at": timestamp_json(job.update_time, job.HasField("update_time")),
    }


def _error_message(job: job_service_pb2.Job) -> str | None:
    if job.state == _S.CONTENT_VIOLATION:
        reasons = ", ".join(job.error.violation_reasons) or job.error.message
        return "Content policy violation" + (f": {reasons}" if reasons else "")
    if job.state == _S.CANCELLED:
        return "Cancelled"
    if job.state == _S.FAILED:
        return job.error.message or job.error.code or "Failed"
    return None


def quota_json(quota: job_service_pb2.Quota) -> dict[str, Any]:
    return {
        "user_id": quota.user_id,
        "daily_limit": quota.daily_limit,
        "used_today": quota.used_today,
        "remaining_today": quota.remaining_today,
        "resets_at": timestamp_json(quota.resets_at, quota.HasField("resets_at")),
        "max_active": quota.max_active,
        "active": quota.active,
    }


def event_json(event: job_service_pb2.JobEvent) -> dict[str, Any]:
    return {
        "sequence": event.sequence,
        "job_id": event.job_id,
        "state": job_service_pb2.JobState.Name(event.state),
        "type": event.type,
        "message": event.message,
        "event_time": timestamp_json(event.event_time, event.HasField("event_time")),
        "job": job_json(event.job) if event.HasField("job") else None,
    }


def _limits_json(limits: provider_service_pb2.ModeLimits) -> dict[str, Any]:
    return {
        "mode": limits.mode,
        "durations": list(limits.durations),
        "default_duration": limits.default_duration,
        "aspect_ratios": list(limits.aspect_ratios),
        "wire_aspect_ratios": list(limits.wire_aspect_ratios),
        "resolutions": list(limits.resolutions),
        "max_prompt_chars": limits.max_prompt_chars or None,
        "prompt_unit": limits.prompt_unit,
        "prompt_required": limits.prompt_required,
        "image_forms": list(limits.image_forms),
        "duration_wire": limits.duration_wire,
        "required_fields": list(limits.required_fields),
    }


def models_json(reply: provider_service_pb2.ListModelsResponse) -> dict[str, Any]:
    return {
        "models": [
            {
                "provider": model.provider,
                "id": model.id,
                "title": model.title,
                "modes": list(model.modes),
                "durations": list(model.durations),
                "default_duration": model.default_duration,
                "aspect_ratios": list(model.aspect_ratios),
                "resolutions": list(model.resolutions),
                "max_prompt_chars": model.max_prompt_chars if model.HasField("max_prompt_chars") else None,
                "audio": model.audio if model.HasField("audio") else None,
                "configured": model.configured,
                "limits": [_limits_json(limits) for limits in model.limits],
                "checked_against": dict(sorted(model.checked_against.items())),
            }
            for model in reply.models
        ],
        "providers": [
            {
                "name": provider.name,
                "configured": provider.configured,
                "default_text_model": provider.default_text_model,
                "default_image_model": provider.default_image_model,
                # Which setting is missing is the operator's business (ListProviders says it), not a user's.
                "detail": mask(provider.detail) if provider.configured else NOT_CONFIGURED,
            }
            for provider in reply.providers
        ],
    }


# --- outbound webhooks ------------------------------------------------------------------------------------


def _stamp(message: Any, name: str) -> str | None:
    return timestamp_json(getattr(message, name), message.HasField(name))


def webhook_endpoint_json(endpoint: job_service_pb2.WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "description": endpoint.description,
        "create_time": _stamp(endpoint, "create_time"),
        "update_time": _stamp(endpoint, "update_time"),
        "failing_since": _stamp(endpoint, "failing_since"),
        "enabled": not endpoint.HasField("disabled_time"),
        "disabled_time": _stamp(endpoint, "disabled_time"),
        "disabled_reason": endpoint.disabled_reason,
        "previous_secret_expire_time": _stamp(endpoint, "previous_secret_expire_time"),
    }


def webhook_secret_json(reply: job_service_pb2.WebhookEndpointWithSecret) -> dict[str, Any]:
    return {**webhook_endpoint_json(reply.endpoint), "secret": reply.secret}


def webhook_delivery_json(delivery: job_service_pb2.WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "webhook_id": delivery.webhook_id,
        "endpoint_id": delivery.endpoint_id,
        "job_id": delivery.job_id,
        "event_type": delivery.event_type,
        "sequence": delivery.sequence,
        "event_state": job_service_pb2.JobState.Name(delivery.event_state),
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt_time": _stamp(delivery, "next_attempt_time"),
        "last_status_code": delivery.last_status_code or None,
        "last_error": delivery.last_error,
        "create_time": _stamp(delivery, "create_time"),
        "end_time": _stamp(delivery, "end_time"),
        "attempt_log": [
            {
                "attempt": attempt.attempt,
                "time": _stamp(attempt, "time"),
                "status_code": attempt.status_code or None,
                "error": attempt.error,
                "latency_seconds": attempt.latency_seconds,
                "next_retry_time": _stamp(attempt, "next_retry_time"),
            }
            for attempt in delivery.attempt_log
        ],
    }
