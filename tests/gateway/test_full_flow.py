"""The whole flow over HTTP: gateway -> job_service (API + worker) -> provider_service (sim / fal fake) and
storage_service (GCS emulator). SSE until COMPLETED, the video URL downloads a real MP4, and a signed fal
webhook posted to the gateway completes a job without polling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
from google.cloud import storage

from provider_service.fakes import FalFake
from provider_service.sim.server import SimProvider
from tests.gateway.sse_client import read_events
from tests.support.pipeline import Pipeline, StartPipeline, pipeline_running
from tests.support.services import starting
from videojobs_cli.gcs_emulator import GcsEmulator


@pytest.fixture
async def pipeline(
    database_url: str, gcs_emulator: GcsEmulator, gcs_bucket: storage.Bucket
) -> AsyncIterator[StartPipeline]:
    """start(providers, **job settings) -> the pipeline with the gateway in front."""

    def running(providers: dict[str, Any], **job: Any) -> AbstractAsyncContextManager[Pipeline]:
        return pipeline_running(
            database_url, gcs_emulator.url, gcs_bucket, providers=providers, gateway={}, **job
        )

    async with starting(running) as start:
        yield start


async def test_create_watch_until_completed_and_download_the_mp4(
    pipeline: StartPipeline, sim_provider: SimProvider
) -> None:
    stack = await pipeline({"sim_url": sim_provider.public_url})
    async with await stack.client("alice") as alice:
        created = await alice.post(
            "/v1/videos",
            json={"prompt": "a paper boat", "providers": ["sim"]},
            headers={"Idempotency-Key": "k"},
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        stream = await asyncio.wait_for(read_events(alice, f"/v1/videos/{job_id}/events"), 60)
        job = (await alice.get(f"/v1/videos/{job_id}")).json()
        replay = await alice.post(
            "/v1/videos",
            json={"prompt": "a paper boat", "providers": ["sim"]},
            headers={"Idempotency-Key": "k"},
        )
        async with httpx.AsyncClient(timeout=30) as anyone:
            video = await anyone.get(job["video_url"])

    states = [event.event for event in stream.events]
    assert states[0] == "pending"
    assert states[-1] == "completed"
    assert "processing" in states
    assert job["state"] == "COMPLETED"
    assert job["video"]["width"] > 0
    # What the sim was asked for: no duration in the spec, so the model's default (the catalog's).
    assert job["effective"] == {
        "provider": "sim",
        "model": "sim",
        "mode": "text_to_video",
        "duration_seconds": 4,
        "aspect_ratio": "16:9",
        "audio": None,
        "parameters": {"duration_seconds": 4, "aspect_ratio": "16:9"},
    }
    assert replay.status_code == 200
    assert replay.json()["id"] == job_id
    assert video.status_code == 200
    assert video.content[4:8] == b"ftyp"  # an MP4 container
    assert len(video.content) == job["video"]["size_bytes"]


async def test_a_signed_fal_webhook_through_the_gateway_completes_the_job(
    pipeline: StartPipeline, fal_fake: FalFake
) -> None:
    fal_fake.script.polls_to_finish = 0
    # Polls far apart: only the webhook can finish this job within the test.
    stack = await pipeline({"fal": fal_fake}, poll_initial_seconds=600, poll_max_seconds=600)
    async with await stack.client("bob") as bob, httpx.AsyncClient(base_url=stack.url) as fal:
        job_id = (await bob.post("/v1/videos", json={"prompt": "x", "providers": ["fal"]})).json()["id"]
        async with asyncio.timeout(30):
            while (job := (await bob.get(f"/v1/videos/{job_id}")).json())["state"] != "PROCESSING":  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        headers, body = fal_fake.signed_webhook(job["provider_job_id"].rsplit(":", 1)[-1])
        forged = await fal.post("/v1/webhooks/fal", content=body + b" ", headers=headers)
        delivered = await fal.post("/v1/webhooks/fal", content=body, headers=headers)
        replayed = await fal.post("/v1/webhooks/fal", content=body, headers=headers)
        stream = await asyncio.wait_for(read_events(bob, f"/v1/videos/{job_id}/events"), 10)

    assert forged.status_code == 401
    assert delivered.status_code == 200, delivered.text
    assert replayed.status_code == 200
    assert stream.events[-1].event == "completed"


async def test_seed_004s_app_polls_its_row_until_the_video_and_thumbnail_download(
    pipeline: StartPipeline, sim_provider: SimProvider
) -> None:
    """Seed 004's app unchanged: animate, poll GET /api/video/jobs/{id} until the row is completed, then play
    output_video_url and show thumbnail_url. Seed 000's app repeating it gets the finished video back."""
    stack = await pipeline({"sim_url": sim_provider.public_url})
    async with await stack.client("erin") as erin:
        created = await erin.post(
            "/api/video/animate",
            json={"prompt": "a paper boat", "providers": ["sim"], "clientRequestId": "c-1"},
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        url = f"/api/video/jobs/{job_id}"
        async with asyncio.timeout(60):
            # Polling is how this client follows a job.
            while (row := (await erin.get(url)).json())["status"] in {"pending", "processing"}:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        repeated = await erin.post("/generate", json={"prompt": "a paper boat", "providers": ["sim"]})
        async with httpx.AsyncClient(timeout=30) as anyone:
            video = await anyone.get(row["output_video_url"])
            thumbnail = await anyone.get(row["thumbnail_url"])

    assert row["status"] == "completed", row
    assert (row["id"], row["user_id"], row["provider"]) == (job_id, "erin", "sim")
    assert (row["client_request_id"], row["error_message"]) == ("c-1", None)
    assert row["updated_at"] >= row["created_at"]
    assert video.status_code == 200
    assert video.content[4:8] == b"ftyp"  # an MP4 container
    assert thumbnail.status_code == 200
    assert thumbnail.content[:2] == b"\xff\xd8"  # a JPEG
    assert repeated.status_code == 200
    assert repeated.json() == {
        "success": True,
        "video_id": job_id,
        "status": "completed",
        "message": "Video generation already started",
        "duplicate_of": job_id,
        "reason": "DUPLICATE_REQUEST",
    }
