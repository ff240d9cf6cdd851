"""Each provider end to end through the gRPC service and its fake: success, content block, failure, cancel."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import av
import httpx
import pytest
from google.cloud import storage

from provider_service.fakes import FakeProvider
from provider_service.sim.server import SimProvider
from tests.support.cli import health
from tests.support.providers import MD, StartProviderService, provider_stub
from tests.support.services import ProviderStub
from videojobs.v1 import common_pb2
from videojobs.v1 import provider_service_pb2 as pb

State = pb.GenerationStatus


@dataclass
class Case:
    provider: str
    fake: FakeProvider | None
    stub: ProviderStub
    prefix: str = ""

    async def submit(self, prompt: str = "a paper boat on a rainy street", **spec: Any) -> str:
        request = pb.SubmitGenerationRequest(
            provider=self.provider,
            spec=common_pb2.VideoSpec(prompt=prompt, duration_seconds=4, **spec),
            idempotency_key=uuid.uuid4().hex,
            output_uri_prefix=self.prefix,
        )
        reply = await self.stub.SubmitGeneration(request, metadata=MD, timeout=10)
        assert reply.provider_job_id
        return str(reply.provider_job_id)

    async def poll(self, job_id: str) -> pb.GenerationStatus:
        request = pb.GetGenerationStatusRequest(provider=self.provider, provider_job_id=job_id)
        return await self.stub.GetGenerationStatus(request, metadata=MD, timeout=10)

    async def poll_until_terminal(self, job_id: str, limit: int = 40) -> list[pb.GenerationStatus]:
        seen = []
        for _ in range(limit):
            status = await self.poll(job_id)
            seen.append(status)
            if status.state not in (State.QUEUED, State.RUNNING):
                return seen
            if self.fake is None:  # the sim runs on wall-clock time
                import asyncio

                await asyncio.sleep(0.05)
        raise AssertionError(f"{self.provider} job still running after {limit} polls")

    async def cancel(self, job_id: str) -> pb.CancelGenerationResponse:
        request = pb.CancelGenerationRequest(provider=self.provider, provider_job_id=job_id)
        return await self.stub.CancelGeneration(request, metadata=MD, timeout=10)

    def script(self, outcome: str) -> None:
        if self.fake is not None:
            self.fake.script.outcome = outcome  # type: ignore[assignment]


PROVIDERS = ["veo", "gemini", "fal", "runway", "sim"]
_SIM_MARKERS = {"success": "", "failure": " [sim:fail]", "content_violation": " [sim:violation]"}


@pytest.fixture(params=PROVIDERS)
async def case(
    request: pytest.FixtureRequest,
    start_provider_service: StartProviderService,
    gcs_bucket: storage.Bucket,
) -> AsyncIterator[Case]:
    name = request.param
    prefix = ""
    fake: FakeProvider | None = None
    if name in ("veo", "gemini"):
        fake = request.getfixturevalue("veo_fake")
        service = await start_provider_service(veo=fake, veo_mode="gemini" if name == "gemini" else "vertex")
        prefix = f"gs://{gcs_bucket.name}/incoming/{uuid.uuid4()}/"
    elif name == "fal":
        fake = request.getfixturevalue("fal_fake")
        service = await start_provider_service(fal=fake)
    elif name == "runway":
        fake = request.getfixturevalue("runway_fake")
        service = await start_provider_service(runway=fake)
    else:
        sim: SimProvider = request.getfixturevalue("sim_provider")
        service = await start_provider_service(sim_url=sim.public_url)
    async with provider_stub(service.port) as stub:
        yield Case("veo" if name == "gemini" else name, fake, stub, prefix)


def _download(url: str, headers: dict[str, str]) -> bytes:
    response = httpx.get(url, headers=headers, timeout=5, follow_redirects=True)
    response.raise_for_status()
    return response.content


def _assert_h264(data: bytes) -> None:
    import io

    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video[0].codec_context.name == "h264"


async def test_a_job_succeeds_after_polls_with_a_real_video_output(
    case: Case, gcs_client: storage.Client
) -> None:
    job_id = await case.submit()
    seen = await case.poll_until_terminal(job_id)

    assert len(seen) >= 3, "at least two polls before the final answer"
    assert {s.state for s in seen[:-1]} <= {State.QUEUED, State.RUNNING}
    final = seen[-1]
    assert final.state == State.SUCCEEDED, final
    assert len(final.output_uris) == 1
    uri = final.output_uris[0]
    if uri.startswith("gs://"):
        assert uri.startswith(case.prefix)
        bucket, _, key = uri.removeprefix("gs://").partition("/")
        _assert_h264(gcs_client.bucket(bucket).blob(key).download_as_bytes())
    else:
        _assert_h264(_download(uri, dict(final.output_fetch_headers)))
    if case.fake is not None:
        assert case.fake.submissions == 1
        assert case.fake.polls[next(iter(case.fake.jobs))] == len(seen)


async def test_content_violation_is_terminal_with_reasons(case: Case) -> None:
    case.script("content_violation")
    prompt = "something the filter refuses" + (_SIM_MARKERS["content_violation"] if case.fake is None else "")
    final = (await case.poll_until_terminal(await case.submit(prompt)))[-1]

    assert final.state == State.CONTENT_VIOLATION
    assert list(final.violation_reasons)
    assert not final.error.retryable
    assert not final.output_uris


async def test_permanent_failure_is_failed_and_not_retryable(case: Case) -> None:
    case.script("failure")
    final = (await case.poll_until_terminal(await case.submit("a prompt [sim:reject]")))[-1]

    assert final.state == State.FAILED
    assert final.error.code
    assert final.error.message
    assert final.error.retryable is False


async def test_cancel_while_running_cancels_or_says_it_cannot(case: Case) -> None:
    job_id = await case.submit("[sim:slow] a long one" if case.fake is None else "a long one")
    assert (await case.poll(job_id)).state in (State.QUEUED, State.RUNNING)

    reply = await case.cancel(job_id)

    if case.provider == "veo":  # Veo has no cancel: said plainly, and the job carries on
        assert reply.cancelled is False
        assert "cannot cancel" in reply.detail
        return
    assert reply.cancelled is True
    assert (await case.poll(job_id)).state == State.CANCELLED
    if case.fake is not None:
        assert sum(case.fake.cancels.values()) == 1


async def test_the_container_healthcheck_sees_it_serving(
    start_provider_service: StartProviderService,
) -> None:
    service = await start_provider_service()
    env = {"VIDEOJOBS_PROVIDER_HOST": "0.0.0.0", "VIDEOJOBS_PROVIDER_PORT": str(service.port)}
    probe = await health("provider", env)
    assert probe.returncode == 0, probe.stdout + probe.stderr
    assert f"provider at 127.0.0.1:{service.port}: SERVING" in probe.stdout
