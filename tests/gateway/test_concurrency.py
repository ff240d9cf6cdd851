"""The double-click and parallel-endpoint races of the seeds, over HTTP: one key, one job."""

from __future__ import annotations

import asyncio
import uuid

from tests.support.gateway import StartStack

IMAGE = "https://images.example.com/cat.png"
PROMPT = "the cat slowly turns its head"

# The same request, in each create route's own dialect.
ROUTES = [
    ("/v1/videos", {"prompt": PROMPT, "image_uri": IMAGE}),
    ("/generate", {"prompt": PROMPT, "image_uri": IMAGE}),
    ("/api/v1/generate", {"prompt": PROMPT, "image_uri": IMAGE}),
    ("/api/video/animate", {"prompt": PROMPT, "imageUrl": IMAGE}),
]


async def test_100_parallel_posts_over_all_create_routes_make_one_job(start_stack: StartStack) -> None:
    stack = await start_stack(rate_limit_per_second=0)
    key = str(uuid.uuid4())
    async with await stack.client("racer") as client:
        client.headers["Idempotency-Key"] = key
        responses = await asyncio.gather(
            *(client.post(path, json=body) for i in range(25) for path, body in ROUTES)
        )
        listed = (await client.get("/v1/videos")).json()["jobs"]
        quota = (await client.get("/v1/quota")).json()

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 99 + [201], statuses
    ids = {r.json().get("id") or r.json()["video_id"] for r in responses}
    assert len(ids) == 1
    # Each route answers in its own clients' shape; replays through one route are byte-identical.
    by_route: dict[str, set[bytes]] = {}
    for (path, _), response in zip(ROUTES * 25, responses, strict=True):
        by_route.setdefault(path, set()).add(response.content)
    replays = {path: bodies for path, bodies in by_route.items() if len(bodies) > 1}
    assert len(replays) <= 1, replays  # only the route that created it answered once with 201's body
    assert [job["id"] for job in listed] == list(ids)
    assert quota["used_today"] == 1


async def test_animate_body_key_and_v1_header_key_are_one_key_space(start_stack: StartStack) -> None:
    stack = await start_stack()
    key = str(uuid.uuid4())
    async with await stack.client("frank") as client:
        animated = await client.post(
            "/api/video/animate", json={"prompt": PROMPT, "imageUrl": IMAGE, "clientRequestId": key}
        )
        via_v1 = await client.post(
            "/v1/videos", json={"prompt": PROMPT, "image_uri": IMAGE}, headers={"Idempotency-Key": key}
        )
        polled = await client.get(f"/api/video/jobs/{animated.json()['id']}")

    assert (animated.status_code, via_v1.status_code) == (201, 200)
    assert via_v1.json()["id"] == animated.json()["id"]
    assert polled.json() == animated.json()
