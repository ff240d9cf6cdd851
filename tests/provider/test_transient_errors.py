"""Transient provider trouble: retried in the adapter within a bound; beyond it UNAVAILABLE + RetryInfo."""

from __future__ import annotations

import time

import grpc

from provider_service.fakes import FalFake, Fault, RunwayFake
from tests.support.grpc_client import rpc_failure
from tests.support.providers import HANG_TIMEOUT, Generations, StartProviderService, provider_stub, submitted
from videojobs.v1 import common_pb2
from videojobs.v1 import provider_service_pb2 as pb

State = pb.GenerationStatus
SPEC = common_pb2.VideoSpec(prompt="rain on a window", duration_seconds=5)


async def test_thirty_percent_failing_status_calls_still_reach_the_right_state(
    start_provider_service: StartProviderService, runway_fake: RunwayFake, fal_fake: FalFake
) -> None:
    runway_fake.script.hang_seconds = fal_fake.script.hang_seconds = 1.0  # past the 0.5 s read timeout
    for fake in (runway_fake, fal_fake):
        fake.fail_randomly(0.3, kinds=("500", "502", "503", "429", "hang"), retry_after=0.01, seed=11)
        fake.script.polls_to_finish = 3
    service = await start_provider_service(runway=runway_fake, fal=fal_fake, **HANG_TIMEOUT)
    outcomes = {
        "runway": ["success", "content_violation", "failure"],
        "fal": ["success", "content_violation"],
    }
    expected = {
        "success": State.SUCCEEDED,
        "content_violation": State.CONTENT_VIOLATION,
        "failure": State.FAILED,
    }
    async with provider_stub(service.port) as stub:
        for provider, fake in (("runway", runway_fake), ("fal", fal_fake)):
            generations = Generations(stub, provider)
            for outcome in outcomes[provider]:
                fake.script.outcome = outcome  # type: ignore[assignment]
                job_id = await generations.submit(SPEC)
                states = [
                    (await generations.status(job_id)).state for _ in range(fake.script.polls_to_finish + 1)
                ]
                # Every poll answered (no UNAVAILABLE), and exactly polls_to_finish + 1 polls reached the job.
                assert states[-1] == expected[outcome], (provider, outcome, states)
                assert set(states[:-1]) <= {State.QUEUED, State.RUNNING}
    assert runway_fake.calls["status"] > sum(runway_fake.polls.values()), "faults were injected"
    assert fal_fake.calls["status"] > sum(fal_fake.polls.values()), "faults were injected"


async def test_provider_that_stays_down_is_unavailable_with_retry_info(
    start_provider_service: StartProviderService, runway_fake: RunwayFake
) -> None:
    async with submitted(start_provider_service, runway_fake, retry_attempts=4) as (runway, job_id):
        runway_fake.fail_always("status", Fault("503"))
        before = runway_fake.calls["status"]
        started = time.monotonic()
        failure = await rpc_failure(runway.stub.GetGenerationStatus, runway.status_request(job_id))
    assert failure.code == grpc.StatusCode.UNAVAILABLE
    assert failure.retry_seconds == 1
    assert failure.reason == "PROVIDER_UNAVAILABLE"
    assert runway_fake.calls["status"] - before == 4, "exactly the configured number of attempts"
    assert time.monotonic() - started < 3


async def test_hanging_provider_times_out_and_ends_unavailable(
    start_provider_service: StartProviderService, fal_fake: FalFake
) -> None:
    async with submitted(start_provider_service, fal_fake, retry_attempts=2, **HANG_TIMEOUT) as (fal, job_id):
        fal_fake.script.hang_seconds = 5
        fal_fake.fail_always("status", Fault("hang"))
        started = time.monotonic()
        failure = await rpc_failure(fal.stub.GetGenerationStatus, fal.status_request(job_id))
    assert failure.code == grpc.StatusCode.UNAVAILABLE
    assert failure.retry_seconds is not None
    assert time.monotonic() - started < 2.5, "two attempts of a 0.5 s read timeout, not the 5 s hang"


async def test_long_retry_after_is_handed_back_instead_of_waited_out(
    start_provider_service: StartProviderService, runway_fake: RunwayFake
) -> None:
    async with submitted(start_provider_service, runway_fake) as (runway, job_id):
        runway_fake.fail_next("status", Fault("429", retry_after=30))
        before = runway_fake.calls["status"]
        failure = await rpc_failure(runway.stub.GetGenerationStatus, runway.status_request(job_id))
    assert failure.code == grpc.StatusCode.UNAVAILABLE
    assert failure.retry_seconds == 30
    assert runway_fake.calls["status"] - before == 1


async def test_short_retry_after_is_honoured_inside_the_call(
    start_provider_service: StartProviderService, runway_fake: RunwayFake
) -> None:
    async with submitted(start_provider_service, runway_fake, retry_max_seconds=0.5) as (runway, job_id):
        runway_fake.fail_next("status", Fault("429", retry_after=0.3), times=2)
        started = time.monotonic()
        status = await runway.status(job_id)
    assert status.state == State.QUEUED
    assert time.monotonic() - started >= 0.6, "waited Retry-After twice"


async def test_malformed_answers_are_retried_and_unknown_states_keep_polling(
    start_provider_service: StartProviderService, runway_fake: RunwayFake
) -> None:
    async with submitted(start_provider_service, runway_fake) as (runway, job_id):
        runway_fake.fail_next("status", Fault("malformed"), times=2)
        assert (await runway.status(job_id)).state == State.QUEUED  # retried past them
        runway_fake.fail_next("status", Fault("unknown_status"))
        assert (await runway.status(job_id)).state == State.RUNNING  # keep polling
        runway_fake.fail_always("status", Fault("malformed"))
        failure = await rpc_failure(runway.stub.GetGenerationStatus, runway.status_request(job_id))
    assert failure.code == grpc.StatusCode.UNAVAILABLE
