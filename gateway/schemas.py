"""Request bodies and response documents of the HTTP API, and their conversion from/to the protos.

Requests are checked for shape here (types, unknown fields); the rules of what makes a valid video spec
live once, in job_service, and come back as field errors. Responses are built as plain dicts from the
protos (fast), with pydantic models describing them in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Any

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field

from videojobs.v1 import common_pb2, job_service_pb2

INT32_MAX = 2**31 - 1


def _encodable(value: str) -> str:
    # JSON can carry lone surrogates ("\ud800") that are not valid UTF-8; protobuf strings must be.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


Text = Annotated[str, AfterValidator(_encodable)]
Int32 = Annotated[int, Field(ge=-INT32_MAX - 1, le=INT32_MAX)]

STATE_NAMES = [name for name in job_service_pb2.JobState.keys() if name != "JOB_STATE_UNSPECIFIED"]  # noqa: SIM118


class VideoFields(BaseModel):
    prompt: Text = Field(default="", description="1..2000 characters; required unless image_uri is set")
    image_uri: Text = Field(default="", description="an image to animate: https:// or gs://")
    duration_seconds: Int32 = Field(default=0, description="0 means the provider's default")
    aspect_ratio: Text = Field(default="", description='"16:9" (default), "9:16" or "1:1"')
    model: Text = ""
    providers: list[Text] = Field(default_factory=list, max_length=16, description="fallback order")

    def spec(self) -> common_pb2.VideoSpec:
        return common_pb2.VideoSpec(
            prompt=self.prompt,
            image_uri=self.image_uri,
            duration_seconds=self.duration_seconds,
            aspect_ratio=self.aspect_ratio,
            model=self.model,
            providers=self.providers,
        )


class CreateVideo(VideoFields):
    """POST /v1/videos. The Idempotency-Key header wins over `client_request_id`."""

    model_config = ConfigDict(extra="forbid", strict=True)
    client_request_id: Text | None = Field(default=None, description="idempotency key (see Idempotency-Key)")


class LegacyGenerate(VideoFields):
    """POST /generate and /api/v1/generate: the same fields; unknown fields of old clients are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True)
    client_request_id: Text | None = Field(
        default=None, validation_alias=AliasChoices("client_request_id", "clientRequestId")
    )


class AnimateImage(BaseModel):
    """POST /api/video/animate, camelCase as the Next.js app of seed 004 sends it."""

    model_config = ConfigDict(extra="ignore", strict=True)
    imageUrl: Text = ""  # camelCase: the field names existing clients send
    prompt: Text = ""
    clientRequestId: Text | None = None
    durationSeconds: Int32 = 0
    aspectRatio: Text = ""
    providers: list[Text] = Field(default_factory=list, max_length=16)

    def spec(self) -> common_pb2.VideoSpec:
        return common_pb2.VideoSpec(
            prompt=self.prompt,
            image_uri=self.imageUrl,
            duration_seconds=self.durationSeconds,
            aspect_ratio=self.aspectRatio,
            providers=self.providers,
        )


ANIMATE_FIELDS = {
    "image_uri": "imageUrl",
    "client_request_id": "clientRequestId",
    "duration_seconds": "durationSeconds",
    "aspect_ratio": "aspectRatio",
}


# --- responses -------------------------------------------------------------------------------------------


class VideoSpecOut(BaseModel):
    prompt: str
    image_uri: str
    duration_seconds: int
    aspect_ratio: str
    model: str
    providers: list[str]


class VideoInfoOut(BaseModel):
    duration_seconds: float
    width: int
    height: int
    size_bytes: int
    content_type: str
    codec: str


class JobErrorOut(BaseModel):
    code: str
    message: str
    retryable: bool
    violation_reasons: list[str]


class JobOut(BaseModel):
    id: str
    user_id: str
    client_request_id: str
    spec: VideoSpecOut
    state: str = Field(description=" | ".join(STATE_NAMES))
    provider: str
    provider_job_id: str
    attempt: int
    video_uri: str
    thumbnail_uri: str
    video_url: str
    thumbnail_url: str
    urls_expire_time: str | None
    video: VideoInfoOut | None
    error: JobErrorOut | None
    create_time: str | None
    update_time: str | None
    end_time: str | None


class JobListOut(BaseModel):
    jobs: list[JobOut]
    next_page_token: str


class QuotaOut(BaseModel):
    user_id: str
    daily_limit: int
    used_today: int
    remaining_today: int
    resets_at: str | None
    max_active: int
    active: int


class ProblemOut(BaseModel):
    """RFC 9457 problem details (application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    reason: str | None = None
    errors: list[dict[str, str]] | None = None
    retry_after_seconds: int | None = None
    request_id: str


def _time(value: Timestamp, present: bool) -> str | None:
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
        "urls_expire_time": _time(job.urls_expire_time, job.HasField("urls_expire_time")),
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
        "create_time": _time(job.create_time, job.HasField("create_time")),
        "update_time": _time(job.update_time, job.HasField("update_time")),
        "end_time": _time(job.end_time, job.HasField("end_time")),
    }


def quota_json(quota: job_service_pb2.Quota) -> dict[str, Any]:
    return {
        "user_id": quota.user_id,
        "daily_limit": quota.daily_limit,
        "used_today": quota.used_today,
        "remaining_today": quota.remaining_today,
        "resets_at": _time(quota.resets_at, quota.HasField("resets_at")),
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
        "event_time": _time(event.event_time, event.HasField("event_time")),
        "job": job_json(event.job) if event.HasField("job") else None,
    }
