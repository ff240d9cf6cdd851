"""fal failures as the queue reports them: a COMPLETED status that only says "error", classified from the
result's `detail[].type` (and its categories), with X-Fal-Retryable honoured."""

from __future__ import annotations

import pytest

from provider_service.fakes import FalFake
from tests.support.providers import StartProviderService, submitted
from videojobs.v1 import provider_service_pb2 as pb

State = pb.GenerationStatus


async def _final_status(start: StartProviderService, fal_fake: FalFake) -> pb.GenerationStatus:
    fal_fake.script.polls_to_finish = 0
    async with submitted(start, fal_fake) as (fal, job_id):
        return await fal.status(job_id)


async def test_a_content_block_behind_a_plain_error_is_a_content_violation_with_its_categories(
    start_provider_service: StartProviderService, fal_fake: FalFake
) -> None:
    fal_fake.script.outcome = "content_violation"
    fal_fake.content_categories = ["violence", "hate"]

    status = await _final_status(start_provider_service, fal_fake)

    assert status.state == State.CONTENT_VIOLATION
    assert list(status.violation_reasons)[:2] == ["violence", "hate"]
    assert "flagged by a content checker" in status.error.message
    assert status.error.retryable is False
    assert fal_fake.calls["result"] == 1


@pytest.mark.parametrize(
    ("error_type", "header", "retryable"),
    [
        ("file_download_error", None, False),  # a model error: 422 detail[], not worth another try
        ("file_download_error", "true", True),  # ...unless fal says it is
        ("internal_server_error", None, True),
        ("internal_server_error", "false", False),
        ("runner_disconnected", None, True),  # a request error: 503 + X-Fal-Error-Type from the result
        ("runner_disconnected", "false", False),
        ("request_timeout", None, True),  # 504
        ("bad_request", None, False),  # 400
    ],
)
async def test_a_failed_request_is_classified_from_its_result(
    start_provider_service: StartProviderService,
    fal_fake: FalFake,
    error_type: str,
    header: str | None,
    retryable: bool,
) -> None:
    fal_fake.script.outcome = "failure"
    fal_fake.script.failure_code = error_type
    fal_fake.retryable_header = header

    status = await _final_status(start_provider_service, fal_fake)

    assert status.state == State.FAILED
    assert status.error.code == f"FAL_{error_type.upper()}"
    assert status.error.retryable is retryable
    # The result's error answer (even a 5xx) is the request's outcome, read once, not fal being down.
    assert fal_fake.calls["result"] == 1


async def test_a_cancelled_request_reads_as_cancelled(
    start_provider_service: StartProviderService, fal_fake: FalFake
) -> None:
    fal_fake.script.polls_to_finish = 100
    async with submitted(start_provider_service, fal_fake) as (fal, job_id):
        await fal.cancel(job_id)
        status = await fal.status(job_id)
    assert status.state == State.CANCELLED
