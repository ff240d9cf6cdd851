"""Veo on loopback: Vertex AI (predictLongRunning + fetchPredictOperation) and the Gemini API
(predictLongRunning + operations GET + file download), on one server.

On Vertex success the fake writes a real `sample_0.mp4` into the GCS emulator under the request's
`storageUri`, in one of Veo's two layouts: "subdir" (`{prefix}/{server-made number}/sample_0.mp4`, what Veo
does) or "operation" (`{prefix}/{operation id}.mp4`, what the seed app assumed). `report_gcs_uri = False`
answers without `videos`, so callers must find the output under the prefix themselves. `inline_video`
makes the Gemini API answer with the video's bytes (`encodedVideo`) instead of a download URI.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from datetime import timedelta
from typing import Any, Literal

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.protobuf import duration_pb2

from provider_service.fakes.base import FakeJob, FakeProvider, Route, tiny_video
from provider_service.local_http import Request, Response

# Projects may be domain-scoped ("example.com:proj").
_MODEL_PATH = r"(?:v1|v1beta1)/(projects/[^/]+/locations/[\w-]+/publishers/google/models/[\w.-]+)"
_VERTEX_SUBMIT = re.compile(rf"^/{_MODEL_PATH}:predictLongRunning$")
_VERTEX_FETCH = re.compile(rf"^/{_MODEL_PATH}:fetchPredictOperation$")
_GEMINI_SUBMIT = re.compile(r"^/v1beta/models/([\w.-]+):predictLongRunning$")
_GEMINI_OPERATION = re.compile(r"^/v1beta/(models/[\w.-]+/operations/[\w.-]+)$")
_GEMINI_FILE = re.compile(r"^/v1beta/files/([\w.-]+):download$")
_VERTEX_TYPE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
_GEMINI_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}

Layout = Literal["subdir", "operation"]


class VeoFake(FakeProvider):
    name = "veo"

    def __init__(
        self,
        *,
        gcs_url: str | None = None,
        api_key: str = "gemini-fake-key",
        access_token: str | None = None,
        layout: Layout = "subdir",
        report_gcs_uri: bool = True,
    ) -> None:
        super().__init__()
        self.gcs_url = gcs_url
        self.api_key = api_key
        self.access_token = access_token  # None: any bearer token is accepted
        self.layout: Layout = layout
        self.report_gcs_uri = report_gcs_uri
        self.written: list[str] = []  # gs:// URIs of the outputs written into the emulator
        # Gemini API: answer with these bytes inline (`encodedVideo`) instead of a download URI.
        self.inline_video: bytes | None = None
        self._gcs: storage.Client | None = None

    def route(self, request: Request) -> Route | None:
        if request.method == "POST" and (match := _VERTEX_SUBMIT.match(request.path)):
            model_path = match.group(1)
            return "submit", lambda r: self._submit(r, model_path)
        if request.method == "POST" and _VERTEX_FETCH.match(request.path):
            return "status", self._fetch
        if request.method == "POST" and (match := _GEMINI_SUBMIT.match(request.path)):
            model_path = f"models/{match.group(1)}"
            return "submit", lambda r: self._submit(r, model_path)
        if request.method == "GET" and (match := _GEMINI_OPERATION.match(request.path)):
            name = match.group(1)
            return "status", lambda r: self._operation(r, name)
        if request.method == "GET" and (match := _GEMINI_FILE.match(request.path)):
            return "download", self._download
        return None

    def error_response(self, status: int, retry_after: float | None) -> Response:
        """google.rpc.Status; a delay goes in `details` as RetryInfo (Google sends no Retry-After header)."""
        error: dict[str, Any] = {
            "code": status,
            "message": "fake trouble",
            "status": _STATUS_NAMES.get(status, "UNKNOWN"),
        }
        if retry_after is not None:
            delay = duration_pb2.Duration()
            delay.FromTimedelta(timedelta(seconds=retry_after))
            error["details"] = [{"@type": RETRY_INFO_TYPE, "retryDelay": delay.ToJsonString()}]
        return Response.json({"error": error}, status)

    def unknown_status_response(self, request: Request) -> Response:
        return Response.json({"name": "unknown", "metadata": {"state": "SOMETHING_NEW"}})

    def _refused(self, request: Request, gemini: bool) -> Response | None:
        if gemini:
            ok = request.headers.get("x-goog-api-key") == self.api_key
        else:
            auth = request.headers.get("authorization", "")
            ok = auth.startswith("Bearer ") and len(auth) > 7
            ok = ok and (self.access_token is None or auth == f"Bearer {self.access_token}")
        if ok:
            return None
        error = {
            "code": 401,
            "message": "Request had invalid authentication credentials.",
            "status": "UNAUTHENTICATED",
        }
        return Response.json({"error": error}, 401)

    def _submit(self, request: Request, model_path: str) -> Response:
        gemini = model_path.startswith("models/")
        if refused := self._refused(request, gemini):
            return refused
        try:
            body: dict[str, Any] = request.json()
            prompt = body["instances"][0].get("prompt")
            image = body["instances"][0].get("image")
            parameters = body.get("parameters") or {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return _invalid("Invalid JSON payload received.")
        if gemini and ("storageUri" in parameters or "seed" in parameters):
            return _invalid("storageUri is not supported")
        if image is not None and (problem := _image_problem(image, gemini)):
            return _invalid(problem)
        operation_id = str(uuid.uuid4())
        name = f"{model_path}/operations/{operation_id}"
        job = self.new_job(name, {"prompt": prompt, "parameters": parameters, "image": image})
        job.extra.update(operation_id=operation_id, gemini=gemini)
        return Response.json({"name": name})

    def _fetch(self, request: Request) -> Response:
        if refused := self._refused(request, gemini=False):
            return refused
        try:
            name = request.json()["operationName"]
        except (ValueError, KeyError, TypeError):
            error = {"code": 400, "message": "operationName is required", "status": "INVALID_ARGUMENT"}
            return Response.json({"error": error}, 400)
        return self._answer(name)

    def _operation(self, request: Request, name: str) -> Response:
        if refused := self._refused(request, gemini=True):
            return refused
        return self._answer(name)

    def _answer(self, name: str) -> Response:
        job = self.jobs.get(name)
        if job is None:
            error = {"code": 404, "message": "Operation not found", "status": "NOT_FOUND"}
            return Response.json({"error": error}, 404)
        self.answer_poll(job)
        return Response.json(self.operation_view(job))

    def operation_view(self, job: FakeJob) -> dict[str, Any]:
        if not job.finished:
            return {"name": job.id} if job.polls_answered % 2 else {"name": job.id, "done": False}
        done: dict[str, Any] = {"name": job.id, "done": True}
        if job.outcome == "failure":
            code = int(self.script.failure_code or 3)
            return done | {"error": {"code": code, "message": "The prompt could not be processed."}}
        gemini = bool(job.extra["gemini"])
        if job.outcome == "content_violation":
            filtered = {
                "raiMediaFilteredCount": 1,
                "raiMediaFilteredReasons": [
                    "The prompt contains content that violates the usage guidelines."
                ],
            }
            if gemini:
                return done | {"response": {"@type": _GEMINI_TYPE, "generateVideoResponse": filtered}}
            return done | {"response": {"@type": _VERTEX_TYPE, **filtered}}
        if gemini:
            uri = f"{self.url}/v1beta/files/{job.extra['operation_id']}:download?alt=media"
            video: dict[str, str] = {"uri": uri}
            if self.inline_video is not None:
                video = {
                    "encodedVideo": base64.b64encode(self.inline_video).decode(),
                    "encoding": "video/mp4",
                }
            samples = {"generatedSamples": [{"video": video}]}
            return done | {"response": {"@type": _GEMINI_TYPE, "generateVideoResponse": samples}}
        response: dict[str, Any] = {"@type": _VERTEX_TYPE, "raiMediaFilteredCount": 0}
        storage_uri = job.input["parameters"].get("storageUri")
        if storage_uri:
            with self.lock:  # two polls racing must not write two outputs
                gcs_uri = job.extra.get("gcs_uri") or self._write_output(job, storage_uri)
            if self.report_gcs_uri:
                response["videos"] = [{"gcsUri": gcs_uri, "mimeType": "video/mp4"}]
        else:
            encoded = base64.b64encode(tiny_video()).decode()
            response["videos"] = [{"bytesBase64Encoded": encoded, "mimeType": "video/mp4"}]
        return done | {"response": response}

    def _write_output(self, job: FakeJob, storage_uri: str) -> str:
        if self.gcs_url is None:
            raise RuntimeError("VeoFake needs gcs_url to write Vertex outputs")
        bucket_name, _, prefix = storage_uri.removeprefix("gs://").partition("/")
        prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        if self.layout == "subdir":
            key = f"{prefix}{time.time_ns()}/sample_0.mp4"
        else:
            key = f"{prefix}{job.extra['operation_id']}.mp4"
        if self._gcs is None:
            self._gcs = storage.Client(
                project="fake",
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                client_options=ClientOptions(api_endpoint=self.gcs_url),
            )
        self._gcs.bucket(bucket_name).blob(key).upload_from_string(tiny_video(), content_type="video/mp4")
        uri = f"gs://{bucket_name}/{key}"
        job.extra["gcs_uri"] = uri
        self.written.append(uri)
        return uri

    def _download(self, request: Request) -> Response:
        if refused := self._refused(request, gemini=True):
            return refused
        return Response(200, tiny_video(), {"Content-Type": "video/mp4"})


def _invalid(message: str) -> Response:
    return Response.json({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}, 400)


def _image_problem(image: Any, gemini: bool) -> str | None:
    """What Veo refuses in `instances[].image` (an Image: gcsUri or bytesBase64Encoded, with mimeType)."""
    if not isinstance(image, dict):
        return "image must be an object"
    has_uri, has_bytes = "gcsUri" in image, "bytesBase64Encoded" in image
    if has_uri == has_bytes:
        return "image needs exactly one of gcsUri and bytesBase64Encoded"
    if has_uri and gemini:
        return "gcsUri is not supported by the Gemini API; send bytesBase64Encoded"
    if image.get("mimeType") not in _IMAGE_TYPES:
        return f"image mimeType must be one of {sorted(_IMAGE_TYPES)}"
    if has_bytes:
        try:
            base64.b64decode(str(image["bytesBase64Encoded"]), validate=True)
        except ValueError:
            return "image bytesBase64Encoded is not valid base64"
    return None
