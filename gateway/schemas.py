"""Request bodies and response documents of the HTTP API, as pydantic models; convert.py maps them to protos.

Requests are checked for shape here (types, unknown fields); the rules of what makes a valid video spec
live once, in job_service, and come back as field errors. Responses are built as plain dicts from the
protos in convert.py (fast); the models here describe them in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field

from videojobs.v1 import job_service_pb2

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


ALLOW_DUPLICATE = (
    "without a key, a request repeating one of your unfinished or recent jobs (same spec) returns that job; "
    "true makes a new one anyway"
)


class CreateVideo(VideoFields):
    """POST /v1/videos. The Idempotency-Key header wins over `client_request_id`."""

    model_config = ConfigDict(extra="forbid", strict=True)
    client_request_id: Text | None = Field(default=None, description="idempotency key (see Idempotency-Key)")
    allow_duplicate: bool = Field(default=False, description=ALLOW_DUPLICATE)
    webhook_url: Text = Field(
        default="",
        max_length=2048,
        description="told this job's outcome, signed with your signing secret (GET /v1/webhook-secret)",
    )


class LegacyGenerate(VideoFields):
    """POST /generate and /api/v1/generate (seed 000's clients): the v1 fields, also under the names older
    clients use; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True)
    image_uri: Text = Field(default="", validation_alias=AliasChoices("image_uri", "image_url", "imageUrl"))
    duration_seconds: Int32 = Field(
        default=0, validation_alias=AliasChoices("duration_seconds", "duration", "durationSeconds")
    )
    aspect_ratio: Text = Field(default="", validation_alias=AliasChoices("aspect_ratio", "aspectRatio"))
    client_request_id: Text | None = Field(
        default=None, validation_alias=AliasChoices("client_request_id", "clientRequestId")
    )
    allow_duplicate: bool = Field(
        default=False,
        validation_alias=AliasChoices("allow_duplicate", "allowDuplicate"),
        description=ALLOW_DUPLICATE,
    )


class AnimateImage(BaseModel):
    """POST /api/video/animate, camelCase as the Next.js app of seed 004 sends it."""

    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True)
    # camelCase: the field names existing clients send
    imageUrl: Text = Field(default="", validation_alias=AliasChoices("imageUrl", "image_url"))
    prompt: Text = ""
    clientRequestId: Text | None = Field(
        default=None, validation_alias=AliasChoices("clientRequestId", "client_request_id")
    )
    durationSeconds: Int32 = 0
    aspectRatio: Text = ""
    providers: list[Text] = Field(default_factory=list, max_length=16)
    # Also snake_case, like imageUrl and clientRequestId: an ignored opt-out would return the duplicate.
    allowDuplicate: bool = Field(
        default=False,
        validation_alias=AliasChoices("allowDuplicate", "allow_duplicate"),
        description=ALLOW_DUPLICATE,
    )


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


class EffectiveSpecOut(BaseModel):
    """What the provider of the latest submission was asked for: the spec mapped onto its model."""

    provider: str
    model: str
    mode: str = Field(description="text_to_video | image_to_video")
    duration_seconds: int = Field(description="the spec's, rounded up to a duration the model takes")
    aspect_ratio: str = Field(description="the spec's; empty when the model frames the video like its image")
    audio: bool | None = Field(description="null: the model has no audio switch")
    parameters: dict[str, Any] = Field(
        description="the request parameters as sent, prompt and image left out"
    )


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
    urls_unavailable: bool = Field(
        description="true when the job is COMPLETED but its links could not be signed in time (storage "
        "briefly out of reach): the job comes without video_url and thumbnail_url; read it again later"
    )
    waiting_for: str = Field(
        description="the service of ours the job's current step waits for while it is out of reach "
        "(provider_service | storage_service); empty otherwise. The job goes on by itself once it is back"
    )
    video: VideoInfoOut | None
    error: JobErrorOut | None
    effective: EffectiveSpecOut | None
    create_time: str | None
    update_time: str | None
    end_time: str | None
    queue_reason: str = Field(
        default="",
        description='why a PENDING job is held back by a provider limit, e.g. "waiting for a runway slot, '
        '12 ahead" (GET of one job only)',
    )


class CreatedJobOut(JobOut):
    """A create's answer: the job; for a keyless duplicate also the job it repeats and why."""

    duplicate_of: str | None = Field(default=None, description="set when an existing job was returned")
    reason: str | None = Field(default=None, description="DUPLICATE_REQUEST with duplicate_of")


class GenerateOut(BaseModel):
    """POST /generate, /api/v1/generate: the answer seed 000's clients read."""

    success: bool
    video_id: str
    status: str = Field(description="processing | completed | failed | content_violation")
    message: str
    duplicate_of: str | None = None
    reason: str | None = None


class GenerateErrorOut(BaseModel):
    """An error on /generate, /api/v1/generate (seed 000's shape), with the problem's reason and fields."""

    success: bool = False
    error: str
    reason: str | None = None
    errors: list[dict[str, str]] | None = None
    request_id: str


class VideoJobOut(BaseModel):
    """A job as seed 004's `video_jobs` row: /api/video/animate, /api/video/jobs/{id}."""

    id: str
    user_id: str
    status: str = Field(description="pending | processing | completed | failed")
    provider: str | None
    client_request_id: str | None
    output_video_url: str | None
    thumbnail_url: str | None
    error_message: str | None
    created_at: str | None
    updated_at: str | None


class VideoJobErrorOut(BaseModel):
    """An error on the seed 004 routes."""

    error: str
    reason: str | None = None
    errors: list[dict[str, str]] | None = None
    request_id: str


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


class ModeLimitsOut(BaseModel):
    mode: str = Field(description="text_to_video | image_to_video")
    durations: list[int]
    default_duration: int
    aspect_ratios: list[str] = Field(description="empty: the video is framed like the input image")
    wire_aspect_ratios: list[str] = Field(description="the same, as the provider's API writes them")
    resolutions: list[str]
    max_prompt_chars: int | None
    prompt_unit: str = Field(description="characters | utf16")
    prompt_required: bool
    image_forms: list[str] = Field(description="url | data_uri | gcs_uri | bytes")
    duration_wire: str = Field(description='integer (5) | string ("5") | seconds ("5s")')
    required_fields: list[str]


class ModelOut(BaseModel):
    provider: str
    id: str = Field(description="what VideoSpec.model takes")
    title: str
    modes: list[str] = Field(description="text_to_video, image_to_video")
    durations: list[int] = Field(description="seconds, over all modes (per mode in `limits`)")
    default_duration: int
    aspect_ratios: list[str]
    resolutions: list[str]
    max_prompt_chars: int | None = Field(description="null: no limit beyond the API's 2000 characters")
    audio: bool | None = Field(description="null: the model has no audio switch; true: audio is asked for")
    configured: bool = Field(description="whether its provider is configured in this deployment")
    limits: list[ModeLimitsOut]
    checked_against: dict[str, str] = Field(
        description="types / docs.<value> / ours.<value>: where it is from"
    )


class ProviderModelsOut(BaseModel):
    name: str
    configured: bool
    default_text_model: str
    default_image_model: str
    detail: str = Field(description="why the provider is not configured")


class ModelsOut(BaseModel):
    models: list[ModelOut]
    providers: list[ProviderModelsOut]


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


# --- outbound webhooks ------------------------------------------------------------------------------------

EVENT_TYPES_HELP = (
    "video.completed, video.failed, video.content_violation, video.cancelled; video.state_changed for every "
    "state change"
)


class CreateWebhookEndpoint(BaseModel):
    """POST /v1/webhooks."""

    model_config = ConfigDict(extra="forbid", strict=True)
    url: Text = Field(max_length=2048, description="https (plain http only to loopback, in development)")
    event_types: list[Text] = Field(min_length=1, max_length=16, description=EVENT_TYPES_HELP)
    description: Text = Field(default="", max_length=500)


class UpdateWebhookEndpoint(BaseModel):
    """PATCH /v1/webhooks/{id}: only the fields present change."""

    model_config = ConfigDict(extra="forbid", strict=True)
    url: Text | None = Field(default=None, max_length=2048)
    event_types: list[Text] | None = Field(default=None, min_length=1, max_length=16)
    description: Text | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(
        default=None, description="true re-enables an endpoint disabled after failures"
    )


class WebhookEndpointOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str
    create_time: str | None
    update_time: str | None
    failing_since: str | None = Field(description="set while every attempt since then has failed")
    enabled: bool
    disabled_time: str | None
    disabled_reason: str = Field(description="why it was disabled (410 Gone, failing too long, by you)")
    previous_secret_expire_time: str | None = Field(
        description="after a rotation: until then deliveries carry a signature with the old secret too"
    )


class WebhookEndpointWithSecretOut(WebhookEndpointOut):
    secret: str = Field(description="whsec_...; shown only in this response")


class WebhookSigningSecretOut(BaseModel):
    secret: str = Field(description="whsec_...; signs the deliveries to your creates' webhook_url")


class WebhookEndpointListOut(BaseModel):
    endpoints: list[WebhookEndpointOut]


class WebhookAttemptOut(BaseModel):
    attempt: int
    time: str | None
    status_code: int | None = Field(description="null when no HTTP answer came (see error)")
    error: str
    latency_seconds: float
    next_retry_time: str | None


class WebhookDeliveryOut(BaseModel):
    id: str
    webhook_id: str = Field(description="the webhook-id header, the same on every attempt")
    endpoint_id: str
    job_id: str
    event_type: str
    sequence: int
    event_state: str
    state: str = Field(description="PENDING, DELIVERED or FAILED")
    attempts: int
    next_attempt_time: str | None
    last_status_code: int | None
    last_error: str
    create_time: str | None
    end_time: str | None
    attempt_log: list[WebhookAttemptOut]


class WebhookDeliveryListOut(BaseModel):
    deliveries: list[WebhookDeliveryOut]
