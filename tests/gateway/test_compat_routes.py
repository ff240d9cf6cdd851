"""The compatibility routes as the seeds' unchanged apps call them: the exact fields and status codes they
read, for a new job, a duplicate, a missing job and errors; and the headers that point them at v1."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from tests.support.gateway import Stack, StartStack

PROMPT = "a paper boat on a rainy street"
IMAGE = "https://example.com/cat.png"
ROW_FIELDS = {
    "id",
    "user_id",
    "status",
    "provider",
    "client_request_id",
    "output_video_url",
    "thumbnail_url",
    "error_message",
    "created_at",
    "updated_at",
}


@pytest.mark.parametrize("path", ["/generate", "/api/v1/generate"])
async def test_generate_answers_in_seed_000s_shape(alice: httpx.AsyncClient, path: str) -> None:
    new = await alice.post(path, json={"prompt": PROMPT})
    again = await alice.post(path, json={"prompt": f"  {PROMPT} "})

    assert new.status_code == 201, new.text
    video_id = new.json()["video_id"]
    assert uuid.UUID(video_id)
    processing = {"success": True, "video_id": video_id, "status": "processing"}
    assert new.json() == processing | {"message": "Video generation started"}
    assert again.status_code == 200, again.text
    assert again.json() == processing | {
        "message": "Video is already being processed",
        "duplicate_of": video_id,
        "reason": "DUPLICATE_REQUEST",
    }
    assert again.headers["idempotent-replayed"] == "true"
    assert new.headers["idempotent-replayed"] == "false"


@pytest.mark.parametrize(
    ("state", "status", "message"),
    [
        ("PROCESSING", "processing", "Video is already being processed"),
        ("COMPLETED", "completed", "Video generation already started"),
        ("FAILED", "failed", "Video generation already started"),
        ("CONTENT_VIOLATION", "content_violation", "Video generation already started"),
        ("CANCELLED", "failed", "Video generation already started"),
    ],
)
async def test_generate_repeating_a_video_answers_with_its_status_and_seed_000s_message(
    stack: Stack, alice: httpx.AsyncClient, state: str, status: str, message: str
) -> None:
    new = (await alice.post("/generate", json={"prompt": PROMPT})).json()
    await _finish(stack, new["video_id"], state)

    again = await alice.post("/api/v1/generate", json={"prompt": PROMPT})

    assert again.status_code == 200
    assert again.json() == {
        "success": True,
        "video_id": new["video_id"],
        "status": status,
        "message": message,
        "duplicate_of": new["video_id"],
        "reason": "DUPLICATE_REQUEST",
    }


async def test_generate_replaying_a_key_answers_200_without_duplicate_of(alice: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "k-replay"}
    new = await alice.post("/generate", json={"prompt": PROMPT}, headers=headers)
    replay = await alice.post("/api/v1/generate", json={"prompt": PROMPT}, headers=headers)
    by_body = await alice.post("/generate", json={"prompt": PROMPT, "clientRequestId": "k-replay"})

    assert new.status_code == 201, new.text
    for answer in (replay, by_body):
        assert answer.status_code == 200, answer.text
        assert answer.headers["idempotent-replayed"] == "true"
        assert answer.json() == {
            "success": True,
            "video_id": new.json()["video_id"],
            "status": "processing",
            "message": "Video is already being processed",
        }


@pytest.mark.parametrize("path", ["/generate", "/api/v1/generate", "/api/video/animate"])
async def test_a_legacy_create_repeating_a_video_after_the_window_makes_a_second_job(
    stack: Stack, alice: httpx.AsyncClient, path: str
) -> None:
    first = (await alice.post("/v1/videos", json={"prompt": PROMPT})).json()
    await _finish(stack, first["id"], "COMPLETED")
    async with stack.jobs.engine.begin() as conn:
        # Created 61 s ago: past the default window of 60 s.
        aged = "UPDATE jobs SET create_time = now() - interval '61 seconds' WHERE id = :id"
        await conn.execute(text(aged), {"id": first["id"]})

    second = await alice.post(path, json={"prompt": PROMPT})

    assert second.status_code == 201, second.text
    assert (second.json().get("video_id") or second.json()["id"]) != first["id"]
    assert (await alice.get("/v1/quota")).json()["used_today"] == 2


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/generate", {"prompt": PROMPT, "allow_duplicate": True}),
        ("/api/v1/generate", {"prompt": PROMPT, "allowDuplicate": True}),
        ("/api/video/animate", {"prompt": PROMPT, "allowDuplicate": True}),
        ("/api/video/animate", {"prompt": PROMPT, "allow_duplicate": True}),
    ],
)
async def test_a_legacy_create_that_allows_duplicates_makes_a_second_job(
    alice: httpx.AsyncClient, path: str, body: dict[str, object]
) -> None:
    first = await alice.post("/v1/videos", json={"prompt": PROMPT})
    second = await alice.post(path, json=body)

    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert second.headers["idempotent-replayed"] == "false"
    assert (second.json().get("video_id") or second.json()["id"]) != first.json()["id"]
    assert (await alice.get("/v1/quota")).json()["used_today"] == 2


async def test_generate_accepts_the_older_field_names(alice: httpx.AsyncClient) -> None:
    response = await alice.post(
        "/generate",
        json={
            "prompt": PROMPT,
            "duration": 6,
            "aspectRatio": "9:16",
            "image_url": IMAGE,
            "clientRequestId": "k-1",
            "user_id": "ignored",
            "style": "ignored",
        },
    )
    job = await alice.get(f"/v1/videos/{response.json()['video_id']}")

    assert response.status_code == 201, response.text
    spec = job.json()["spec"]
    assert (spec["duration_seconds"], spec["aspect_ratio"], spec["image_uri"]) == (6, "9:16", IMAGE)
    assert job.json()["client_request_id"] == "k-1"
    assert job.json()["user_id"] == "alice"


async def test_generate_errors_in_seed_000s_shape(stack: Stack, anonymous: httpx.AsyncClient) -> None:
    async with await stack.client("alice") as alice:
        invalid = await alice.post("/generate", json={"prompt": ""})
        wrong_type = await alice.post("/api/v1/generate", json={"prompt": 5})
        not_json = await alice.post("/generate", content=b"{", headers={"content-type": "application/json"})
    unauthenticated = await anonymous.post("/generate", json={"prompt": PROMPT})

    assert invalid.status_code == 400
    assert invalid.headers["content-type"] == "application/json"
    body = invalid.json()
    assert body["success"] is False
    assert "prompt" in body["error"]
    assert body["reason"] == "INVALID_ARGUMENT"
    assert body["errors"][0]["field"] == "prompt"
    assert wrong_type.status_code == 422
    assert wrong_type.json()["success"] is False
    assert not_json.status_code == 400
    assert not_json.json()["success"] is False
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["success"] is False
    assert unauthenticated.json()["error"]
    assert unauthenticated.headers["www-authenticate"].startswith("Bearer")


async def test_generate_over_quota_is_429_with_retry_after(start_stack: StartStack) -> None:
    stack = await start_stack(job={"daily_limit": 1})
    async with await stack.client("alice") as alice:
        await alice.post("/generate", json={"prompt": "one"})
        refused = await alice.post("/generate", json={"prompt": "two"})

    assert refused.status_code == 429
    assert refused.json()["success"] is False
    assert refused.json()["reason"] == "DAILY_QUOTA_EXCEEDED"
    assert int(refused.headers["retry-after"]) >= 1


async def test_animate_answers_with_seed_004s_video_job_row(alice: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    body = {"imageUrl": IMAGE, "prompt": "the cat turns its head", "clientRequestId": key}

    new = await alice.post("/api/video/animate", json=body)
    replay = await alice.post("/api/video/animate", json=body)
    snake = await alice.post(
        "/api/video/animate", json={"image_url": IMAGE, "prompt": "the cat turns its head"}
    )

    assert new.status_code == 201, new.text
    row = new.json()
    assert set(row) == ROW_FIELDS
    assert row["user_id"] == "alice"
    assert row["status"] == "pending"
    assert row["client_request_id"] == key
    assert (row["provider"], row["output_video_url"], row["thumbnail_url"], row["error_message"]) == (
        None,
        None,
        None,
        None,
    )
    assert row["created_at"].endswith("Z")
    assert replay.status_code == 200
    assert replay.json() == row
    # No key and the same spec: the same job (a client that lost its UUID in a page refresh).
    assert snake.status_code == 200
    assert snake.json() == row
    assert (replay.headers["idempotent-replayed"], snake.headers["idempotent-replayed"]) == ("true", "true")
    assert new.headers["idempotent-replayed"] == "false"


async def test_animate_errors_in_seed_004s_shape(
    alice: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    bad_url = await alice.post("/api/video/animate", json={"imageUrl": "ftp://x/cat.png", "prompt": "p"})
    wrong_type = await alice.post("/api/video/animate", json={"imageUrl": IMAGE, "prompt": 5})
    unauthenticated = await anonymous.post("/api/video/animate", json={"imageUrl": IMAGE, "prompt": "p"})
    unauthenticated_read = await anonymous.get(f"/api/video/jobs/{uuid.uuid4()}")

    assert bad_url.status_code == 400
    body = bad_url.json()
    assert set(body) >= {"error", "reason", "errors", "request_id"}
    assert "success" not in body
    assert body["errors"][0]["field"] == "imageUrl"
    assert wrong_type.status_code == 422
    assert wrong_type.json()["error"]
    for refused in (unauthenticated, unauthenticated_read):
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/json"
        assert refused.json()["error"]
        assert "success" not in refused.json()
        assert refused.headers["www-authenticate"].startswith("Bearer")


async def test_animate_over_quota_is_429_in_seed_004s_shape(start_stack: StartStack) -> None:
    stack = await start_stack(job={"daily_limit": 1})
    async with await stack.client("alice") as alice:
        await alice.post("/api/video/animate", json={"imageUrl": IMAGE, "prompt": "one"})
        refused = await alice.post("/api/video/animate", json={"imageUrl": IMAGE, "prompt": "two"})

    assert refused.status_code == 429
    assert refused.json()["reason"] == "DAILY_QUOTA_EXCEEDED"
    assert refused.json()["error"]
    assert "success" not in refused.json()
    assert int(refused.headers["retry-after"]) >= 1


async def test_video_jobs_reads_the_row_and_maps_the_states(stack: Stack, alice: httpx.AsyncClient) -> None:
    ids = []
    for index, state in enumerate(["COMPLETED", "CONTENT_VIOLATION", "FAILED", "CANCELLED", "PROCESSING"]):
        job = (await alice.post("/v1/videos", json={"prompt": f"video {index}"})).json()
        await _finish(stack, job["id"], state)
        ids.append(job["id"])

    rows = [(await alice.get(f"/api/video/jobs/{job_id}")).json() for job_id in ids]

    assert [row["status"] for row in rows] == ["completed", "failed", "failed", "failed", "processing"]
    completed, violation, failed, cancelled, processing = rows
    assert completed["provider"] == "sim"
    assert completed["error_message"] is None
    assert violation["error_message"] == "Content policy violation: SAFETY.INPUT.TEXT"
    assert failed["error_message"] == "the provider failed"
    assert cancelled["error_message"] == "Cancelled"
    assert processing["error_message"] is None
    assert all(set(row) == ROW_FIELDS for row in rows)


async def test_video_jobs_of_a_missing_or_foreign_job_is_404(
    alice: httpx.AsyncClient, bob: httpx.AsyncClient
) -> None:
    job = (await alice.post("/v1/videos", json={"prompt": PROMPT})).json()

    missing = await alice.get(f"/api/video/jobs/{uuid.uuid4()}")
    foreign = await bob.get(f"/api/video/jobs/{job['id']}")
    not_an_id = await alice.get("/api/video/jobs/not-a-uuid")

    assert missing.status_code == 404
    assert missing.json()["reason"] == "JOB_NOT_FOUND"
    assert missing.json()["error"]
    assert foreign.status_code == 404
    assert foreign.json()["error"] == missing.json()["error"].replace(
        missing.url.path.split("/")[-1], job["id"]
    )
    assert not_an_id.status_code == 400


@pytest.mark.parametrize(
    ("method", "path", "successor"),
    [
        ("POST", "/generate", "/v1/videos"),
        ("POST", "/api/v1/generate", "/v1/videos"),
        ("POST", "/api/video/animate", "/v1/videos"),
        ("GET", "/api/video/jobs/{id}", "/v1/videos/{id}"),
    ],
)
async def test_every_compatibility_answer_points_at_v1(
    alice: httpx.AsyncClient, anonymous: httpx.AsyncClient, method: str, path: str, successor: str
) -> None:
    job = (await alice.post("/v1/videos", json={"prompt": "headers"})).json()
    url = path.format(id=job["id"])
    body = {"prompt": "headers", "imageUrl": IMAGE} if method == "POST" else None

    ok = await alice.request(method, url, json=body)
    refused = await anonymous.request(method, url, json=body)

    for response in (ok, refused):
        assert response.headers["deprecation"] == "@1795910400"
        assert f'<{successor.format(id=job["id"])}>; rel="successor-version"' in response.headers["link"]
        assert 'rel="deprecation"' in response.headers["link"]
    assert "deprecation" not in (await alice.get(f"/v1/videos/{job['id']}")).headers


@pytest.fixture
async def unlimited(start_stack: StartStack) -> AsyncIterator[httpx.AsyncClient]:
    """alice on a gateway without a rate limit, so a hundred requests at once all reach CreateJob."""
    stack = await start_stack(rate_limit_per_second=0)
    async with await stack.client("alice") as client:
        yield client


async def test_a_hundred_parallel_keyless_generates_make_one_job(unlimited: httpx.AsyncClient) -> None:
    alice = unlimited
    responses = await asyncio.gather(*(alice.post("/generate", json={"prompt": PROMPT}) for _ in range(100)))

    assert sorted(r.status_code for r in responses) == [200] * 99 + [201]
    assert len({r.json()["video_id"] for r in responses}) == 1
    quota = (await alice.get("/v1/quota")).json()
    assert (quota["used_today"], quota["active"]) == (1, 1)


async def test_parallel_keyless_creates_across_the_four_routes_make_one_job(
    unlimited: httpx.AsyncClient,
) -> None:
    alice = unlimited
    spec = {"prompt": PROMPT, "image_uri": IMAGE}
    calls = {
        "/v1/videos": spec,
        "/generate": spec,
        "/api/v1/generate": {"prompt": PROMPT, "imageUrl": IMAGE},
        "/api/video/animate": {"prompt": PROMPT, "imageUrl": IMAGE},
    }
    responses = await asyncio.gather(
        *(alice.post(path, json=body) for _ in range(25) for path, body in calls.items())
    )

    ids = {r.json().get("id") or r.json().get("video_id") for r in responses}
    assert len(ids) == 1
    assert sorted(r.status_code for r in responses) == [200] * 99 + [201]
    listed = (await alice.get("/v1/videos")).json()["jobs"]
    assert [job["id"] for job in listed] == list(ids)
    assert (await alice.get("/v1/quota")).json()["used_today"] == 1


async def _finish(stack: Stack, job_id: str, state: str) -> None:
    """Put a job in `state` as the orchestrator would have left it (the worker is off in these tests)."""
    error = {
        "COMPLETED": None,
        "CONTENT_VIOLATION": {
            "code": "CONTENT_VIOLATION",
            "message": "the provider refused the content",
            "retryable": False,
            "violation_reasons": ["SAFETY.INPUT.TEXT"],
        },
        "FAILED": {"code": "PROVIDER_FAILED", "message": "the provider failed", "retryable": False},
        "CANCELLED": None,
        "PROCESSING": None,
    }[state]
    async with stack.jobs.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE jobs SET state = :state, provider = 'sim', provider_job_id = 'p-' || id, "
                "error = CAST(:error AS jsonb), end_time = CASE WHEN :finished THEN now() END WHERE id = :id"
            ),
            {
                "state": state,
                "error": None if error is None else json.dumps(error),
                "finished": state != "PROCESSING",
                "id": job_id,
            },
        )
