"""Every documented provider state and failure code, mapped to the common states, `retryable` honest."""

from __future__ import annotations

from typing import Any

import pytest

from provider_service.adapters import fal, runway, sim, veo
from provider_service.calls import MalformedResponse
from provider_service.model import State

Q, R, S, F, CV, C = (
    State.QUEUED,
    State.RUNNING,
    State.SUCCEEDED,
    State.FAILED,
    State.CONTENT_VIOLATION,
    State.CANCELLED,
)


@pytest.mark.parametrize(
    ("task", "state", "retryable"),
    [
        ({"status": "PENDING"}, Q, None),
        ({"status": "THROTTLED"}, Q, None),
        ({"status": "RUNNING", "progress": 0.4}, R, None),
        ({"status": "SUCCEEDED", "output": ["https://x/o.mp4"]}, S, None),
        ({"status": "SUCCEEDED", "output": []}, F, True),
        ({"status": "CANCELLED"}, C, None),
        ({"status": "FAILED", "failureCode": "SAFETY.INPUT.TEXT", "failure": "x"}, CV, False),
        ({"status": "FAILED", "failureCode": "SAFETY.INPUT.IMAGE"}, CV, False),
        ({"status": "FAILED", "failureCode": "SAFETY.OUTPUT.VIDEO"}, CV, False),
        ({"status": "FAILED", "failureCode": "INPUT_PREPROCESSING.SAFETY.TEXT"}, CV, False),
        ({"status": "FAILED", "failureCode": "INTERNAL.BAD_OUTPUT.CODE01"}, F, False),
        ({"status": "FAILED", "failureCode": "INPUT_PREPROCESSING.INTERNAL"}, F, True),
        ({"status": "FAILED", "failureCode": "INTERNAL"}, F, True),
        ({"status": "FAILED", "failureCode": "ASSET.INVALID"}, F, False),
        ({"status": "FAILED", "failureCode": "SOMETHING.NEW"}, F, False),
        ({"status": "FAILED", "failure": "no code"}, F, False),
        ({"status": "PAUSED"}, R, None),
    ],
)
def test_runway(task: dict[str, Any], state: State, retryable: bool | None) -> None:
    status = runway.map_task(task)
    assert status.state == state
    assert (status.error.retryable if status.error else None) == retryable
    if state == CV:
        assert status.violation_reasons


@pytest.mark.parametrize(
    ("body", "state", "retryable"),
    [
        ({"status": "IN_QUEUE", "queue_position": 3, "logs": None}, Q, None),
        ({"status": "IN_PROGRESS", "queue_position": None, "logs": []}, R, None),
        ({"status": "COMPLETED", "error": "x", "error_type": "content_policy_violation"}, CV, False),
        ({"status": "COMPLETED", "error": "x", "error_type": "request_timeout"}, F, True),
        ({"status": "COMPLETED", "error": "x", "error_type": "startup_timeout"}, F, True),
        ({"status": "COMPLETED", "error": "x", "error_type": "runner_scheduling_failure"}, F, True),
        ({"status": "COMPLETED", "error": "x", "error_type": "runner_disconnected"}, F, True),
        ({"status": "COMPLETED", "error": "x", "error_type": "internal_server_error"}, F, True),
        ({"status": "COMPLETED", "error": "x", "error_type": "file_download_error"}, F, False),
        ({"status": "COMPLETED", "error": "x", "error_type": "client_cancelled"}, C, None),
        ({"status": "SOMETHING_NEW"}, R, None),
    ],
)
def test_fal_status(body: dict[str, Any], state: State, retryable: bool | None) -> None:
    status = fal.map_queue_status(body)
    assert status is not None
    assert status.state == state
    assert (status.error.retryable if status.error else None) == retryable


def test_fal_completed_without_error_defers_to_the_result() -> None:
    assert fal.map_queue_status({"status": "COMPLETED", "logs": None, "metrics": {}}) is None
    assert fal.map_result({"video": {"url": "https://v3.fal.media/o.mp4"}}).output_uris == (
        "https://v3.fal.media/o.mp4",
    )
    assert fal.map_result({"videos": [{"url": "https://a"}, {"url": "https://b"}]}).output_uris == (
        "https://a",
        "https://b",
    )
    assert fal.map_result({"seed": 1}).state == F


@pytest.mark.parametrize(
    ("operation", "state", "retryable"),
    [
        ({"name": "n"}, R, None),
        ({"name": "n", "done": False}, R, None),
        ({"done": True, "error": {"code": 3, "message": "bad"}}, F, False),
        ({"done": True, "error": {"code": 8, "message": "quota"}}, F, True),
        ({"done": True, "error": {"code": 13, "message": "internal"}}, F, True),
        ({"done": True, "error": {"code": 14, "message": "unavailable"}}, F, True),
        ({"done": True, "error": {"code": 7, "message": "denied"}}, F, False),
        (
            {"done": True, "response": {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": ["r"]}},
            CV,
            False,
        ),
        ({"done": True, "response": {"raiMediaFilteredCount": 1}}, CV, False),
        (
            {
                "done": True,
                "response": {"raiMediaFilteredCount": 0, "videos": [{"gcsUri": "gs://b/p/1/sample_0.mp4"}]},
            },
            S,
            None,
        ),
        ({"done": True, "response": {"raiMediaFilteredCount": 0}}, S, None),
        ({"done": True, "response": {"generateVideoResponse": {"raiMediaFilteredCount": 2}}}, CV, False),
    ],
)
def test_veo(operation: dict[str, Any], state: State, retryable: bool | None) -> None:
    status = veo.map_operation(operation)
    assert status.state == state
    assert (status.error.retryable if status.error else None) == retryable


def test_veo_gemini_outputs_carry_their_download_headers() -> None:
    operation = {
        "done": True,
        "response": {
            "generateVideoResponse": {"generatedSamples": [{"video": {"uri": "https://g/v1beta/files/a"}}]}
        },
    }
    status = veo.map_operation(operation, {"x-goog-api-key": "secret"})
    assert status.output_uris == ("https://g/v1beta/files/a",)
    assert status.output_fetch_headers == {"x-goog-api-key": "secret"}
    assert "secret" not in repr(status)
    empty = {"done": True, "response": {"generateVideoResponse": {"raiMediaFilteredCount": 0}}}
    assert veo.map_operation(empty, {"x-goog-api-key": "k"}).state == F


def test_veo_done_without_error_or_response_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        veo.map_operation({"done": True})


@pytest.mark.parametrize(
    ("model", "asked", "sent"),
    [
        ("veo-3.1-generate-001", 0, None),
        ("veo-3.1-generate-001", 1, 4),
        ("veo-3.1-generate-001", 5, 6),
        ("veo-3.1-generate-001", 8, 8),
        ("veo-3.1-generate-001", 30, 8),
        ("veo-2.0-generate-001", 2, 5),
        ("veo-2.0-generate-001", 7, 7),
        ("veo-2.0-generate-001", 12, 8),
    ],
)
def test_veo_durations_snap_to_what_the_model_accepts(model: str, asked: int, sent: int | None) -> None:
    assert veo.snap_duration(model, asked) == sent


@pytest.mark.parametrize(
    ("body", "state", "retryable"),
    [
        ({"status": "queued"}, Q, None),
        ({"status": "running", "progress": 0.5}, R, None),
        ({"status": "succeeded", "output_url": "http://sim/files/a.mp4"}, S, None),
        ({"status": "cancelled"}, C, None),
        ({"status": "failed", "error": {"code": "SIM_FAILED", "message": "m", "retryable": True}}, F, True),
        (
            {"status": "failed", "error": {"code": "SIM_REJECTED", "message": "m", "retryable": False}},
            F,
            False,
        ),
        ({"status": "content_violation", "violation_reasons": ["sim:violation"]}, CV, False),
    ],
)
def test_sim(body: dict[str, Any], state: State, retryable: bool | None) -> None:
    status = sim.map_generation(body)
    assert status.state == state
    assert (status.error.retryable if status.error else None) == retryable


def test_sim_unknown_status_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        sim.map_generation({"status": "weird"})
