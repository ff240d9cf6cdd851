"""Submissions are resent only when the provider certainly did not accept them."""

from __future__ import annotations

import grpc
import pytest

from provider_service.fakes import FalFake, Fault, RunwayFake
from tests.support.providers import HANG_TIMEOUT, Generations, StartProviderService, provider_stub
from videojobs.v1 import common_pb2
from videojobs_cli.gcs_emulator import free_port

SPEC = common_pb2.VideoSpec(prompt="rain on a window", duration_seconds=5)


@pytest.mark.parametrize("kind", ["accept_then_drop", "malformed", "500", "502", "504", "hang"])
async def test_ambiguous_submission_is_not_resent(
    start_provider_service: StartProviderService, runway_fake: RunwayFake, fal_fake: FalFake, kind: str
) -> None:
    runway_fake.script.hang_seconds = fal_fake.script.hang_seconds = 1.0
    service = await start_provider_service(runway=runway_fake, fal=fal_fake, **HANG_TIMEOUT)
    async with provider_stub(service.port) as stub:
        for provider, fake in (("runway", runway_fake), ("fal", fal_fake)):
            fake.fail_next("submit", Fault(kind))
            failure = await Generations(stub, provider).submit_failure(SPEC)

            assert failure.code == grpc.StatusCode.UNAVAILABLE
            assert failure.reason == "SUBMIT_OUTCOME_UNKNOWN"
            assert fake.calls["submit"] == 1, "the submission was not resent"
            expected_jobs = 1 if kind in ("accept_then_drop", "malformed") else 0
            assert fake.submissions == expected_jobs


@pytest.mark.parametrize("kind", ["429", "503"])
async def test_submission_the_provider_refused_is_resent(
    start_provider_service: StartProviderService, runway_fake: RunwayFake, kind: str
) -> None:
    service = await start_provider_service(runway=runway_fake)
    runway_fake.fail_next("submit", Fault(kind, retry_after=0.01), times=2)
    async with provider_stub(service.port) as stub:
        job_id = await Generations(stub, "runway").submit(SPEC)
    assert job_id in runway_fake.jobs
    assert runway_fake.calls["submit"] == 3
    assert runway_fake.submissions == 1


async def test_connection_refused_is_unavailable_not_unknown(
    start_provider_service: StartProviderService,
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    service = await start_provider_service(runway_api_secret="key", runway_base_url=closed)
    async with provider_stub(service.port) as stub:
        failure = await Generations(stub, "runway").submit_failure(SPEC)
    assert failure.code == grpc.StatusCode.UNAVAILABLE
    assert failure.reason == "PROVIDER_UNAVAILABLE"
    assert failure.retry_seconds is not None


async def test_submission_rejected_for_good_is_failed_precondition(
    start_provider_service: StartProviderService, runway_fake: RunwayFake
) -> None:
    service = await start_provider_service(runway=runway_fake, runway_api_secret="wrong")
    async with provider_stub(service.port) as stub:
        failure = await Generations(stub, "runway").submit_failure(SPEC)
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "PROVIDER_AUTH_FAILED"
    assert runway_fake.calls["submit"] == 1
