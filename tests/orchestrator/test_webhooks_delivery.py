"""Outbound webhooks through the whole pipeline: real receivers on loopback, signatures checked with the
Standard Webhooks library, retries with the same webhook-id, redelivery, rotation and what is visible."""

from __future__ import annotations

from provider_service.fakes import FalFake
from tests.support.grpc_client import metadata
from tests.support.pipeline import StartPipeline
from tests.support.webhooks import (
    FAST_WEBHOOKS,
    deliveries,
    endpoint_once,
    register,
    settled,
    webhook_receiver,
)
from videojobs.v1 import common_pb2, job_service_pb2

LIFECYCLE = ["PENDING", "SUBMITTING", "PROCESSING", "FINALIZING", "COMPLETED"]


async def test_a_job_lifecycle_sends_exactly_the_subscribed_events_in_order_and_signed(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    stack = await start_stack(providers={"fal": fal_fake}, **FAST_WEBHOOKS)
    with webhook_receiver() as every_change, webhook_receiver() as outcomes:
        all_changes = await register(stack, every_change.url, ["video.state_changed"])
        finished = await register(stack, outcomes.url, ["video.completed", "video.failed"])
        assert all_changes.secret.startswith("whsec_")
        job = (await stack.create(providers=["fal"])).job
        done = await stack.wait(job.id)
        assert done.state == job_service_pb2.COMPLETED

        received = await every_change.wait_for(len(LIFECYCLE))
        payloads = every_change.verified(all_changes.secret)
        assert [p["state"] for p in payloads] == LIFECYCLE
        assert [p["type"] for p in payloads] == ["video.state_changed"] * 4 + ["video.completed"]
        sequences = [p["sequence"] for p in payloads]
        assert sequences == sorted(set(sequences))
        assert len({r.webhook_id for r in received}) == len(LIFECYCLE)
        assert all(p["data"]["id"] == job.id for p in payloads)
        # The job as GET /v1/videos/{id} shows it, with freshly signed links.
        completed = payloads[-1]["data"]
        assert completed["state"] == "COMPLETED"
        assert completed["video_url"].startswith("http")
        assert completed["video_uri"] == done.video_uri

        (only,) = await outcomes.wait_for(1)
        assert only.verify(finished.secret)["type"] == "video.completed"
        assert only.verify(finished.secret)["sequence"] == sequences[-1]

    listed = await settled(stack, job.id, len(LIFECYCLE) + 1)
    assert {d.state for d in listed} == {"DELIVERED"}
    assert all(d.attempts == 1 and d.attempt_log[0].status_code == 200 for d in listed)
    assert {d.webhook_id for d in listed} >= {r.webhook_id for r in received}


async def test_a_cancelled_job_announces_video_cancelled_and_others_get_nothing(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    fal_fake.script.polls_to_finish = 1000
    stack = await start_stack(providers={"fal": fal_fake}, **FAST_WEBHOOKS)
    with webhook_receiver() as receiver:
        endpoint = await register(stack, receiver.url, ["video.cancelled"])
        job = (await stack.create(providers=["fal"])).job
        await stack.wait(job.id, until={job_service_pb2.PROCESSING})
        await stack.stub.CancelJob(job_service_pb2.CancelJobRequest(id=job.id), metadata=metadata("alice"))
        (cancelled,) = await receiver.wait_for(1)
        payload = cancelled.verify(endpoint.secret)
        assert payload["type"] == "video.cancelled"
        assert payload["data"]["state"] == "CANCELLED"
        # bob's job is not announced to alice's endpoint (nor is any other event of alice's).
        other = (await stack.create(user="bob", providers=["fal"])).job
        await stack.stub.CancelJob(job_service_pb2.CancelJobRequest(id=other.id), metadata=metadata("bob"))
    assert stack.sql("SELECT count(*) FROM webhook_deliveries")[0][0] == 1


async def test_a_failing_receiver_gets_the_same_webhook_id_until_it_answers_2xx(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    stack = await start_stack(providers={"fal": fal_fake}, **FAST_WEBHOOKS)
    with webhook_receiver(statuses=[500, 500, 500]) as receiver:
        endpoint = await register(stack, receiver.url, ["video.completed"])
        job = (await stack.create(providers=["fal"])).job
        received = await receiver.wait_for(4)
        assert len({r.webhook_id for r in received}) == 1
        assert all(r.verify(endpoint.secret)["type"] == "video.completed" for r in received)
    (delivery,) = await settled(stack, job.id, 1)
    assert delivery.state == "DELIVERED"
    assert delivery.attempts == 4
    assert [a.status_code for a in delivery.attempt_log] == [500, 500, 500, 200]
    assert all(a.HasField("next_retry_time") for a in delivery.attempt_log[:3])
    assert not delivery.attempt_log[3].HasField("next_retry_time")
    assert all(a.latency_seconds > 0 for a in delivery.attempt_log)
    # A success ends the endpoint's failing run.
    got = await stack.stub.GetWebhookEndpoint(
        job_service_pb2.GetWebhookEndpointRequest(id=endpoint.endpoint.id), metadata=metadata("alice")
    )
    assert not got.HasField("failing_since")


async def test_retries_are_bounded_then_the_delivery_fails_and_can_be_redelivered(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    stack = await start_stack(providers={"fal": fal_fake}, webhook_max_attempts=3, **FAST_WEBHOOKS)
    with webhook_receiver(statuses=[503] * 3) as receiver:
        await register(stack, receiver.url, ["video.completed"])
        job = (await stack.create(providers=["fal"])).job
        first = await receiver.wait_for(3)
        (delivery,) = await settled(stack, job.id, 1)
        assert delivery.state == "FAILED"
        assert delivery.last_status_code == 503
        redelivered = await stack.stub.RedeliverWebhook(
            job_service_pb2.RedeliverWebhookRequest(id=delivery.id), metadata=metadata("alice")
        )
        assert redelivered.state == "PENDING"
        again = await receiver.wait_for(4)
        assert again[3].webhook_id == first[0].webhook_id
    # Another user cannot see or redeliver it.
    assert await deliveries(stack, job.id, user="bob") == []


async def test_410_gone_disables_the_endpoint_with_a_visible_reason(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    stack = await start_stack(providers={"fal": fal_fake}, **FAST_WEBHOOKS)
    with webhook_receiver(statuses=[410]) as receiver:
        endpoint = await register(stack, receiver.url, ["video.completed"])
        job = (await stack.create(providers=["fal"])).job
        await receiver.wait_for(1)
        await stack.wait(job.id)
        got = await endpoint_once(stack, endpoint.endpoint.id, lambda e: e.HasField("disabled_time"))
        assert "410" in got.disabled_reason
        # A disabled endpoint is sent nothing more.
        second = (await stack.create(providers=["fal"])).job
        await stack.wait(second.id)
        assert len(receiver.received) == 1
    assert await deliveries(stack, second.id) == []


async def test_a_failing_run_longer_than_the_limit_disables_the_endpoint(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    stack = await start_stack(providers={"fal": fal_fake}, **FAST_WEBHOOKS)
    with webhook_receiver(statuses=[500] * 100) as receiver:
        endpoint = await register(stack, receiver.url, ["video.completed"])
        # The endpoint has been failing for six days already.
        stack.sql(
            "UPDATE webhook_endpoints SET failing_since = now() - interval '6 days' WHERE id = %s",
            endpoint.endpoint.id,
        )
        job = (await stack.create(providers=["fal"])).job
        await receiver.wait_for(1)
        got = await endpoint_once(stack, endpoint.endpoint.id, lambda e: e.HasField("disabled_time"))
        assert "every delivery failed since" in got.disabled_reason
        assert "answered 500" in got.disabled_reason
    (delivery,) = await settled(stack, job.id, 1)
    assert delivery.state == "FAILED"


async def test_after_a_rotation_deliveries_carry_both_signatures_until_the_overlap_ends(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    stack = await start_stack(providers={"fal": fal_fake}, **FAST_WEBHOOKS)
    with webhook_receiver() as receiver:
        created = await register(stack, receiver.url, ["video.completed"])
        rotated = await stack.stub.RotateWebhookSecret(
            job_service_pb2.RotateWebhookSecretRequest(id=created.endpoint.id), metadata=metadata("alice")
        )
        assert rotated.secret != created.secret
        assert rotated.endpoint.HasField("previous_secret_expire_time")
        await stack.create(providers=["fal"])
        (during,) = await receiver.wait_for(1)
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        during.verify(rotated.secret)
        during.verify(created.secret)

        stack.sql(
            "UPDATE webhook_endpoints SET previous_secret_expire_time = now() WHERE id = %s",
            created.endpoint.id,
        )
        await stack.create(providers=["fal"])
        received = await receiver.wait_for(2)
        after = received[1]
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        after.verify(rotated.secret)
    # Secrets are stored encrypted, never in clear.
    (stored,) = stack.sql("SELECT secret, previous_secret FROM webhook_endpoints")
    for secret in (rotated.secret, created.secret):
        assert secret.removeprefix("whsec_") not in "".join(stored)


async def test_a_create_with_a_webhook_url_is_told_its_outcome_signed_with_the_users_secret(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    stack = await start_stack(providers={"fal": fal_fake}, **FAST_WEBHOOKS)
    alice = metadata("alice")
    secret = (
        await stack.stub.GetWebhookSigningSecret(
            job_service_pb2.GetWebhookSigningSecretRequest(), metadata=alice
        )
    ).secret
    with webhook_receiver() as receiver:
        request = job_service_pb2.CreateJobRequest(
            client_request_id="one-off",
            spec=common_pb2.VideoSpec(prompt="a paper boat", providers=["fal"]),
            webhook_url=receiver.url,
        )
        created = await stack.stub.CreateJob(request, metadata=alice)
        replay = await stack.stub.CreateJob(request, metadata=alice)  # the same key: nothing new to tell
        assert not replay.created
        (told,) = await receiver.wait_for(1)
        payload = told.verify(secret)
        assert payload["type"] == "video.completed"
        assert payload["data"]["id"] == created.job.id
        (delivery,) = await settled(stack, created.job.id, 1)
        assert delivery.state == "DELIVERED"
    # It is that job's alone: not among the user's endpoints, and one row only despite the replay.
    listed = await stack.stub.ListWebhookEndpoints(
        job_service_pb2.ListWebhookEndpointsRequest(), metadata=alice
    )
    assert list(listed.endpoints) == []
    assert stack.sql("SELECT job_id::text FROM webhook_endpoints") == [(created.job.id,)]


async def test_disabling_an_endpoint_ends_its_retries(start_stack: StartPipeline, fal_fake: FalFake) -> None:
    stack = await start_stack(providers={"fal": fal_fake}, **FAST_WEBHOOKS)
    with webhook_receiver(statuses=[500] * 1000) as receiver:
        endpoint = await register(stack, receiver.url, ["video.completed"])
        job = (await stack.create(providers=["fal"])).job
        await receiver.wait_for(2)  # retrying
        disable = job_service_pb2.UpdateWebhookEndpointRequest(id=endpoint.endpoint.id, enabled=False)
        await stack.stub.UpdateWebhookEndpoint(disable, metadata=metadata("alice"))
        (delivery,) = await settled(stack, job.id, 1)
        assert delivery.state == "FAILED"
        assert "disabled" in delivery.last_error
        # Every request the receiver got is one logged attempt; none came after the delivery ended.
        assert len(receiver.received) == len(delivery.attempt_log)
