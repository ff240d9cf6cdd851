"""SSE, retry, delete and webhook delivery: the routes over job_service's orchestrator RPCs
(WatchJob, RetryJob, DeleteJob, ReportProviderEvent). No provider runs here (the worker is off), so jobs
reach a terminal state by being cancelled; the full flow to COMPLETED is in test_full_flow.py."""

from __future__ import annotations

import asyncio
import json

import httpx

from tests.gateway.sse_client import read_events
from tests.support.fake_provider_service import sign
from tests.support.gateway import Stack


async def test_events_stream_each_transition_until_terminal(stack: Stack, alice: httpx.AsyncClient) -> None:
    job = (await alice.post("/v1/videos", json={"prompt": "watch me"})).json()

    reading = asyncio.create_task(read_events(alice, f"/v1/videos/{job['id']}/events"))
    await asyncio.sleep(1.2)  # long enough for a heartbeat (0.5 s in tests) before anything happens
    await alice.post(f"/v1/videos/{job['id']}/cancel")
    stream = await asyncio.wait_for(reading, 10)

    assert stream.retry is not None
    assert stream.comments >= 1  # heartbeats
    assert [e.event for e in stream.events] == ["pending", "cancelled"]
    first, last = stream.events
    assert first.data is not None
    assert last.data is not None
    assert int(first.id or 0) < int(last.id or 0)
    assert last.data["job"]["state"] == "CANCELLED"
    assert last.data["job_id"] == job["id"]


async def test_events_resume_after_last_event_id(alice: httpx.AsyncClient) -> None:
    job = (await alice.post("/v1/videos", json={"prompt": "resume"})).json()
    path = f"/v1/videos/{job['id']}/events"
    seen = await read_events(alice, path, stop_after=1)  # the client drops after the first event
    await alice.post(f"/v1/videos/{job['id']}/cancel")

    resumed = await read_events(alice, path, last_event_id=seen.events[0].id)
    finished = await read_events(alice, path)  # a finished job: its terminal state, then the end
    after_end = await read_events(alice, path, last_event_id=resumed.events[-1].id)

    assert [e.event for e in seen.events] == ["pending"]
    assert [e.event for e in resumed.events] == ["cancelled"]
    assert int(resumed.events[0].id or 0) > int(seen.events[0].id or 0)
    assert [e.event for e in finished.events] == ["cancelled"]
    assert after_end.events == []


async def test_events_for_another_users_job_are_404(alice: httpx.AsyncClient, bob: httpx.AsyncClient) -> None:
    job = (await alice.post("/v1/videos", json={"prompt": "private"})).json()
    response = await bob.get(f"/v1/videos/{job['id']}/events")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_retry_a_cancelled_job_and_delete_it(alice: httpx.AsyncClient) -> None:
    job = (await alice.post("/v1/videos", json={"prompt": "again"})).json()
    not_yet = await alice.post(f"/v1/videos/{job['id']}/retry")
    await alice.post(f"/v1/videos/{job['id']}/cancel")
    retried = await alice.post(f"/v1/videos/{job['id']}/retry")
    await alice.post(f"/v1/videos/{job['id']}/cancel")
    deleted = await alice.delete(f"/v1/videos/{job['id']}")
    listed = (await alice.get("/v1/videos")).json()["jobs"]

    assert not_yet.status_code == 409
    assert retried.status_code == 200, retried.text
    assert retried.json()["id"] == job["id"]
    assert retried.json()["attempt"] == job["attempt"] + 1
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["id"] == job["id"]
    assert job["id"] not in [j["id"] for j in listed]


async def test_signed_webhook_is_recorded_and_replays_are_harmless(
    stack: Stack, anonymous: httpx.AsyncClient
) -> None:
    body = json.dumps({"request_id": "fal-unknown-job", "state": "RUNNING"}).encode()
    headers = {"x-test-signature": sign(body), "content-type": "application/json"}
    first = await anonymous.post("/v1/webhooks/fal", content=body, headers=headers)
    replay = await anonymous.post("/v1/webhooks/fal", content=body, headers=headers)

    assert first.status_code == 200, first.text
    assert replay.status_code == 200
    assert first.json() == {"received": True, "provider_job_id": "fal-unknown-job"}
