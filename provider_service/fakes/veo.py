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

from provider_service.catalog import sources
from provider_service.catalog.wire import Issue, Schema, validate
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
# "The Cloud Storage URI of the image": Vertex reads the object itself, so an https URL there is refused
# rather than fetched.
_GCS_OBJECT = re.compile(r"^gs://[^/]+/.+")
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
# The Gemini API's predictLongRunning takes the same body without these (PROVIDERS.md).
_NOT_ON_GEMINI = frozenset({"storageUri", "seed", "generateAudio"})

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
        model = model_path.rsplit("/", 1)[-1]
        if model not in {m["id"] for m in sources.offered()["veo"]["models"]}:
            message = (
                f"Publisher Model `{model_path}` was not found or your project does not have access to it."
            )
            return Response.json({"error": {"code": 404, "message": message, "status": "NOT_FOUND"}}, 404)
        try:
            body: Any = request.json()
        except ValueError:
            return _invalid([Issue((), "type", "Invalid JSON payload received.")])
        if issues := self.issues(model, body, gemini=gemini):
            self.refused.append(body)
            return _invalid(issues)
        operation_id = str(uuid.uuid4())
        name = f"{model_path}/operations/{operation_id}"
        instance, parameters = body["instances"][0], body.get("parameters") or {}
        job = self.new_job(
            name, {"prompt": instance.get("prompt"), "parameters": parameters, "image": instance.get("image")}
        )
        job.extra.update(operation_id=operation_id, gemini=gemini)
        return Response.json({"name": name})

    @staticmethod
    def issues(model: str, body: Any, *, gemini: bool = False) -> list[Issue]:
        """What Veo refuses in a predictLongRunning body: fields and types as google-genai writes them, values
        as Google documents them for `model`."""
        instance_schema, parameters_schema = sources.vertex_schemas(model)
        if gemini:
            parameters_schema = Schema(
                tuple(f for f in parameters_schema.fields if f.name not in _NOT_ON_GEMINI)
            )
        if not isinstance(body, dict) or set(body) - {"instances", "parameters"}:
            return [Issue((), "type", "the body must be an object of instances and parameters")]
        instances = body.get("instances")
        if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
            return [Issue(("instances",), "type", "must hold exactly one instance object")]
        instance = instances[0]
        issues = validate(instance_schema, instance, ("instances", 0))
        if not instance.get("prompt") and "image" not in instance:
            issues.append(
                Issue(("instances", 0, "prompt"), "missing", "is required unless an image is given")
            )
        issues.extend(_image_issues(instance.get("image"), gemini))
        parameters = body.get("parameters", {})
        if not isinstance(parameters, dict):
            return [*issues, Issue(("parameters",), "type", "must be an object")]
        return issues + validate(parameters_schema, parameters, ("parameters",))

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


def _invalid(issues: list[Issue]) -> Response:
    """400 as a google.rpc.Status with a BadRequest listing every field."""
    violations = [
        {"field": ".".join(str(p) for p in issue.path), "description": issue.message} for issue in issues
    ]
    message = "; ".join(f"{v['field'] or 'body'}: {v['description']}" for v in violations)
    error = {
        "code": 400,
        "message": f"Request contains an invalid argument: {message}",
        "status": "INVALID_ARGUMENT",
        "details": [{"@type": _BAD_REQUEST, "fieldViolations": violations}],
    }
    return Response.json({"error": error}, 400)


def _image_issues(image: Any, gemini: bool) -> list[Issue]:
    """What Veo refuses in `instances[0].image` beyond its declared fields (one of gcsUri and
    bytesBase64Encoded, checked by the schema): a gs:// image on the Gemini API, a type other than JPEG or
    PNG, bytes that are not base64, a gcsUri that names no Cloud Storage object."""
    path: tuple[str | int, ...] = ("instances", 0, "image")
    if not isinstance(image, dict):
        return []
    issues = []
    if gemini and "gcsUri" in image:
        issues.append(
            Issue((*path, "gcsUri"), "extra", "is not supported by the Gemini API; send bytesBase64Encoded")
        )
    elif "gcsUri" in image and not _GCS_OBJECT.match(str(image["gcsUri"])):
        issues.append(Issue((*path, "gcsUri"), "type", "must be a Cloud Storage URI (gs://bucket/object)"))
    if image.get("mimeType") not in _IMAGE_TYPES:
        issues.append(Issue((*path, "mimeType"), "literal", f"must be one of {sorted(_IMAGE_TYPES)}"))
    if "bytesBase64Encoded" in image:
        try:
            base64.b64decode(str(image["bytesBase64Encoded"]), validate=True)
        except ValueError:
            issues.append(Issue((*path, "bytesBase64Encoded"), "type", "is not valid base64"))
    return issues
