"""job_service's view of ProviderService and StorageService: domain values in and out, one error boundary.

Every call has a deadline. A failed call becomes `CallFailed` with the peer's gRPC code, its ErrorInfo
reason and its RetryInfo delay, so the orchestrator decides on plain values, never on grpc objects.

Whose failure it was is read from the status, not from its text. Every answer of our services carries an
ErrorInfo in the "videojobs" domain (the interceptor puts one on every error, a provider's relayed ones
included). A status without one, with code UNAVAILABLE, DEADLINE_EXCEEDED or CANCELLED, was made by gRPC
itself: the peer refused the connection, died mid-call, or did not answer in time. That is our outage, not
the provider's failure: `CallFailed.peer` names the service, and the reason is PEER_UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import grpc
from google.rpc import error_details_pb2

from job_service import convert
from job_service.domain import ListedObject, ProviderStatus, StoredObject, Submitted, VideoInfo, VideoSpec
from job_service.metrics import JobMetrics
from videojobs import rpc_status
from videojobs.contract import Reason
from videojobs.errors import Internal, ServiceError, Unavailable
from videojobs.v1 import (
    provider_service_pb2,
    provider_service_pb2_grpc,
    storage_service_pb2,
    storage_service_pb2_grpc,
)

_T = TypeVar("_T")

PROVIDER_SERVICE = "provider_service"
STORAGE_SERVICE = "storage_service"

# Worth trying again (after a delay): the peer or something behind it is briefly out of reach or overloaded.
# INTERNAL and UNKNOWN are included because a crash in a peer is usually not about this request;
# every retry is bounded, so a real bug still ends in fallback or FAILED.
TRANSIENT_CODES = frozenset(
    {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED", "INTERNAL", "UNKNOWN"}
)

# What gRPC itself reports when it never got an answer from the peer (no ErrorInfo on the status).
_TRANSPORT_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)


class CallFailed(Exception):
    """`peer`: the service of ours that did not answer (empty when it answered, with its own or a
    provider's error)."""

    def __init__(
        self,
        code: str,
        reason: str,
        message: str,
        retry_after: float | None,
        *,
        peer: str = "",
        fields: tuple[str, ...] = (),
    ) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.peer = peer
        self.fields = fields  # the request fields a peer's INVALID_ARGUMENT names (BadRequest)

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT_CODES

    @property
    def summary(self) -> str:
        """e.g. "INVALID_ARGUMENT: ..." or "FAILED_PRECONDITION NOT_A_VIDEO: ...", for a stored detail."""
        reason = "" if self.reason == self.code else f" {self.reason}"
        return f"{self.code}{reason}: {self.message}"


def peer_error(failure: CallFailed) -> ServiceError:
    """A peer's failure as our own answer to the caller: transient stays retryable, the rest is ours."""
    if failure.transient:
        return Unavailable(
            f"a backend is unavailable ({failure.reason})",
            reason=failure.reason,
            retry_after=failure.retry_after or 1.0,
        )
    return Internal(f"a backend refused the request ({failure.code} {failure.reason})", reason=failure.reason)


async def _call(awaitable: Awaitable[_T], peer: str) -> _T:
    try:
        return await awaitable
    except grpc.aio.AioRpcError as error:
        status = rpc_status.status_of(error)
        info = rpc_status.detail_of(status, error_details_pb2.ErrorInfo)
        retry = rpc_status.detail_of(status, error_details_pb2.RetryInfo)
        bad = rpc_status.detail_of(status, error_details_pb2.BadRequest)
        if (info is None or info.domain != rpc_status.ERROR_DOMAIN) and error.code() in _TRANSPORT_CODES:
            raise CallFailed(
                code=error.code().name,
                reason=Reason.PEER_UNAVAILABLE,
                message=f"{peer} did not answer",
                retry_after=None,
                peer=peer,
            ) from None
        raise CallFailed(
            code=error.code().name,
            reason=info.reason if info else error.code().name,
            message=error.details() or "",
            retry_after=retry.retry_delay.ToTimedelta().total_seconds() if retry else None,
            fields=tuple(v.field for v in bad.field_violations) if bad else (),
        ) from None


class ProviderClient:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        timeout: float,
        metrics: JobMetrics | None = None,
        *,
        connect_timeout: float = 2.0,
    ) -> None:
        self._channel = channel
        self._stub = provider_service_pb2_grpc.ProviderServiceStub(channel)
        self._timeout = timeout
        self._connect_timeout = min(connect_timeout, timeout)
        self._metrics = metrics or JobMetrics()

    async def _submit(
        self, request: provider_service_pb2.SubmitGenerationRequest
    ) -> provider_service_pb2.SubmitGenerationResponse:
        """A submission is paid: whether provider_service may have passed it on must be known. Only a call
        made on a connected channel can have reached it; a connection that cannot be made fails before
        anything is sent (PEER_UNAVAILABLE). A call that then fails without an answer was cut short by our
        outage after provider_service may have submitted: its outcome is unknown (SUBMIT_OUTCOME_UNKNOWN,
        with `peer` set), and the orchestrator applies the submit rule rather than resubmit blindly."""
        try:
            await asyncio.wait_for(self._channel.channel_ready(), self._connect_timeout)
        except TimeoutError:
            raise CallFailed(
                code="UNAVAILABLE",
                reason=Reason.PEER_UNAVAILABLE,
                message=f"{PROVIDER_SERVICE} is not reachable; nothing was submitted",
                retry_after=None,
                peer=PROVIDER_SERVICE,
            ) from None
        try:
            return await _call(self._stub.SubmitGeneration(request, timeout=self._timeout), PROVIDER_SERVICE)
        except CallFailed as failure:
            if not failure.peer:
                raise
            raise CallFailed(
                code=failure.code,
                reason=Reason.SUBMIT_OUTCOME_UNKNOWN,
                message=f"{PROVIDER_SERVICE} did not answer the submission; it may have reached the provider",
                retry_after=None,
                peer=PROVIDER_SERVICE,
            ) from None

    async def submit(
        self, provider: str, spec: VideoSpec, idempotency_key: str, output_uri_prefix: str
    ) -> Submitted:
        request = provider_service_pb2.SubmitGenerationRequest(
            provider=provider,
            spec=convert.spec_to_proto(spec),
            idempotency_key=idempotency_key,
            output_uri_prefix=output_uri_prefix,
        )
        async with self._metrics.provider_call(provider, "submit"):
            reply = await self._submit(request)
        return convert.submitted_from_proto(reply)

    async def status(self, provider: str, provider_job_id: str) -> ProviderStatus:
        request = provider_service_pb2.GetGenerationStatusRequest(
            provider=provider, provider_job_id=provider_job_id
        )
        async with self._metrics.provider_call(provider, "status"):
            reply = await _call(
                self._stub.GetGenerationStatus(request, timeout=self._timeout), PROVIDER_SERVICE
            )
        return convert.provider_status_from_proto(reply)

    async def await_finished(self, provider: str, provider_job_id: str, max_wait: float) -> bool:
        """Whether the provider reported the job finished within `max_wait` (its status stream). Not timed
        as a provider call: it waits on purpose."""
        request = provider_service_pb2.AwaitGenerationRequest(
            provider=provider, provider_job_id=provider_job_id, max_wait_seconds=max_wait
        )
        call = self._stub.AwaitGeneration(request, timeout=max_wait + self._timeout)
        return (await _call(call, PROVIDER_SERVICE)).finished

    async def cancel(self, provider: str, provider_job_id: str) -> bool:
        request = provider_service_pb2.CancelGenerationRequest(
            provider=provider, provider_job_id=provider_job_id
        )
        async with self._metrics.provider_call(provider, "cancel"):
            reply = await _call(self._stub.CancelGeneration(request, timeout=self._timeout), PROVIDER_SERVICE)
        return reply.cancelled


class StorageClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float, long_timeout: float) -> None:
        self._stub = storage_service_pb2_grpc.StorageServiceStub(channel)
        self._timeout = timeout
        self._long_timeout = long_timeout

    async def resolve_output(self, uris: Sequence[str], prefix: str) -> StoredObject:
        request = storage_service_pb2.ResolveOutputRequest(uris=list(uris), prefix=prefix)
        return convert.stored_object_from_proto(
            await _call(self._stub.ResolveOutput(request, timeout=self._timeout), STORAGE_SERVICE)
        )

    async def relocate(
        self, source_uri: str, destination_key: str, *, delete_source: bool, headers: Mapping[str, str]
    ) -> StoredObject:
        request = storage_service_pb2.RelocateRequest(
            source_uri=source_uri,
            destination_key=destination_key,
            delete_source=delete_source,
            source_headers=dict(headers),
        )
        return convert.stored_object_from_proto(
            await _call(self._stub.Relocate(request, timeout=self._long_timeout), STORAGE_SERVICE)
        )

    async def upload_video(self, data: bytes, destination_key: str, content_type: str) -> StoredObject:
        request = storage_service_pb2.UploadVideoRequest(
            destination_key=destination_key, data=data, content_type=content_type
        )
        return convert.stored_object_from_proto(
            await _call(self._stub.UploadVideo(request, timeout=self._long_timeout), STORAGE_SERVICE)
        )

    async def probe(self, uri: str) -> VideoInfo:
        reply = await _call(
            self._stub.ProbeVideo(storage_service_pb2.ProbeVideoRequest(uri=uri), timeout=self._timeout),
            STORAGE_SERVICE,
        )
        return convert.video_info_from_proto(reply)

    async def thumbnail(self, video_uri: str, destination_key: str) -> StoredObject:
        request = storage_service_pb2.CreateThumbnailRequest(
            video_uri=video_uri, destination_key=destination_key
        )
        return convert.stored_object_from_proto(
            await _call(self._stub.CreateThumbnail(request, timeout=self._long_timeout), STORAGE_SERVICE)
        )

    async def delete(self, uris: Sequence[str]) -> tuple[str, ...]:
        if not uris:
            return ()
        request = storage_service_pb2.DeleteObjectsRequest(uris=list(uris))
        reply = await _call(self._stub.DeleteObjects(request, timeout=self._timeout), STORAGE_SERVICE)
        return tuple(reply.deleted)

    async def list_objects(
        self, prefix: str, page_size: int, page_token: str
    ) -> tuple[list[ListedObject], str]:
        """One page of the bucket under `prefix`, and the token of the next ("" after the last)."""
        request = storage_service_pb2.ListObjectsRequest(
            prefix=prefix, page_size=page_size, page_token=page_token
        )
        reply = await _call(self._stub.ListObjects(request, timeout=self._timeout), STORAGE_SERVICE)
        return convert.listed_objects_from_proto(reply), reply.next_page_token

    async def sign(
        self, uris: Sequence[str], ttl_seconds: int, deadline_seconds: float | None = None
    ) -> tuple[list[str], datetime]:
        """`deadline_seconds`: reads wait for links only this long (default: the usual deadline)."""
        request = storage_service_pb2.SignUrlsRequest(uris=list(uris), ttl_seconds=ttl_seconds)
        deadline = self._timeout if deadline_seconds is None else deadline_seconds
        reply = await _call(self._stub.SignUrls(request, timeout=deadline), STORAGE_SERVICE)
        return list(reply.urls), reply.expire_time.ToDatetime(tzinfo=UTC)


@dataclass(frozen=True)
class Peers:
    """The services job_service calls."""

    providers: ProviderClient
    storage: StorageClient
