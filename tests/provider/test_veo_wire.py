"""Veo details a production run would meet: domain-scoped projects, RetryInfo in error bodies, https
images sent as bytes, Gemini videos returned inline, the Gemini mode marked deprecated."""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import trustme
from google.cloud import storage
from google.rpc import error_details_pb2
from PIL import Image

from provider_service.fakes import Fault, VeoFake, tiny_video
from tests.support.grpc_client import rpc_failure
from tests.support.providers import MD, Generations, StartProviderService, provider_stub
from tests.support.storage import Route, SourceServer, start_source_server
from tests.support.tls import server_tls
from tests.support.videos import padded_mp4
from videojobs.message_limits import GRPC_MAX_MESSAGE_BYTES, message_size_options
from videojobs.v1 import common_pb2, provider_service_pb2_grpc
from videojobs.v1 import provider_service_pb2 as pb

State = pb.GenerationStatus


async def test_a_domain_scoped_project_submits_and_polls(
    start_provider_service: StartProviderService, veo_fake: VeoFake, gcs_bucket: storage.Bucket
) -> None:
    veo_fake.script.polls_to_finish = 0
    service = await start_provider_service(veo=veo_fake, veo_project="example.com:video-jobs")
    async with provider_stub(service.port) as stub:
        veo = Generations(stub, "veo")
        job_id = await veo.submit(
            common_pb2.VideoSpec(prompt="x"),
            output_uri_prefix=f"gs://{gcs_bucket.name}/incoming/{uuid.uuid4()}/",
        )
        assert job_id.startswith("projects/example.com:video-jobs/locations/us-central1/")
        assert (await veo.status(job_id)).state == State.SUCCEEDED
        # What never names one project segment is still refused before any call.
        for bad in (
            "projects/../locations/us-central1/publishers/google/models/m/operations/o",
            "projects/p?x=1/locations/us-central1/publishers/google/models/m/operations/o",
        ):
            failure = await rpc_failure(
                stub.GetGenerationStatus, pb.GetGenerationStatusRequest(provider="veo", provider_job_id=bad)
            )
            assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert veo_fake.calls["status"] == 1


async def test_retry_delay_comes_from_the_error_body(
    start_provider_service: StartProviderService, veo_fake: VeoFake, gcs_bucket: storage.Bucket
) -> None:
    """Google answers 429/503 with google.rpc.RetryInfo in `error.details` and no Retry-After header."""
    service = await start_provider_service(veo=veo_fake)
    prefix = f"gs://{gcs_bucket.name}/incoming/{uuid.uuid4()}/"
    submit = pb.SubmitGenerationRequest(
        provider="veo", spec=common_pb2.VideoSpec(prompt="x"), output_uri_prefix=prefix
    )
    async with provider_stub(service.port) as stub:
        veo_fake.fail_next("submit", Fault("429", retry_after=30))
        refused = await rpc_failure(stub.SubmitGeneration, submit)
        job = await stub.SubmitGeneration(submit, metadata=MD)
        veo_fake.fail_next("status", Fault("503", retry_after=12.5))
        down = await rpc_failure(
            stub.GetGenerationStatus,
            pb.GetGenerationStatusRequest(provider="veo", provider_job_id=job.provider_job_id),
        )
    for failure, seconds, nanos, reason in (
        (refused, 30, 0, "PROVIDER_THROTTLED"),  # a 429: job_service slows down towards veo
        (down, 12, 500_000_000, "PROVIDER_UNAVAILABLE"),
    ):
        assert failure.code == grpc.StatusCode.UNAVAILABLE
        assert failure.reason == reason
        retry = failure.detail(error_details_pb2.RetryInfo)
        assert retry is not None
        assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (seconds, nanos)
    # A wait longer than one RPC may hold goes back to the caller at once: one call each, not a retry loop.
    assert veo_fake.calls["submit"] == 2
    assert veo_fake.calls["status"] == 1
    assert veo_fake.submissions == 1


def _picture(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 36), (200, 120, 30)).save(out, format=kind)
    return out.getvalue()


PNG, JPEG, WEBP = _picture("PNG"), _picture("JPEG"), _picture("WEBP")


@pytest.fixture
def images(certificate_authority: trustme.CA) -> Iterator[SourceServer]:
    """Where users keep their images: https on loopback (reached only with fetch_allow_local), with a
    certificate from the authority the service is told to trust (fetch_ca_file=ca_file)."""
    source = start_source_server(
        {
            "/cat.png": Route(200, {"content-type": "image/png"}, PNG),
            "/cat.jpg": Route(200, {"content-type": "application/octet-stream"}, JPEG),
            "/cat.webp": Route(200, {"content-type": "image/webp"}, WEBP),
            "/page.html": Route(200, {"content-type": "text/html"}, b"<html>not an image</html>"),
            "/big.png": Route(200, {"content-type": "image/png"}, PNG + b"\0" * 5000),
        },
        tls=server_tls(certificate_authority, "images.test"),
    )
    yield source
    source.stop()


def _submit(image_uri: str, prefix: str) -> pb.SubmitGenerationRequest:
    return pb.SubmitGenerationRequest(
        provider="veo",
        spec=common_pb2.VideoSpec(prompt="the cat wakes up", image_uri=image_uri),
        output_uri_prefix=prefix,
    )


@pytest.mark.parametrize("mode", ["vertex", "gemini"])
@pytest.mark.parametrize(
    ("path", "data", "mime"), [("/cat.png", PNG, "image/png"), ("/cat.jpg", JPEG, "image/jpeg")]
)
async def test_an_https_image_is_sent_as_base64_bytes(
    start_provider_service: StartProviderService,
    veo_fake: VeoFake,
    gcs_bucket: storage.Bucket,
    images: SourceServer,
    ca_file: Path,
    mode: str,
    path: str,
    data: bytes,
    mime: str,
) -> None:
    service = await start_provider_service(
        veo=veo_fake,
        veo_mode=mode,
        fetch_allow_local=True,
        fetch_ca_file=ca_file,
    )
    prefix = f"gs://{gcs_bucket.name}/incoming/{uuid.uuid4()}/" if mode == "vertex" else ""
    async with provider_stub(service.port) as stub:
        job = await stub.SubmitGeneration(_submit(images.url(path), prefix), metadata=MD)
    sent = veo_fake.jobs[job.provider_job_id].input["image"]
    assert sent == {"bytesBase64Encoded": base64.b64encode(data).decode(), "mimeType": mime}


async def test_a_gs_image_stays_a_gcs_uri_on_vertex_and_is_unsupported_on_gemini(
    start_provider_service: StartProviderService, veo_fake: VeoFake, gcs_bucket: storage.Bucket
) -> None:
    prefix = f"gs://{gcs_bucket.name}/incoming/{uuid.uuid4()}/"
    image = f"gs://{gcs_bucket.name}/uploads/cat.png"
    vertex = await start_provider_service(veo=veo_fake)
    async with provider_stub(vertex.port) as stub:
        job = await stub.SubmitGeneration(_submit(image, prefix), metadata=MD)
    assert veo_fake.jobs[job.provider_job_id].input["image"] == {"gcsUri": image, "mimeType": "image/png"}
    gemini = await start_provider_service(veo=veo_fake, veo_mode="gemini")
    async with provider_stub(gemini.port) as stub:
        failure = await rpc_failure(stub.SubmitGeneration, _submit(image, ""))
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "UNSUPPORTED_SPEC"


@pytest.mark.parametrize(
    ("where", "code", "reason"),
    [
        ("https://169.254.169.254/computeMetadata/v1/", grpc.StatusCode.INVALID_ARGUMENT, "URL_NOT_ALLOWED"),
        ("https://127.0.0.1:9/cat.png", grpc.StatusCode.INVALID_ARGUMENT, "URL_NOT_ALLOWED"),
        ("/big.png", grpc.StatusCode.FAILED_PRECONDITION, "SOURCE_TOO_LARGE"),
        ("/page.html", grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_SPEC"),
        ("/cat.webp", grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_SPEC"),
        ("/missing.png", grpc.StatusCode.FAILED_PRECONDITION, "SOURCE_NOT_FOUND"),
    ],
)
async def test_an_image_veo_cannot_take_is_refused_before_submitting(
    start_provider_service: StartProviderService,
    veo_fake: VeoFake,
    gcs_bucket: storage.Bucket,
    images: SourceServer,
    ca_file: Path,
    where: str,
    code: grpc.StatusCode,
    reason: str,
) -> None:
    local = where.startswith("/")  # the loopback source needs the development setting; the others do not
    service = await start_provider_service(
        veo=veo_fake,
        fetch_allow_local=local,
        fetch_ca_file=ca_file,
        image_max_bytes=len(PNG) + 1000,
    )
    url = images.url(where) if local else where
    async with provider_stub(service.port) as stub:
        failure = await rpc_failure(
            stub.SubmitGeneration, _submit(url, f"gs://{gcs_bucket.name}/incoming/x/")
        )
    assert failure.code == code
    assert failure.reason == reason
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        bad_request = failure.detail(error_details_pb2.BadRequest)
        assert bad_request is not None
        assert [v.field for v in bad_request.field_violations] == ["spec.image_uri"]
    assert veo_fake.calls["submit"] == 0


@pytest.mark.parametrize("size", ["tiny", "over gRPC's default 4 MiB"])
async def test_a_gemini_video_returned_inline_comes_back_as_bytes(
    start_provider_service: StartProviderService, veo_fake: VeoFake, size: str
) -> None:
    video = tiny_video() if size == "tiny" else padded_mp4(tiny_video(), 5 * 1024 * 1024)
    veo_fake.inline_video = video
    veo_fake.script.polls_to_finish = 0
    service = await start_provider_service(veo=veo_fake, veo_mode="gemini")
    options = message_size_options(GRPC_MAX_MESSAGE_BYTES)  # as job_service's channel has them
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}", options=options) as channel:
        stub = provider_service_pb2_grpc.ProviderServiceStub(channel)
        job = await stub.SubmitGeneration(
            pb.SubmitGenerationRequest(provider="veo", spec=common_pb2.VideoSpec(prompt="x")), metadata=MD
        )
        status = await stub.GetGenerationStatus(
            pb.GetGenerationStatusRequest(provider="veo", provider_job_id=job.provider_job_id), metadata=MD
        )
    assert status.state == State.SUCCEEDED
    assert list(status.output_uris) == []
    assert (status.inline_video.data, status.inline_video.mime_type) == (video, "video/mp4")
    assert veo_fake.calls["download"] == 0


# None: VIDEOJOBS_VEO_MODE unset, which must stay Vertex AI (the Gemini API mode may stop working).
@pytest.mark.parametrize(("mode", "shown"), [(None, "vertex"), ("vertex", "vertex"), ("gemini", "gemini")])
async def test_list_providers_shows_vertex_by_default_and_the_gemini_mode_deprecated(
    start_provider_service: StartProviderService, veo_fake: VeoFake, mode: str | None, shown: str
) -> None:
    service = await start_provider_service(veo=veo_fake, veo_mode=mode)
    async with provider_stub(service.port) as stub:
        reply = await stub.ListProviders(pb.ListProvidersRequest(), metadata=MD)
    veo = next(p for p in reply.providers if p.name == "veo")
    assert (veo.configured, veo.mode) == (True, shown)
    if mode == "gemini":
        assert "deprecated" in veo.deprecation
        assert "VIDEOJOBS_VEO_MODE=vertex" in veo.deprecation
    else:
        assert veo.deprecation == ""
    assert all(p.mode == p.deprecation == "" for p in reply.providers if p.name != "veo")
