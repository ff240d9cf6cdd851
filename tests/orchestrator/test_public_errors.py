"""What a user reads of a failed job: the stable reason and a human message, never our internals (the
settings an operator forgot, the address of a peer); the full text stays in the database for operators."""

from __future__ import annotations

from tests.support.pipeline import StartPipeline
from videojobs.v1 import job_service_pb2


async def test_a_provider_we_did_not_configure_reads_as_unavailable_without_setting_names(
    start_sim_stack: StartPipeline,
) -> None:
    stack = await start_sim_stack(gateway={})
    job = await stack.run(providers=["veo"])

    assert job.state == job_service_pb2.FAILED
    assert job.error.code == "PROVIDER_NOT_CONFIGURED"
    assert job.error.message == "this provider is not available on this service"
    stored = stack.sql("SELECT error->>'message' FROM jobs WHERE id = %s", job.id)[0][0]
    assert "VIDEOJOBS_VEO_PROJECT" in stored  # operators keep the detail

    async with await stack.client("alice") as alice:
        shown = await alice.get(f"/v1/videos/{job.id}")
        events = await alice.get(f"/v1/videos/{job.id}/events", headers={"accept": "text/event-stream"})
    assert shown.status_code == 200, shown.text
    assert shown.json()["error"]["message"] == "this provider is not available on this service"
    for text in (shown.text, events.text):
        assert "VIDEOJOBS_" not in text
        assert "127.0.0.1" not in text
