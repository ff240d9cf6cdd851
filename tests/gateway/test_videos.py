"""Create, replay, read, list and cancel over HTTP against a real job_service."""

from __future__ import annotations

import time
import uuid

import httpx

from tests.support.gateway import Stack, StartStack
from tests.support.grpc_client import metadata
from tests.support.postgres import run_sql
from tests.support.services import hung_service, job_stub, target
from videojobs.v1 import job_service_pb2

PROBLEM = "application/problem+json"


async def test_create_then_replay_with_the_same_key_returns_the_same_body(alice: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    body = {"prompt": "a paper boat on a rainy street", "duration_seconds": 4}

    first = await alice.post("/v1/videos", json=body, headers={"Idempotency-Key": key})
    again = await alice.post("/v1/videos", json=body, headers={"Idempotency-Key": f'"{key}"'})

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert first.json() == again.json()
    job = first.json()
    assert job["state"] == "PENDING"
    assert job["client_request_id"] == key
    assert job["user_id"] == "alice"
    assert job["spec"]["aspect_ratio"] == "16:9"
    assert first.headers["location"] == f"/v1/videos/{job['id']}"
    assert first.headers["idempotent-replayed"] == "false"
    assert again.headers["idempotent-replayed"] == "true"


async def test_reusing_a_key_with_another_body_is_422(alice: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    created = await alice.post("/v1/videos", json={"prompt": "one"}, headers={"Idempotency-Key": key})
    reused = await alice.post("/v1/videos", json={"prompt": "two"}, headers={"Idempotency-Key": key})

    assert created.status_code == 201
    assert reused.status_code == 422
    assert reused.headers["content-type"] == PROBLEM
    problem = reused.json()
    assert problem["reason"] == "IDEMPOTENCY_KEY_REUSED"
    assert problem["type"] == "urn:videojobs:problem:idempotency-key-reused"
    assert problem["job_id"] == created.json()["id"]


async def test_the_header_wins_over_the_body_key(alice: httpx.AsyncClient) -> None:
    response = await alice.post(
        "/v1/videos",
        json={"prompt": "x", "client_request_id": "from-body"},
        headers={"Idempotency-Key": "hdr"},
    )
    by_body = await alice.post("/v1/videos", json={"prompt": "x", "client_request_id": "hdr"})

    assert response.json()["client_request_id"] == "hdr"
    assert by_body.status_code == 200
    assert by_body.json()["id"] == response.json()["id"]


async def test_without_a_key_a_repeated_post_returns_the_unfinished_job(alice: httpx.AsyncClient) -> None:
    first = await alice.post("/v1/videos", json={"prompt": "no key"})
    second = await alice.post("/v1/videos", json={"prompt": " no   key"})

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == {
        **first.json(),
        "duplicate_of": first.json()["id"],
        "reason": "DUPLICATE_REQUEST",
    }
    assert "duplicate_of" not in first.json()
    assert (await alice.get("/v1/quota")).json()["used_today"] == 1


async def test_allow_duplicate_makes_a_new_job_without_a_key(alice: httpx.AsyncClient) -> None:
    first = await alice.post("/v1/videos", json={"prompt": "twice, on purpose"})
    second = await alice.post("/v1/videos", json={"prompt": "twice, on purpose", "allow_duplicate": True})

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]


async def test_a_job_can_be_fetched_listed_by_state_and_cancelled_once(alice: httpx.AsyncClient) -> None:
    job = (await alice.post("/v1/videos", json={"prompt": "list me"})).json()

    fetched = await alice.get(f"/v1/videos/{job['id']}")
    listed = await alice.get("/v1/videos", params={"page_size": 10, "state": "PENDING"})
    cancelled = await alice.post(f"/v1/videos/{job['id']}/cancel")
    again = await alice.post(f"/v1/videos/{job['id']}/cancel")
    only_pending = await alice.get("/v1/videos", params={"state": ["PENDING", "PROCESSING"]})

    assert fetched.json() == job
    assert [j["id"] for j in listed.json()["jobs"]] == [job["id"]]
    assert listed.json()["next_page_token"] == ""
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "CANCELLED"
    assert again.status_code == 409
    assert again.headers["content-type"] == PROBLEM
    assert only_pending.json()["jobs"] == []


async def test_paging_follows_next_page_token(alice: httpx.AsyncClient) -> None:
    ids = [(await alice.post("/v1/videos", json={"prompt": f"p{i}"})).json()["id"] for i in range(3)]
    first = (await alice.get("/v1/videos", params={"page_size": 2})).json()
    second = (
        await alice.get("/v1/videos", params={"page_size": 2, "page_token": first["next_page_token"]})
    ).json()
    assert [j["id"] for j in first["jobs"] + second["jobs"]] == list(reversed(ids))
    assert second["next_page_token"] == ""


async def test_another_users_job_is_404_on_every_route(
    alice: httpx.AsyncClient, bob: httpx.AsyncClient
) -> None:
    job = (await alice.post("/v1/videos", json={"prompt": "mine"})).json()

    responses = [
        await bob.get(f"/v1/videos/{job['id']}"),
        await bob.get(f"/api/video/jobs/{job['id']}"),
        await bob.post(f"/v1/videos/{job['id']}/cancel"),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    assert [r.headers["content-type"] for r in responses] == [PROBLEM, "application/json", PROBLEM]
    assert responses[1].json()["reason"] == "JOB_NOT_FOUND"  # seed 004's error shape
    assert (await bob.get("/v1/videos")).json()["jobs"] == []
    assert (await alice.get(f"/v1/videos/{job['id']}")).status_code == 200


async def test_a_client_cannot_choose_its_user_id(alice: httpx.AsyncClient) -> None:
    job = (await alice.post("/v1/videos", json={"prompt": "mine"})).json()
    async with httpx.AsyncClient(base_url=str(alice.base_url)) as other:
        response = await other.get(
            f"/v1/videos/{job['id']}", headers={"x-user-id": "alice", "x-user-role": "admin"}
        )
    assert response.status_code == 401


async def test_quota_over_http_is_429_with_retry_after(start_stack: object) -> None:
    stack: Stack = await start_stack(job={"daily_limit": 2})  # type: ignore[operator]
    async with await stack.client("carol") as carol:
        for index in range(2):
            assert (await carol.post("/v1/videos", json={"prompt": f"{index}"})).status_code == 201
        refused = await carol.post("/v1/videos", json={"prompt": "one too many"})
        quota = (await carol.get("/v1/quota")).json()

    assert refused.status_code == 429
    assert refused.headers["content-type"] == PROBLEM
    assert int(refused.headers["retry-after"]) >= 1
    problem = refused.json()
    assert problem["status"] == 429
    assert problem["title"] == "Too Many Requests"
    assert problem["retry_after_seconds"] == int(refused.headers["retry-after"])
    assert problem["errors"], problem
    assert quota["used_today"] == 2
    assert quota["remaining_today"] == 0
    assert quota["user_id"] == "carol"


async def test_admin_resets_quota_and_a_user_key_cannot(start_stack: object) -> None:
    stack: Stack = await start_stack(job={"daily_limit": 1})  # type: ignore[operator]
    async with await stack.client("dave") as dave, await stack.client("ops", admin=True) as ops:
        assert (await dave.post("/v1/videos", json={"prompt": "a"})).status_code == 201
        assert (await dave.post("/v1/videos", json={"prompt": "b"})).status_code == 429
        forbidden = await dave.post("/v1/admin/users/dave/quota/reset")
        reset = await ops.post("/v1/admin/users/dave/quota/reset")
        after = await dave.post("/v1/videos", json={"prompt": "b"})

    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == PROBLEM
    assert forbidden.json()["reason"] == "ADMIN_REQUIRED"
    assert reset.status_code == 200
    assert reset.json()["used_today"] == 0
    assert after.status_code == 201


async def test_reads_answer_promptly_without_links_while_storage_hangs(
    start_stack: StartStack, database_url: str
) -> None:
    """A frozen storage_service (it accepts connections, never answers) costs reads their links, flagged
    urls_unavailable, never their answer: over HTTP and over gRPC."""
    with hung_service() as storage_port:
        stack = await start_stack(job={"storage_target": target(storage_port), "sign_timeout_seconds": 0.5})
        async with await stack.client("alice") as alice:
            created = (await alice.post("/v1/videos", json={"prompt": "a paper boat"})).json()
            run_sql(
                database_url,
                "UPDATE jobs SET state = 'COMPLETED', end_time = now(), due_time = NULL, "
                "video_uri = 'gs://b/videos/alice/v.mp4', thumbnail_uri = 'gs://b/thumbnails/alice/v.jpg' "
                "WHERE id = %s",
                (created["id"],),
            )
            for path in (f"/v1/videos/{created['id']}", "/v1/videos"):
                started = time.monotonic()
                response = await alice.get(path)
                elapsed = time.monotonic() - started
                assert response.status_code == 200, response.text
                body = response.json()
                job = body if "id" in body else body["jobs"][0]
                assert job["state"] == "COMPLETED"
                assert job["urls_unavailable"] is True
                assert job["video_url"] == job["thumbnail_url"] == ""
                assert job["video_uri"] == "gs://b/videos/alice/v.mp4"
                assert elapsed < 2.0, f"{path} took {elapsed:.2f}s"
        async with job_stub(stack.jobs.port) as stub:
            started = time.monotonic()
            got = await stub.GetJob(
                job_service_pb2.GetJobRequest(id=created["id"]), metadata=metadata("alice")
            )
            listed = await stub.ListJobs(job_service_pb2.ListJobsRequest(), metadata=metadata("alice"))
            assert time.monotonic() - started < 4.0
            assert got.urls_unavailable
            assert got.video_url == ""
            assert [job.urls_unavailable for job in listed.jobs] == [True]
