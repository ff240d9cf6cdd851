"""Google Veo: Vertex AI (predictLongRunning + fetchPredictOperation, OAuth bearer) or the Gemini API
(predictLongRunning + operations GET, API key). The mode is a deployment setting; job ids are the
operation names the API returns.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx
from google.protobuf import duration_pb2
from google.rpc import code_pb2

from provider_service.adapters.base import Adapter, Submission, bad_job_id, unsupported
from provider_service.calls import MalformedResponse, ProviderHttp, success_object
from provider_service.domain import (
    CancelResult,
    GenerationRequest,
    InlineVideo,
    State,
    Status,
    content_violation,
    failed,
)
from provider_service.images import IMAGE_FIELD, ImageFetcher, sniff_image_type
from videojobs.contract import INLINE_VIDEO_MAX_BYTES

TokenSource = Callable[[], Awaitable[str]]

# The project segment may be domain-scoped ("example.com:proj"): any one path segment, but never a dot
# segment, a query, a fragment, an escape or whitespace, since the name becomes part of the poll URL.
_VERTEX_OPERATION = re.compile(
    r"^(projects/(?!\.\.?/)[^/?#%\s]+/locations/[\w-]+/publishers/google/models/[\w.-]+)/operations/[\w.-]+$"
)
# The Gemini API's operation names are documented only by example ("models/M/operations/ID"): treated as
# opaque, but only path-safe characters are ever put into a URL.
_GEMINI_OPERATION = re.compile(r"^(?!.*\.\.)[\w.-]+(/[\w.-]+)*/operations/[\w.-]+$")

# A failed operation's error.code is a google.rpc.Code. Worth retrying: the service's trouble (capacity,
# internal errors, deadlines), not the request's.
_RETRYABLE_CODES = frozenset(
    {
        code_pb2.UNKNOWN,
        code_pb2.DEADLINE_EXCEEDED,
        code_pb2.RESOURCE_EXHAUSTED,
        code_pb2.ABORTED,
        code_pb2.INTERNAL,
        code_pb2.UNAVAILABLE,
        code_pb2.DATA_LOSS,
    }
)


def _rpc_code(number: int) -> tuple[str, bool]:
    """The code's name and whether it is worth retrying; a code google.rpc does not name (or OK, which no
    error should carry) counts as the service's trouble."""
    if number == code_pb2.OK or number not in code_pb2.Code.values():
        return f"CODE_{number}", True
    return code_pb2.Code.Name(number), number in _RETRYABLE_CODES


def map_operation(operation: Mapping[str, Any], fetch_headers: Mapping[str, str] | None = None) -> Status:
    """A long-running operation (either API's shape) as a common status.

    `fetch_headers` are given for the Gemini API (its outputs are download URLs that need them) and None for
    Vertex AI, which may write into storageUri without listing what it wrote.
    """
    if not operation.get("done"):
        return Status(State.RUNNING)
    error = operation.get("error")
    if isinstance(error, Mapping):
        number = int(error.get("code") or 2)
        name, retryable = _rpc_code(number)
        return failed(f"VEO_{name}", str(error.get("message") or name), retryable=retryable)
    response = operation.get("response")
    if not isinstance(response, Mapping):
        raise MalformedResponse("a done Veo operation with neither error nor response")
    gemini = "generateVideoResponse" in response  # the Gemini API nests the result one level deeper
    inner: Mapping[str, Any] = response["generateVideoResponse"] if gemini else response
    filtered = int(inner.get("raiMediaFilteredCount") or 0)
    reasons = tuple(str(reason) for reason in inner.get("raiMediaFilteredReasons") or ())
    # Vertex lists `videos[]` (gcsUri, or bytesBase64Encoded + mimeType without a storageUri); the Gemini
    # API `generatedSamples[].video` (uri, or encodedVideo + encoding).
    videos = [
        (v.get("gcsUri"), v.get("bytesBase64Encoded"), v.get("mimeType")) for v in inner.get("videos") or ()
    ] + [
        (v.get("uri"), v.get("encodedVideo"), v.get("encoding"))
        for v in (sample.get("video") or {} for sample in inner.get("generatedSamples") or ())
    ]
    uris = [str(uri) for uri, _, _ in videos if uri]
    if uris:
        return Status(
            State.SUCCEEDED, output_uris=tuple(uris), output_fetch_headers=dict(fetch_headers or {})
        )
    inline = next(((data, mime) for _, data, mime in videos if data), None)
    if inline is not None:
        return _inline_video(str(inline[0]), str(inline[1] or ""))
    if filtered or reasons:
        return content_violation(reasons or (f"raiMediaFilteredCount={filtered}",), "Veo filtered the output")
    if fetch_headers is None and not gemini and "videos" not in response:
        # Vertex wrote into storageUri without listing it: the output is under the job's own prefix, which
        # the caller resolves (StorageService.ResolveOutput lists sample_*.mp4 at any depth).
        return Status(State.SUCCEEDED)
    return failed("VEO_NO_OUTPUT", "Veo finished without a video or a filter reason", retryable=True)


def _inline_video(encoded: str, mime_type: str) -> Status:
    """A video Veo returned as base64 in its answer: the caller stores it, within the inline size limit."""
    if len(encoded) * 3 // 4 > INLINE_VIDEO_MAX_BYTES + 3:  # refuse before decoding what we would not keep
        return _too_large(len(encoded) * 3 // 4)
    try:
        data = base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise MalformedResponse("a Veo video whose inline bytes are not base64") from exc
    if len(data) > INLINE_VIDEO_MAX_BYTES:
        return _too_large(len(data))
    return Status(State.SUCCEEDED, inline_video=InlineVideo(data, mime_type), progress=1.0)


def _too_large(size: int) -> Status:
    return failed(
        "VEO_OUTPUT_TOO_LARGE",
        f"Veo returned a {size}-byte video inline; at most {INLINE_VIDEO_MAX_BYTES} bytes are taken that way",
        retryable=False,
    )


class VeoAdapter(Adapter):
    name = "veo"

    def __init__(
        self,
        http: ProviderHttp,
        *,
        mode: str,
        model: str,
        base_url: str,
        project: str | None = None,
        location: str = "us-central1",
        tokens: TokenSource | None = None,
        api_key: str | None = None,
        images: ImageFetcher | None = None,
    ) -> None:
        super().__init__(http, text_model=model, image_model=model)
        self._images = images
        self.mode = mode
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.project = project
        self.location = location
        self._tokens = tokens
        self._api_key = api_key

    async def _headers(self) -> dict[str, str]:
        if self.mode == "gemini":
            assert self._api_key is not None
            return {"x-goog-api-key": self._api_key}
        assert self._tokens is not None
        return {"Authorization": f"Bearer {await self._tokens()}"}

    def _body(self, request: GenerationRequest) -> tuple[dict[str, Any], Submission]:
        """The predictLongRunning body without its image, and what it asks for (job id filled in later)."""
        mapped = self.plan(request)
        instance: dict[str, Any] = {}
        if request.prompt:
            instance[mapped.mode.prompt_field] = request.prompt
        # sampleCount, durationSeconds, aspectRatio and generateAudio, as the catalog maps them
        parameters: dict[str, Any] = dict(mapped.parameters)
        effective = mapped.effective
        if self.mode == "vertex":
            prefix = request.output_uri_prefix
            if not prefix.startswith("gs://"):
                raise unsupported(self.name, "output_uri_prefix", "must be a gs:// folder for Vertex AI")
            parameters["storageUri"] = prefix if prefix.endswith("/") else prefix + "/"
        elif mapped.mode.audio_field is not None:
            # The Gemini API takes no generateAudio (its Veo 3 models always make sound).
            parameters.pop(mapped.mode.audio_field)
            effective = replace(effective, audio=None, parameters=dict(parameters))
        return {"instances": [instance], "parameters": parameters}, Submission("", effective)

    async def _image(self, uri: str) -> dict[str, str]:
        """A gs:// image by reference (Vertex AI reads the bucket itself); an https image fetched and sent
        inline, as both APIs accept (`bytesBase64Encoded` + `mimeType`)."""
        if uri.startswith("gs://"):
            if self.mode == "gemini":
                raise unsupported(self.name, IMAGE_FIELD, "must be an https:// image for the Gemini API")
            return {"gcsUri": uri, "mimeType": mimetypes.guess_type(uri)[0] or "image/png"}
        if self._images is None:
            raise unsupported(self.name, IMAGE_FIELD, "https:// images are not enabled for Veo here")
        data = await self._images.fetch(uri)
        mime = sniff_image_type(data[:16])
        if mime is None:
            raise unsupported(self.name, IMAGE_FIELD, "must be a JPEG or PNG image for Veo")
        return {"bytesBase64Encoded": base64.b64encode(data).decode("ascii"), "mimeType": mime}

    def _submit_url(self, model: str) -> str:
        if self.mode == "gemini":
            return f"{self.base_url}/v1beta/models/{model}:predictLongRunning"
        return (
            f"{self.base_url}/v1/projects/{self.project}/locations/{self.location}"
            f"/publishers/google/models/{model}:predictLongRunning"
        )

    async def submit(self, request: GenerationRequest) -> Submission:
        body, submission = self._body(request)
        model = submission.effective.model
        if request.image_uri:
            body["instances"][0]["image"] = await self._image(request.image_uri)

        def operation_name(response: httpx.Response) -> str:
            name = success_object(self.name, response, _error_message).get("name")
            if not isinstance(name, str) or not self._operation_pattern().match(name):
                raise MalformedResponse("Veo answered without a usable operation name")
            return name

        name = await self.http.submit(
            "POST", self._submit_url(model), operation_name, json=body, headers=await self._headers()
        )
        return replace(submission, provider_job_id=name)

    def _operation_pattern(self) -> re.Pattern[str]:
        return _GEMINI_OPERATION if self.mode == "gemini" else _VERTEX_OPERATION

    async def status(self, job_id: str) -> Status:
        match = self._operation_pattern().match(job_id)
        if not match:
            raise bad_job_id(job_id, self.name)
        fetch_headers = {"x-goog-api-key": self._api_key} if self.mode == "gemini" and self._api_key else None

        def mapped(response: httpx.Response) -> Status:
            return map_operation(success_object(self.name, response, _error_message), fetch_headers)

        if self.mode == "gemini":
            return await self.http.call(
                "GET", f"{self.base_url}/v1beta/{job_id}", mapped, headers=await self._headers()
            )
        return await self.http.call(
            "POST",
            f"{self.base_url}/v1/{match.group(1)}:fetchPredictOperation",
            mapped,
            json={"operationName": job_id},
            headers=await self._headers(),
        )

    async def aclose(self) -> None:
        await super().aclose()
        if self._images is not None:
            await self._images.aclose()

    async def cancel(self, job_id: str) -> CancelResult:
        if not self._operation_pattern().match(job_id):
            raise bad_job_id(job_id, self.name)
        # Neither API offers a cancel for video generation operations; the job runs to its end and the
        # orchestrator ignores (and deletes) what it writes.
        return CancelResult(cancelled=False, detail="Veo cannot cancel a video generation once started")


RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"


def retry_delay(response: httpx.Response) -> float | None:
    """google.rpc.RetryInfo's `retryDelay` from an error body (Google puts the wait there, not in a
    Retry-After header); None when absent or unreadable."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, dict) and detail.get("@type") == RETRY_INFO_TYPE:
            delay = duration_pb2.Duration()
            try:
                delay.FromJsonString(str(detail.get("retryDelay")))
            except ValueError:
                return None
            return max(0.0, delay.ToTimedelta().total_seconds())
    return None


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return f"{error.get('status', '')} {error.get('message', '')}".strip()
    return str(body)[:200]
