"""Proto messages <-> domain values, for the servicer and the peer clients alike: the only place that
converts. Protos stay at the edge of the service."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from job_service.domain import (
    ApiKey,
    CreateOutcome,
    CreateReason,
    Job,
    JobEvent,
    JobFilter,
    JobState,
    ListedObject,
    ProviderStatus,
    Quota,
    StoredObject,
    Submitted,
    VideoInfo,
    VideoSpec,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointPatch,
)
from job_service.limits import ProviderQueue
from videojobs.attributes import from_attributes, message_from_attributes
from videojobs.effective import EffectiveSpec
from videojobs.errors import InvalidArgument
from videojobs.public_errors import mask, public_message
from videojobs.v1 import common_pb2, job_service_pb2, provider_service_pb2, storage_service_pb2


def spec_from_proto(message: common_pb2.VideoSpec) -> VideoSpec:
    return from_attributes(VideoSpec, message, providers=tuple(message.providers))


def spec_to_proto(spec: VideoSpec) -> common_pb2.VideoSpec:
    return message_from_attributes(common_pb2.VideoSpec, spec, providers=list(spec.providers))


def states_from_proto(values: Iterable[int]) -> frozenset[JobState]:
    states = set()
    for index, value in enumerate(values):
        if value == job_service_pb2.JOB_STATE_UNSPECIFIED or value not in job_service_pb2.JobState.values():
            raise InvalidArgument.field(f"states[{index}]", f"{value} is not a job state")
        states.add(JobState(job_service_pb2.JobState.Name(value)))  # type: ignore[arg-type]
    return frozenset(states)


def _timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def queue_stats_to_proto(queues: Iterable[ProviderQueue]) -> job_service_pb2.QueueStats:
    return job_service_pb2.QueueStats(
        providers=[
            message_from_attributes(
                job_service_pb2.ProviderQueue,
                queue,
                limits=[message_from_attributes(job_service_pb2.QueueLimit, limit) for limit in queue.limits],
                next_submit_time=_timestamp(queue.next_submit_time),
            )
            for queue in queues
        ]
    )


def job_to_proto(job: Job) -> job_service_pb2.Job:
    message = job_service_pb2.Job(
        id=str(job.id),
        user_id=job.user_id,
        client_request_id=job.client_request_id or "",
        spec=spec_to_proto(job.spec),
        state=job_service_pb2.JobState.Value(job.state.value),
        provider=job.provider or "",
        provider_job_id=job.provider_job_id or "",
        attempt=job.attempt,
        video_uri=job.video_uri or "",
        thumbnail_uri=job.thumbnail_uri or "",
        create_time=_timestamp(job.create_time),
        update_time=_timestamp(job.update_time),
        end_time=_timestamp(job.end_time),
        video_url=job.video_url,
        thumbnail_url=job.thumbnail_url,
        urls_expire_time=_timestamp(job.urls_expire_time),
        waiting_for=job.waiting_for or "",
        urls_unavailable=job.urls_unavailable,
        queue_reason=job.queue_reason,
    )
    if job.video is not None:
        message.video.CopyFrom(job.video.to_proto())
    if job.effective is not None:
        message.effective.CopyFrom(job.effective.to_proto())
    if job.error is not None:
        message.error.CopyFrom(
            job_service_pb2.JobError(
                code=job.error.code,
                message=public_message(job.error.code, job.error.message),
                retryable=job.error.retryable,
                violation_reasons=list(job.error.violation_reasons),
            )
        )
    return message


_CREATE_REASONS = {
    CreateReason.CREATED: job_service_pb2.CreateJobResponse.REASON_UNSPECIFIED,
    CreateReason.REPLAYED: job_service_pb2.CreateJobResponse.IDEMPOTENT_REPLAY,
    CreateReason.DUPLICATE: job_service_pb2.CreateJobResponse.DUPLICATE_REQUEST,
}


def create_outcome_to_proto(outcome: CreateOutcome) -> job_service_pb2.CreateJobResponse:
    return job_service_pb2.CreateJobResponse(
        job=job_to_proto(outcome.job), created=outcome.created, reason=_CREATE_REASONS[outcome.reason]
    )


def quota_to_proto(quota: Quota) -> job_service_pb2.Quota:
    return message_from_attributes(job_service_pb2.Quota, quota, resets_at=_timestamp(quota.resets_at))


def event_to_proto(event: JobEvent) -> job_service_pb2.JobEvent:
    return job_service_pb2.JobEvent(
        sequence=event.sequence,
        job_id=str(event.job_id),
        state=job_service_pb2.JobState.Value(event.state.value),
        type=event.type,
        message=_public_event_message(event),
        job=job_to_proto(event.job),
        event_time=_timestamp(event.create_time),
    )


def _public_event_message(event: JobEvent) -> str:
    """A failure's event repeats the job's error: shown as the error is; anything else masked."""
    error = event.job.error
    if error is not None and event.message == error.message:
        return public_message(error.code, error.message)
    return mask(event.message)


def video_info_from_proto(message: common_pb2.VideoInfo) -> VideoInfo:
    return VideoInfo.from_proto(message)


def provider_status_from_proto(message: provider_service_pb2.GenerationStatus) -> ProviderStatus:
    return ProviderStatus(
        state=provider_service_pb2.GenerationStatus.State.Name(message.state),
        output_uris=tuple(message.output_uris),
        error_code=message.error.code,
        error_message=message.error.message,
        retryable=message.error.retryable,
        violation_reasons=tuple(message.violation_reasons),
        fetch_headers=dict(message.output_fetch_headers),
        inline_video=message.inline_video.data,
        inline_mime_type=message.inline_video.mime_type,
    )


def stored_object_from_proto(message: storage_service_pb2.StoredObject) -> StoredObject:
    return from_attributes(StoredObject, message, other_candidates=tuple(message.other_candidates))


def submitted_from_proto(message: provider_service_pb2.SubmitGenerationResponse) -> Submitted:
    effective = EffectiveSpec.from_proto(message.effective) if message.HasField("effective") else None
    return Submitted(message.provider_job_id, effective)


def listed_objects_from_proto(message: storage_service_pb2.ListObjectsResponse) -> list[ListedObject]:
    return [
        ListedObject(
            uri=obj.uri,
            name=obj.name,
            update_time=obj.update_time.ToDatetime(tzinfo=UTC) if obj.HasField("update_time") else None,
        )
        for obj in message.objects
    ]


# --- outbound webhooks --------------------------------------------------------------------------------


def webhook_endpoint_to_proto(endpoint: WebhookEndpoint) -> job_service_pb2.WebhookEndpoint:
    return job_service_pb2.WebhookEndpoint(
        id=str(endpoint.id),
        user_id=endpoint.user_id,
        url=endpoint.url,
        event_types=list(endpoint.event_types),
        description=endpoint.description,
        create_time=_timestamp(endpoint.create_time),
        update_time=_timestamp(endpoint.update_time),
        failing_since=_timestamp(endpoint.failing_since),
        disabled_time=_timestamp(endpoint.disabled_time),
        disabled_reason=endpoint.disabled_reason,
        previous_secret_expire_time=_timestamp(endpoint.previous_secret_expire_time),
        job_id=str(endpoint.job_id) if endpoint.job_id else "",
    )


def webhook_patch_from_proto(request: job_service_pb2.UpdateWebhookEndpointRequest) -> WebhookEndpointPatch:
    return WebhookEndpointPatch(
        url=request.url if request.HasField("url") else None,
        event_types=tuple(request.event_types.values) if request.HasField("event_types") else None,
        description=request.description if request.HasField("description") else None,
        enabled=request.enabled if request.HasField("enabled") else None,
    )


def webhook_attempt_to_proto(attempt: WebhookAttempt) -> job_service_pb2.WebhookAttempt:
    return job_service_pb2.WebhookAttempt(
        attempt=attempt.attempt,
        time=_timestamp(attempt.time),
        status_code=attempt.status_code or 0,
        error=attempt.error,
        latency_seconds=attempt.latency_seconds,
        next_retry_time=_timestamp(attempt.next_retry_time),
    )


def webhook_delivery_to_proto(delivery: WebhookDelivery) -> job_service_pb2.WebhookDelivery:
    return job_service_pb2.WebhookDelivery(
        id=str(delivery.id),
        webhook_id=delivery.webhook_id,
        endpoint_id=str(delivery.endpoint_id),
        job_id=str(delivery.job_id),
        event_type=delivery.event_type,
        sequence=delivery.sequence,
        event_state=job_service_pb2.JobState.Value(delivery.event_state.value),
        state=delivery.state,
        attempts=delivery.attempts,
        next_attempt_time=_timestamp(delivery.next_attempt_time),
        last_status_code=delivery.last_status_code or 0,
        last_error=delivery.last_error,
        create_time=_timestamp(delivery.create_time),
        end_time=_timestamp(delivery.end_time),
        attempt_log=[webhook_attempt_to_proto(attempt) for attempt in delivery.attempt_log],
    )


def api_key_to_proto(key: ApiKey) -> job_service_pb2.ApiKey:
    return job_service_pb2.ApiKey(
        id=str(key.id),
        user_id=key.user_id,
        role=key.role,
        prefix=key.prefix,
        create_time=_timestamp(key.create_time),
        revoke_time=_timestamp(key.revoke_time),
    )


def job_filter_from_proto(request: job_service_pb2.AdminListJobsRequest) -> JobFilter:
    since = None
    if request.HasField("since"):
        if request.since.seconds < 0 or not 0 <= request.since.nanos < 1_000_000_000:
            raise InvalidArgument.field("since", "must be a time after 1970-01-01")
        since = request.since.ToDatetime(tzinfo=UTC)
    return JobFilter(
        user_id=request.user_id or None,
        states=states_from_proto(request.states),
        provider=request.provider or None,
        since=since,
    )
