"""The sim provider's outcomes and idempotency; Veo's two output layouts in the GCS emulator."""

from __future__ import annotations

import io
import uuid

import av
import httpx
import pytest
from google.cloud import storage

from provider_service.fakes import VeoFake
from provider_service.sim.server import SimProvider
from tests.support.providers import Generations, StartProviderService, provider_stub
from videojobs.v1 import common_pb2
from videojobs.v1 import provider_service_pb2 as pb


def test_sim_renders_a_real_h264_video_of_the_prompt(sim_provider: SimProvider) -> None:
    with httpx.Client(base_url=sim_provider.public_url, timeout=5) as client:
        created = client.post("/v1/generations", json={"prompt": "hello", "duration_seconds": 1}).json()
        assert client.get(f"/v1/generations/{created['id']}").json()["status"] in ("queued", "running")
        for _ in range(50):
            view = client.get(f"/v1/generations/{created['id']}").json()
            if view["status"] == "succeeded":
                break
            import time

            time.sleep(0.02)
        assert view["status"] == "succeeded"
        video = client.get(view["output_url"]).content
    with av.open(io.BytesIO(video), mode="r") as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 160, 90)
        assert float(container.duration or 0) / 1e6 == pytest.approx(1.0, abs=0.2)


def test_sim_deduplicates_on_the_idempotency_key(sim_provider: SimProvider) -> None:
    with httpx.Client(base_url=sim_provider.public_url, timeout=5) as client:
        first = client.post("/v1/generations", json={"prompt": "a", "idempotency_key": "k1"})
        second = client.post("/v1/generations", json={"prompt": "a", "idempotency_key": "k1"})
        other = client.post("/v1/generations", json={"prompt": "a", "idempotency_key": "k2"})
    assert first.status_code == 201
    assert second.status_code == 200
    assert first.json()["id"] == second.json()["id"] != other.json()["id"]


@pytest.mark.parametrize(("layout", "report"), [("subdir", True), ("operation", True), ("subdir", False)])
async def test_veo_writes_sample_0_in_either_layout(
    start_provider_service: StartProviderService,
    veo_fake: VeoFake,
    gcs_bucket: storage.Bucket,
    layout: str,
    report: bool,
) -> None:
    veo_fake.layout = layout  # type: ignore[assignment]
    veo_fake.report_gcs_uri = report
    veo_fake.script.polls_to_finish = 0
    prefix = f"incoming/{uuid.uuid4()}/"
    service = await start_provider_service(veo=veo_fake)
    async with provider_stub(service.port) as stub:
        veo = Generations(stub, "veo")
        job_id = await veo.submit(
            common_pb2.VideoSpec(prompt="x"), output_uri_prefix=f"gs://{gcs_bucket.name}/{prefix}"
        )
        status = await veo.status(job_id)
    assert status.state == pb.GenerationStatus.SUCCEEDED
    names = [blob.name for blob in gcs_bucket.list_blobs(prefix=prefix)]
    assert len(names) == 1
    operation_id = job_id.rsplit("/", 1)[1]
    if layout == "subdir":
        assert names[0].startswith(prefix)
        assert names[0].endswith("/sample_0.mp4")
    else:
        assert names[0] == f"{prefix}{operation_id}.mp4"
    assert list(status.output_uris) == ([f"gs://{gcs_bucket.name}/{names[0]}"] if report else [])
    body = veo_fake.jobs[job_id].input["parameters"]
    assert body["storageUri"] == f"gs://{gcs_bucket.name}/{prefix}"
