"""fal's status stream (`GET .../requests/{id}/status/stream`, server-sent events): the fake speaks it as the
queue documents it, and AwaitGeneration follows it through the real adapter."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest

from provider_service.fakes import FalFake, RunwayFake
from tests.support.grpc_client import rpc_failure
from tests.support.providers import MD, StartProviderService, provider_stub, started_stub
from videojobs.v1 import common_pb2
from videojobs.v1 import provider_service_pb2 as pb

MODEL = "fal-ai/kling-video/v2.1/master/text-to-video"


@pytest.fixture
async def stub(start_provider_service: StartProviderService, fal_fake: FalFake) -> AsyncIterator[Any]:
    async with started_stub(start_provider_service, fal=fal_fake) as stub:
        yield stub


async def _submit(stub: Any) -> str:
    spec = common_pb2.VideoSpec(prompt="a paper boat on a rainy street", model=MODEL)
    reply = await stub.SubmitGeneration(
        pb.SubmitGenerationRequest(provider="fal", spec=spec), metadata=MD, timeout=10
    )
    return str(reply.provider_job_id)


def _await(job_id: str, max_wait: float) -> pb.AwaitGenerationRequest:
    return pb.AwaitGenerationRequest(provider="fal", provider_job_id=job_id, max_wait_seconds=max_wait)


def _long_jobs(fal_fake: FalFake) -> None:
    """Jobs from now on run 30 s; the fake sends a keep-alive every 50 ms, so it notices within that when its
    client closed a stream."""
    fal_fake.script.durations = (30.0, 30.0)
    fal_fake.keepalive_seconds = 0.05


def _events(body: str) -> list[dict[str, Any]]:
    return [json.loads(line[len("data: ") :]) for line in body.splitlines() if line.startswith("data: ")]


async def test_the_fakes_stream_sends_status_events_and_ends_after_completed(
    stub: Any, fal_fake: FalFake
) -> None:
    fal_fake.script.durations = (0.6, 0.6)
    fal_fake.keepalive_seconds = 0.2
    app, request_id = (await _submit(stub)).split(":")
    url = f"{fal_fake.url}/{app}/requests/{request_id}/status/stream"
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(url, headers={"Authorization": f"Key {fal_fake.key}"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    events = _events(response.text)
    # The first status as it stands, then each change; COMPLETED last, with nothing after it.
    assert events[0]["status"] == "IN_QUEUE"
    assert events[-1]["status"] == "COMPLETED"
    assert [event["status"] for event in events].count("COMPLETED") == 1
    assert ": keep-alive" in response.text  # quiet stretches carry a comment line
    assert fal_fake.polls[request_id] == 0  # following the stream is not polling
    assert fal_fake.open_streams == 0


async def test_the_fakes_stream_refuses_what_the_queue_refuses(stub: Any, fal_fake: FalFake) -> None:
    app, request_id = (await _submit(stub)).split(":")
    base = f"{fal_fake.url}/{app}/requests"
    async with httpx.AsyncClient(timeout=5) as client:
        good = {"Authorization": f"Key {fal_fake.key}"}
        no_key = await client.get(f"{base}/{request_id}/status/stream")
        bad_key = await client.get(
            f"{base}/{request_id}/status/stream", headers={"Authorization": "Key wrong"}
        )
        unknown = await client.get(f"{base}/no-such-request/status/stream", headers=good)
        other_app = await client.get(
            f"{fal_fake.url}/fal-ai/veo3/requests/{request_id}/status/stream", headers=good
        )
        post = await client.post(f"{base}/{request_id}/status/stream", headers=good)
    assert (no_key.status_code, bad_key.status_code) == (401, 401)
    assert (unknown.status_code, other_app.status_code) == (404, 404)
    assert unknown.json() == {"detail": "Request not found"}
    assert post.status_code in (404, 405)


async def test_await_generation_returns_when_the_provider_finishes(stub: Any, fal_fake: FalFake) -> None:
    fal_fake.script.durations = (1.0, 1.0)
    job_id = await _submit(stub)
    fake_job = fal_fake.jobs[job_id.split(":")[1]]
    reply = await stub.AwaitGeneration(_await(job_id, 10), metadata=MD, timeout=15)
    seen = time.time()
    assert reply.finished
    assert 0 <= seen - fake_job.finish_time < 0.5
    # The outcome is still the status call's answer.
    status = await stub.GetGenerationStatus(
        pb.GetGenerationStatusRequest(provider="fal", provider_job_id=job_id), metadata=MD, timeout=10
    )
    assert status.state == pb.GenerationStatus.SUCCEEDED
    # The queue ends the stream after COMPLETED; the fake's thread too.
    assert await asyncio.to_thread(fal_fake.streams_open, 0, 5)


async def test_await_generation_answers_unchanged_when_the_wait_ends_first(
    stub: Any, fal_fake: FalFake
) -> None:
    _long_jobs(fal_fake)
    job_id = await _submit(stub)
    started = time.monotonic()
    reply = await stub.AwaitGeneration(_await(job_id, 0.3), metadata=MD, timeout=10)
    assert not reply.finished
    assert 0.3 <= time.monotonic() - started < 2.0
    # The fake notices the stream its client closed at its next keep-alive.
    assert await asyncio.to_thread(fal_fake.streams_open, 0, 5)


async def test_streams_have_connections_of_their_own_and_a_bound(
    start_provider_service: StartProviderService, fal_fake: FalFake
) -> None:
    _long_jobs(fal_fake)
    async with started_stub(start_provider_service, fal=fal_fake, fal_status_streams=1) as stub:
        first, second = await _submit(stub), await _submit(stub)
        following = asyncio.ensure_future(stub.AwaitGeneration(_await(first, 4), metadata=MD, timeout=10))
        assert await asyncio.to_thread(fal_fake.streams_open, 1, 5)
        # The one stream connection is taken: another stream waits for it (the connect timeout), then fails.
        failure = await rpc_failure(stub.AwaitGeneration, _await(second, 4))
        assert failure.code == grpc.StatusCode.UNAVAILABLE
        # Polls have connections of their own.
        request = pb.GetGenerationStatusRequest(provider="fal", provider_job_id=first)
        status = await stub.GetGenerationStatus(request, metadata=MD, timeout=2)
        assert status.state in (pb.GenerationStatus.QUEUED, pb.GenerationStatus.RUNNING)
        assert not (await following).finished
    assert fal_fake.max_open_streams == 1


async def test_a_stream_that_breaks_before_completed_is_unavailable(stub: Any, fal_fake: FalFake) -> None:
    _long_jobs(fal_fake)
    fal_fake.cut_streams = 1
    job_id = await _submit(stub)
    failure = await rpc_failure(stub.AwaitGeneration, _await(job_id, 10))
    assert failure.code == grpc.StatusCode.UNAVAILABLE
    assert failure.reason == "PROVIDER_UNAVAILABLE"
    assert fal_fake.cut_streams == 0


async def test_a_stream_the_queue_refuses_is_its_error(
    start_provider_service: StartProviderService, fal_fake: FalFake
) -> None:
    service = await start_provider_service(fal=fal_fake, fal_key="not-the-key")
    job = fal_fake.new_job("req-1", {"prompt": "a lighthouse at dusk"})
    job.extra["app"] = "fal-ai/kling-video"
    async with provider_stub(service.port) as stub:
        failure = await rpc_failure(stub.AwaitGeneration, _await("fal-ai/kling-video:req-1", 5))
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "PROVIDER_AUTH_FAILED"


async def test_an_unknown_request_is_not_found(stub: Any) -> None:
    failure = await rpc_failure(stub.AwaitGeneration, _await("fal-ai/kling-video:no-such-request", 5))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.reason == "PROVIDER_JOB_NOT_FOUND"


@pytest.mark.parametrize(
    ("request_fields", "fields"),
    [
        ({"provider": "sora", "provider_job_id": "a/b:c", "max_wait_seconds": 5}, {"provider"}),
        ({"provider": "fal", "provider_job_id": " ", "max_wait_seconds": 5}, {"provider_job_id"}),
        ({"provider": "fal", "provider_job_id": "a/b:c", "max_wait_seconds": 0}, {"max_wait_seconds"}),
        ({"provider": "fal", "provider_job_id": "a/b:c", "max_wait_seconds": 301}, {"max_wait_seconds"}),
        (
            {"provider": "fal", "provider_job_id": "a/b:c", "max_wait_seconds": float("nan")},
            {"max_wait_seconds"},
        ),
        (
            {"provider": "", "provider_job_id": "", "max_wait_seconds": -1},
            {"provider", "provider_job_id", "max_wait_seconds"},
        ),
    ],
)
async def test_bad_input_is_invalid_argument_with_every_field_named(
    stub: Any, request_fields: dict[str, Any], fields: set[str]
) -> None:
    failure = await rpc_failure(stub.AwaitGeneration, pb.AwaitGenerationRequest(**request_fields))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(failure.fields) == fields


async def test_a_provider_without_a_stream_says_so(
    start_provider_service: StartProviderService, runway_fake: RunwayFake
) -> None:
    service = await start_provider_service(runway=runway_fake)
    async with provider_stub(service.port) as stub:
        failure = await rpc_failure(
            stub.AwaitGeneration,
            pb.AwaitGenerationRequest(provider="runway", provider_job_id="task-1", max_wait_seconds=5),
        )
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "STATUS_STREAM_NOT_SUPPORTED"
