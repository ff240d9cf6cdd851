"""Every documented provider state and failure code, mapped to the common states, `retryable` honest."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from google.rpc import code_pb2

from provider_service.adapters import fal, runway, sim, veo
from provider_service.calls import MalformedResponse
from provider_service.domain import InlineVideo, State, Status
from videojobs.contract import INLINE_VIDEO_MAX_BYTES


def outcome(status: Status) -> tuple[State, bool | None]:
    """A mapped status as the tables below state it: its state, and whether its error is worth retrying."""
    return status.state, (status.error.retryable if status.error else None)


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
def test_runway_task_states_and_failure_codes_map_to_generation_states(
    task: dict[str, Any], state: State, retryable: bool | None
) -> None:
    status = runway.map_task(task)
    assert outcome(status) == (state, retryable)
    if state == CV:
        assert status.violation_reasons


# fal's request error types (docs: model-apis/request-errors) and model error types (model-apis/errors):
# retryable where the service, not the input, is to blame.
FAL_REQUEST_ERRORS = {
    "request_timeout": True,
    "startup_timeout": True,
    "runner_scheduling_failure": True,
    "runner_connection_timeout": True,
    "runner_disconnected": True,
    "runner_connection_refused": True,
    "runner_connection_error": True,
    "runner_incomplete_response": True,
    "runner_server_error": True,
    "client_disconnected": True,
    "internal_error": True,
    "bad_request": False,
}
FAL_MODEL_ERRORS = {
    "internal_server_error": True,
    "generation_timeout": True,
    "downstream_service_error": True,
    "downstream_service_unavailable": True,
    **dict.fromkeys(
        [
            "no_media_generated",
            "image_too_small",
            "image_too_large",
            "image_load_error",
            "file_download_error",
            "face_detection_error",
            "file_too_large",
            "greater_than",
            "greater_than_equal",
            "less_than",
            "less_than_equal",
            "multiple_of",
            "sequence_too_short",
            "sequence_too_long",
            "one_of",
            "feature_not_supported",
            "invalid_archive",
            "archive_file_count_below_minimum",
            "archive_file_count_exceeds_maximum",
            "audio_duration_too_long",
            "audio_duration_too_short",
            "unsupported_audio_format",
            "unsupported_image_format",
            "unsupported_video_format",
            "video_duration_too_long",
            "video_duration_too_short",
        ],
        False,
    ),
}


# The HTTP status each request error type comes with (docs: request-errors); model errors are 422 detail[].
FAL_REQUEST_ERROR_STATUS = {
    "request_timeout": 504,
    "startup_timeout": 504,
    "client_disconnected": 499,
    "internal_error": 500,
    "bad_request": 400,
    "runner_incomplete_response": 502,
    "runner_server_error": 500,
}


def _fal_failure(error_type: str) -> tuple[dict[str, Any], httpx.Response]:
    """A failed request as fal reports it: the COMPLETED status, then the result endpoint's answer."""
    if error_type in FAL_REQUEST_ERRORS:
        code = FAL_REQUEST_ERROR_STATUS.get(error_type, 503)
        completed = {"status": "COMPLETED", "logs": None, "error": "x", "error_type": error_type}
        headers = {"X-Fal-Error-Type": error_type}
        return completed, httpx.Response(
            code, json={"detail": "x", "error_type": error_type}, headers=headers
        )
    completed = {"status": "COMPLETED", "logs": None, "error": "Invalid status code: 422"}
    detail = {
        "detail": [{"loc": ["body"], "msg": "x", "type": error_type, "url": "https://docs.fal.ai/errors"}]
    }
    return completed, httpx.Response(422, json=detail)


@pytest.mark.parametrize(
    ("error_type", "retryable"), sorted({**FAL_REQUEST_ERRORS, **FAL_MODEL_ERRORS}.items())
)
def test_every_documented_fal_error_type_fails_with_its_retryability(
    error_type: str, retryable: bool
) -> None:
    completed, result = _fal_failure(error_type)
    assert fal.map_queue_status(completed) is None  # the status alone never classifies a failure
    status = fal.map_result_response(result, completed)
    assert status.state == F
    assert status.error is not None
    assert status.error.retryable is retryable
    assert status.error.code == f"FAL_{error_type.upper()}"


@pytest.mark.parametrize("hint", ["true", "false", "True"])
def test_fal_retryable_header_decides_over_the_type(hint: str) -> None:
    for error_type in ("runner_disconnected", "file_download_error"):
        completed, result = _fal_failure(error_type)
        result.headers["X-Fal-Retryable"] = hint
        status = fal.map_result_response(result, completed)
        assert status.error is not None
        assert status.error.retryable is (hint.lower() == "true")


def test_fal_content_policy_and_cancellation_are_recognised_in_every_shape() -> None:
    item = {"loc": ["body", "prompt"], "msg": "flagged", "type": "content_policy_violation"}
    blocked = fal.map_result_response(httpx.Response(422, json={"detail": [item]}))
    assert blocked.state == CV
    assert blocked.violation_reasons == ("flagged",)
    categorized = {"detail": [item | {"categories": ["sexual", "violence"]}]}
    # X-Fal-Retryable never turns a content block into something worth retrying.
    headers = {"X-Fal-Retryable": "true"}
    blocked = fal.map_result_response(httpx.Response(422, json=categorized, headers=headers))
    assert (blocked.state, blocked.violation_reasons) == (CV, ("sexual", "violence", "flagged"))
    assert blocked.error is not None
    assert blocked.error.retryable is False
    completed = {"status": "COMPLETED", "error": "x", "error_type": "client_cancelled"}
    answer = {"detail": "Request was cancelled", "error_type": "client_cancelled"}
    cancelled = fal.map_result_response(httpx.Response(499, json=answer), completed)
    assert (cancelled.state, cancelled.error) == (C, None)
    # A failed request whose result is not fal's error shape: the status's error type still classifies it.
    plain = fal.map_result_response(httpx.Response(500, text="<html>"), {"error_type": "runner_disconnected"})
    assert plain.state == F
    assert plain.error is not None
    assert plain.error.retryable is True


@pytest.mark.parametrize(
    ("body", "state"),
    [
        ({"status": "IN_QUEUE", "queue_position": 3, "logs": None}, Q),
        ({"status": "IN_PROGRESS", "queue_position": None, "logs": []}, R),
        ({"status": "SOMETHING_NEW"}, R),
    ],
)
def test_fal_queue_statuses_map_to_generation_states(body: dict[str, Any], state: State) -> None:
    status = fal.map_queue_status(body)
    assert status is not None
    assert status.state == state
    assert status.error is None


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
        ({"done": True, "error": {"message": "no code"}}, F, True),
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
        # Filter reasons without a count (the count is optional in both APIs) still block.
        ({"done": True, "response": {"raiMediaFilteredReasons": ["r"], "videos": []}}, CV, False),
        ({"done": True, "response": {"raiMediaFilteredReasons": ["r"]}}, CV, False),
        (
            {"done": True, "response": {"generateVideoResponse": {"raiMediaFilteredReasons": ["r"]}}},
            CV,
            False,
        ),
        # Without a storageUri Vertex returns the video inline: the caller stores it.
        ({"done": True, "response": {"videos": [{"bytesBase64Encoded": "AAAA"}]}}, S, None),
        ({"done": True, "response": {"videos": [{"mimeType": "video/mp4"}]}}, F, True),
    ],
)
def test_veo_operations_map_to_generation_states(
    operation: dict[str, Any], state: State, retryable: bool | None
) -> None:
    assert outcome(veo.map_operation(operation)) == (state, retryable)


# Every google.rpc.Code a failed operation's `error.code` can carry, by the published enum; a code it does not
# know yet is named by its number and, like UNKNOWN, worth another try.
RPC_CODES = {number: name for name, number in code_pb2.Code.items() if number != code_pb2.OK}
RPC_CODES[99] = "CODE_99"
# Retryable when the service, not the request, is to blame.
SERVER_SIDE = {
    "UNKNOWN", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "CODE_99",
}  # fmt: skip


@pytest.mark.parametrize(("code", "name"), sorted(RPC_CODES.items()))
def test_a_failed_veo_operation_is_retryable_only_for_server_side_rpc_codes(code: int, name: str) -> None:
    status = veo.map_operation({"done": True, "error": {"code": code, "message": "m"}})
    assert status.state == F
    assert status.error is not None
    assert (status.error.code, status.error.retryable) == (f"VEO_{name}", name in SERVER_SIDE)


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
    # A Gemini answer never means "look under the output prefix": there is none.
    assert veo.map_operation({"done": True, "response": {}}, {"x-goog-api-key": "k"}).state == F


def test_veo_inline_videos_are_decoded_and_capped() -> None:
    encoded = base64.b64encode(b"\x00\x00\x00\x18ftypmp42 a video").decode()
    gemini = {"generatedSamples": [{"video": {"encodedVideo": encoded, "encoding": "video/mp4"}}]}
    status = veo.map_operation({"done": True, "response": {"generateVideoResponse": gemini}}, {"k": "v"})
    assert status.state == S
    assert status.inline_video == InlineVideo(b"\x00\x00\x00\x18ftypmp42 a video", "video/mp4")
    assert "ftyp" not in repr(status)  # bytes stay out of logs
    over = "A" * ((INLINE_VIDEO_MAX_BYTES + 4) * 4 // 3)
    too_large = veo.map_operation({"done": True, "response": {"videos": [{"bytesBase64Encoded": over}]}})
    assert too_large.state == F
    assert too_large.error is not None
    assert (too_large.error.code, too_large.error.retryable) == ("VEO_OUTPUT_TOO_LARGE", False)
    with pytest.raises(MalformedResponse):
        veo.map_operation({"done": True, "response": {"videos": [{"bytesBase64Encoded": "not base64!"}]}})


def test_veo_done_without_error_or_response_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        veo.map_operation({"done": True})


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
def test_sim_answers_map_to_generation_states(
    body: dict[str, Any], state: State, retryable: bool | None
) -> None:
    assert outcome(sim.map_generation(body)) == (state, retryable)


def test_sim_unknown_status_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        sim.map_generation({"status": "weird"})
