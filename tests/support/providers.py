"""provider_service and the fake providers for tests (a pytest plugin: tests/conftest.py loads its fixtures).

    async def test_x(start_provider_service, fal_fake):
        service = await start_provider_service(fal=fal_fake)  # settings point at the fake; fast retries
        async with provider_stub(service.port) as stub:
            fal = Generations(stub, "fal")  # submit, status, cancel as job_service calls them
            status = await fal.status(await fal.submit(spec))

Settings are tuned for speed: millisecond backoff, short timeouts, short RetryInfo delays. The HTTP timeout
(2 s) holds on a loaded machine; a test that makes a provider hang sets HANG_TIMEOUT and a longer hang.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from provider_service.fakes import FakeProvider, FalFake, RunwayFake, VeoFake
from provider_service.server import ProviderService
from provider_service.settings import ProviderServiceSettings
from provider_service.sim.server import SimProvider, SimSettings
from provider_service.sim.server import start as start_sim
from tests.support.grpc_client import RpcFailure, metadata, rpc_failure
from tests.support.services import LOOPBACK, ProviderStub, provider_service_running, starting, target
from videojobs.v1 import common_pb2, job_service_pb2, provider_service_pb2_grpc
from videojobs.v1 import provider_service_pb2 as pb
from videojobs_cli.gcs_emulator import GcsEmulator

FAST: dict[str, Any] = {
    "provider_host": LOOPBACK,
    "provider_port": 0,
    "http_connect_timeout_seconds": 2.0,
    "http_timeout_seconds": 2.0,
    "retry_attempts": 6,
    "retry_initial_seconds": 0.005,
    "retry_max_seconds": 0.05,
    "unavailable_retry_seconds": 1.0,
    "sim_url": None,
}
# For tests whose provider hangs on purpose (hang_seconds past it): the adapter gives up quickly.
HANG_TIMEOUT: dict[str, Any] = {"http_timeout_seconds": 0.5}
MD = metadata()  # how job_service calls provider_service: the internal token, no user

StartProviderService = Callable[..., Awaitable[ProviderService]]


def provider_settings(
    *,
    veo: VeoFake | None = None,
    veo_mode: str | None = None,
    fal: FalFake | None = None,
    runway: RunwayFake | None = None,
    sim_url: str | None = None,
    **overrides: Any,
) -> ProviderServiceSettings:
    """Settings pointing each given provider at its fake; the others stay unconfigured. Without `veo_mode`,
    Veo runs in the service's default mode, as a deployment that never sets VIDEOJOBS_VEO_MODE does."""
    options: dict[str, Any] = dict(FAST)
    if veo is not None:
        options |= {"veo_base_url": veo.url, "gemini_base_url": veo.url}
        if veo_mode is not None:
            options["veo_mode"] = veo_mode
        options |= {"veo_project": "test-project", "veo_access_token": veo.access_token or "test-token"}
        if veo_mode == "gemini":
            options["gemini_api_key"] = veo.api_key
    if fal is not None:
        options |= {"fal_key": fal.key, "fal_queue_url": fal.url, "fal_webhook_jwks": fal.jwks}
    if runway is not None:
        options |= {"runway_api_secret": runway.secret, "runway_base_url": runway.url}
    if sim_url is not None:
        options["sim_url"] = sim_url
    return ProviderServiceSettings(**(options | overrides))


@asynccontextmanager
async def provider_stub(port: int) -> AsyncIterator[provider_service_pb2_grpc.ProviderServiceAsyncStub]:
    async with grpc.aio.insecure_channel(target(port)) as channel:
        yield provider_service_pb2_grpc.ProviderServiceStub(channel)


@asynccontextmanager
async def started_stub(
    start: StartProviderService, **settings: Any
) -> AsyncIterator[provider_service_pb2_grpc.ProviderServiceAsyncStub]:
    """A stub of a provider_service started (by the start_provider_service fixture) with these settings."""
    service = await start(**settings)
    async with provider_stub(service.port) as stub:
        yield stub


@dataclass
class Generations:
    """provider_service's generation calls about one provider, made as job_service makes them (the internal
    token, a deadline)."""

    stub: ProviderStub
    provider: str

    async def submit(self, spec: common_pb2.VideoSpec, **request: Any) -> str:
        """The provider_job_id of a new generation; `request`: further SubmitGenerationRequest fields."""
        submit = pb.SubmitGenerationRequest(provider=self.provider, spec=spec, **request)
        reply = await self.stub.SubmitGeneration(submit, metadata=MD, timeout=10)
        return str(reply.provider_job_id)

    async def submit_failure(self, spec: common_pb2.VideoSpec, **request: Any) -> RpcFailure:
        """The failure a submission ends in (the test fails if it is accepted)."""
        submit = pb.SubmitGenerationRequest(provider=self.provider, spec=spec, **request)
        return await rpc_failure(self.stub.SubmitGeneration, submit)

    def status_request(self, job_id: str) -> pb.GetGenerationStatusRequest:
        return pb.GetGenerationStatusRequest(provider=self.provider, provider_job_id=job_id)

    async def status(self, job_id: str) -> pb.GenerationStatus:
        return await self.stub.GetGenerationStatus(self.status_request(job_id), metadata=MD, timeout=10)

    async def cancel(self, job_id: str) -> pb.CancelGenerationResponse:
        request = pb.CancelGenerationRequest(provider=self.provider, provider_job_id=job_id)
        return await self.stub.CancelGeneration(request, metadata=MD, timeout=10)


@asynccontextmanager
async def submitted(
    start: StartProviderService, fake: FakeProvider, spec: common_pb2.VideoSpec | None = None, **settings: Any
) -> AsyncIterator[tuple[Generations, str]]:
    """provider_service (started with `settings`) in front of `fake`, and one generation submitted to it: the
    calls about that provider and the generation's provider_job_id, for the `async with` block."""
    async with started_stub(start, **{fake.name: fake}, **settings) as stub:
        generations = Generations(stub, fake.name)
        yield generations, await generations.submit(spec or common_pb2.VideoSpec(prompt="rain on a window"))


@pytest.fixture
async def start_provider_service() -> AsyncIterator[StartProviderService]:
    """start(**provider_settings kwargs): a started ProviderService on a free port, stopped afterwards."""

    def running(**kwargs: Any) -> AbstractAsyncContextManager[ProviderService]:
        return provider_service_running(provider_settings(**kwargs))

    async with starting(running) as start:
        yield start


@pytest.fixture
def fal_fake() -> Iterator[FalFake]:
    with FalFake() as fake:
        yield fake


@pytest.fixture
def runway_fake() -> Iterator[RunwayFake]:
    with RunwayFake() as fake:
        yield fake


@pytest.fixture
def veo_fake(gcs_emulator: GcsEmulator) -> Iterator[VeoFake]:
    """Both Veo APIs; Vertex outputs land in the session's GCS emulator."""
    with VeoFake(gcs_url=gcs_emulator.url) as fake:
        yield fake


@contextmanager
def quick_sim(**overrides: Any) -> Iterator[SimProvider]:
    """The sim HTTP service on a free port with quick jobs (0.2 s) and tiny videos; `.public_url`."""
    settings: dict[str, Any] = {
        "sim_port": 0,
        "sim_job_seconds": 0.2,
        "sim_slow_seconds": 30,
        "sim_video_seconds": 1,
        "sim_width": 160,
        "sim_height": 90,
    }
    provider, server = start_sim(SimSettings(**(settings | overrides)))
    try:
        yield provider
    finally:
        server.stop()


@pytest.fixture
def sim_provider() -> Iterator[SimProvider]:
    with quick_sim() as provider:
        yield provider


def fal_request_id(job: job_service_pb2.Job) -> str:
    """fal's own request id inside our provider_job_id ("<app>:<request id>")."""
    return job.provider_job_id.rsplit(":", 1)[-1]
