"""A job as the HTTP API shows it (`GET /v1/videos/{id}`), from the Job proto: one definition for the
gateway's replies and for the outbound webhooks job_service sends, so a receiver reads what a GET returns."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from videojobs.effective import EffectiveSpec
from videojobs.v1 import job_service_pb2


def timestamp_json(value: Timestamp, present: bool) -> str | None:
    if not present:
        return None
    return value.ToJsonString()


def job_json(job: job_service_pb2.Job) -> dict[str, Any]:
    spec = job.spec
    return {
        "id": job.id,
        "user_id": job.user_id,
        "client_request_id": job.client_request_id,
        "spec": {
            "prompt": spec.prompt,
            "image_uri": spec.image_uri,
            "duration_seconds": spec.duration_seconds,
            "aspect_ratio": spec.aspect_ratio,
            "model": spec.model,
            "providers": list(spec.providers),
        },
        "state": job_service_pb2.JobState.Name(job.state),
        "provider": job.provider,
        "provider_job_id": job.provider_job_id,
        "attempt": job.attempt,
        "video_uri": job.video_uri,
        "thumbnail_uri": job.thumbnail_uri,
        "video_url": job.video_url,
        "thumbnail_url": job.thumbnail_url,
        "urls_expire_time": timestamp_json(job.urls_expire_time, job.HasField("urls_expire_time")),
        "urls_unavailable": job.urls_unavailable,
        "waiting_for": job.waiting_for,
        "queue_reason": job.queue_reason,
        "video": (
            {
                "duration_seconds": job.video.duration_seconds,
                "width": job.video.width,
                "height": job.video.height,
                "size_bytes": job.video.size_bytes,
                "content_type": job.video.content_type,
                "codec": job.video.codec,
            }
            if job.HasField("video")
            else None
        ),
        "error": (
            {
                "code": job.error.code,
                "message": job.error.message,
                "retryable": job.error.retryable,
                "violation_reasons": list(job.error.violation_reasons),
            }
            if job.HasField("error")
            else None
        ),
        "effective": EffectiveSpec.from_proto(job.effective).to_json() if job.HasField("effective") else None,
        "create_time": timestamp_json(job.create_time, job.HasField("create_time")),
        "update_time": timestamp_json(job.update_time, job.HasField("update_time")),
        "end_time": timestamp_json(job.end_time, job.HasField("end_time")),
    }
