"""Bad input is a 4xx problem naming the field, never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.gateway import StartStack

PROBLEM = "application/problem+json"


def _assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert "Traceback" not in response.text
    return problem


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": 42}, "prompt"),
        ({"prompt": "x", "duration_seconds": "four"}, "duration_seconds"),
        ({"prompt": "x", "duration_seconds": 4.5}, "duration_seconds"),
        ({"prompt": "x", "duration_seconds": 2**40}, "duration_seconds"),
        ({"prompt": "x", "providers": "sim"}, "providers"),
        ({"prompt": "x", "colour": "blue"}, "colour"),
        ('{"prompt": "\\ud800"}', "prompt"),
        (["prompt"], "body"),
    ],
)
async def test_wrong_shapes_are_422_with_field_errors(
    alice: httpx.AsyncClient, body: object, field: str
) -> None:
    if isinstance(body, str):  # raw JSON that Python's encoder would refuse to produce
        response = await alice.post("/v1/videos", content=body, headers={"content-type": "application/json"})
    else:
        response = await alice.post("/v1/videos", json=body)
    problem = _assert_problem(response, 422)
    assert problem["reason"] == "INVALID_REQUEST"
    assert field in [error["field"] for error in problem["errors"]], problem


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["prompt"]),
        ({"prompt": "   "}, ["prompt"]),
        ({"prompt": "x" * 2001}, ["prompt"]),
        (
            {"prompt": "x", "aspect_ratio": "4:3", "duration_seconds": -1},
            ["duration_seconds", "aspect_ratio"],
        ),
        ({"prompt": "x", "providers": ["sim", "nope"]}, ["providers[1]"]),
        ({"image_uri": "http://insecure.example.com/a.png"}, ["image_uri"]),
    ],
)
async def test_rule_violations_are_400_with_every_field(
    alice: httpx.AsyncClient, body: dict[str, Any], fields: list[str]
) -> None:
    problem = _assert_problem(await alice.post("/v1/videos", json=body), 400)
    assert sorted(error["field"] for error in problem["errors"]) == sorted(fields)
    assert (await alice.get("/v1/videos")).json()["jobs"] == []  # nothing half-written


async def test_compat_animate_names_fields_as_its_clients_send_them(alice: httpx.AsyncClient) -> None:
    response = await alice.post("/api/video/animate", json={"imageUrl": "ftp://x/y.png"})
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["imageUrl"]


async def test_invalid_json_is_400(alice: httpx.AsyncClient) -> None:
    response = await alice.post(
        "/v1/videos", content=b'{"prompt": "unterminated', headers={"content-type": "application/json"}
    )
    assert _assert_problem(response, 400)["reason"] == "INVALID_JSON"


async def test_a_huge_body_is_413_before_it_is_read(start_stack: StartStack) -> None:
    stack = await start_stack(max_body_bytes=4096)
    async with await stack.client("big") as client:
        declared = await client.post("/v1/videos", json={"prompt": "x" * 10_000})

        async def chunks() -> Any:
            for _ in range(10):
                yield b"x" * 1000

        chunked = await client.post(
            "/v1/videos", content=chunks(), headers={"content-type": "application/json"}
        )
    assert _assert_problem(declared, 413)["reason"] == "BODY_TOO_LARGE"
    assert _assert_problem(chunked, 413)["reason"] == "BODY_TOO_LARGE"


@pytest.mark.parametrize("key", ['""', "", '" "', '"a"b"', "tab\there"])
async def test_bad_idempotency_keys_are_400(alice: httpx.AsyncClient, key: str) -> None:
    response = await alice.post("/v1/videos", json={"prompt": "x"}, headers={"Idempotency-Key": key})
    problem = _assert_problem(response, 400)
    assert problem["errors"][0]["field"] in {"Idempotency-Key", "client_request_id"}


async def test_bad_ids_and_queries_are_problems(alice: httpx.AsyncClient) -> None:
    _assert_problem(await alice.get("/v1/videos/not-a-uuid"), 400)
    _assert_problem(await alice.get("/v1/videos/00000000-0000-4000-8000-000000000000"), 404)
    _assert_problem(await alice.get("/v1/videos", params={"state": "DONE"}), 422)
    _assert_problem(await alice.get("/v1/videos", params={"page_size": -1}), 422)
    _assert_problem(await alice.get("/v1/videos", params={"page_token": "garbage"}), 400)


async def test_unknown_routes_and_methods_are_problems(alice: httpx.AsyncClient) -> None:
    _assert_problem(await alice.get("/v1/nothing-here"), 404)
    _assert_problem(await alice.put("/v1/videos"), 405)
