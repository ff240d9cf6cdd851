"""`videojobs admin queue` against a real job_service over gRPC (GetQueueStats) with the default provider
limits (veo 10 submissions a minute, runway 2 in flight, fal 10 in flight): per provider, jobs waiting and in
flight, the oldest wait, the limits, 429s in the last hour, the rate they taught us and when a submission is
next allowed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from job_service.server import JobService
from tests.support.cli import Admin, document, table
from tests.support.grpc_client import metadata
from tests.support.postgres import Sql
from tests.support.services import job_stub
from videojobs.v1 import common_pb2, job_service_pb2


async def _job(
    job_service: JobService, sql: Sql, user: str, provider: str, state: str, due_ago: float
) -> str:
    """A job made through CreateJob for one provider, then put in `state`, due `due_ago` seconds ago."""
    async with job_stub(job_service.port) as stub:
        request = job_service_pb2.CreateJobRequest(
            spec=common_pb2.VideoSpec(prompt=f"a {state} job at {provider}", providers=[provider]),
            allow_duplicate=True,
        )
        created = await stub.CreateJob(request, metadata=metadata(user))
    sql(
        "UPDATE jobs SET state = %s, provider = %s, due_time = now() - make_interval(secs => %s) "
        "WHERE id = %s",
        (state, provider, due_ago, created.job.id),
    )
    return created.job.id


async def _seed(job_service: JobService, sql: Sql) -> None:
    """runway full (2 in flight, one waiting 30 s); veo paused 120 s after 429s, which taught it 4
    submissions a minute (one job waiting 90 s); one fal job in flight; nothing at sim."""
    await _job(job_service, sql, "alice", "runway", "PROCESSING", 0)
    await _job(job_service, sql, "alice", "runway", "PROCESSING", 0)
    await _job(job_service, sql, "bob", "runway", "PENDING", 30)
    veo_job = await _job(job_service, sql, "carol", "veo", "PENDING", 90)
    await _job(job_service, sql, "dave", "fal", "PROCESSING", 0)
    sql(
        "INSERT INTO provider_backoff "
        "(provider, not_before, throttles, spacing_seconds, last_throttle, learned_rate, rate_time) "
        "VALUES ('veo', now() + interval '120 seconds', 3, 5, now(), 4, now())"
    )
    # Two 429s within the hour, one before it.
    for minutes in (10, 20, 70):
        sql(
            "INSERT INTO job_events (job_id, type, state, detail, create_time) VALUES "
            "(%s, 'throttled', 'PENDING', '{\"provider\": \"veo\"}', now() - make_interval(mins => %s))",
            (veo_job, minutes),
        )


def _seconds(cell: str) -> int:
    assert cell.endswith("s"), cell
    return int(cell[:-1])


async def test_queue_shows_each_providers_backlog_and_what_holds_it_back(
    operator: Admin, job_service: JobService, sql: Sql
) -> None:
    await _seed(job_service, sql)
    started = time.monotonic()
    before = datetime.now(UTC)

    result = await operator("queue")

    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    rows = table(result.stdout)
    assert rows[0] == [
        "provider",
        "waiting",
        "in_flight",
        "oldest_wait",
        "limits",
        "429s_1h",
        "learned_rate",
        "next_submit",
        "blocked",
    ]
    by_provider = {row[0]: row for row in rows[1:]}
    assert [row[0] for row in rows[1:]] == ["veo", "fal", "runway", "sim"]
    veo, fal, runway, sim = (by_provider[name] for name in ("veo", "fal", "runway", "sim"))
    assert veo[1:3] + veo[4:7] + veo[8:] == ["1", "0", "veo: 10/min", "2", "4/min", "veo: backoff"]
    assert 90 <= _seconds(veo[3]) <= 91 + elapsed
    next_submit = datetime.fromisoformat(veo[7])
    assert before + timedelta(seconds=118) <= next_submit <= before + timedelta(seconds=121 + elapsed)
    assert runway[1:3] + runway[4:] == [
        "1",
        "2",
        "runway: 2 in flight",
        "0",
        "",
        "when a slot frees",
        "runway: slot",
    ]
    assert 30 <= _seconds(runway[3]) <= 31 + elapsed
    assert fal == ["fal", "0", "1", "0s", "fal: 10 in flight", "0", "", "now", ""]
    assert sim == ["sim", "0", "0", "0s", "", "0", "", "now", ""]
    assert result.stdout.splitlines()[0] == "provider queues"
    assert result.stdout.splitlines()[-1] == "waiting: 2, in_flight: 3, providers_blocked: 2"


async def test_queue_as_json_is_the_rpcs_answer(operator: Admin, job_service: JobService, sql: Sql) -> None:
    await _seed(job_service, sql)

    found = document(await operator("queue", "--json"))

    items = {item["provider"]: item for item in found["items"]}
    assert [item["provider"] for item in found["items"]] == ["veo", "fal", "runway", "sim"]
    veo = items["veo"]
    assert 90 <= veo.pop("oldest_wait_seconds") < 100
    assert datetime.fromisoformat(veo.pop("next_submit_time")) > datetime.now(UTC) + timedelta(seconds=100)
    assert veo == {
        "provider": "veo",
        "waiting": 1,
        "in_flight": 0,
        "limits": [{"scope": "veo", "submits_per_minute": 10}],
        "throttles_last_hour": 2,
        "learned_submits_per_minute": 4,
        "blocked": ["veo: backoff"],
    }
    assert 30 <= items["runway"].pop("oldest_wait_seconds") < 40
    assert items["runway"] == {
        "provider": "runway",
        "waiting": 1,
        "in_flight": 2,
        "limits": [{"scope": "runway", "max_in_flight": 2}],
        "throttles_last_hour": 0,
        "blocked": ["runway: slot"],
    }
    assert items["sim"] == {
        "provider": "sim",
        "waiting": 0,
        "in_flight": 0,
        "oldest_wait_seconds": 0.0,
        "limits": [],
        "throttles_last_hour": 0,
        "blocked": [],
    }
    assert found["summary"] == {"waiting": 2, "in_flight": 3, "providers_blocked": 2}


async def test_a_full_rate_limit_says_when_its_window_frees_a_submission(
    job_service: JobService, sql: Sql
) -> None:
    await _job(job_service, sql, "carol", "veo", "PENDING", 5)
    # veo's 10 submissions a minute all used, the oldest 20 s ago: the next one is allowed in about 40 s.
    sql(
        "INSERT INTO provider_submits (provider, model, submit_time) "
        "SELECT 'veo', '', now() - make_interval(secs => 20 - g) FROM generate_series(0, 9) AS g"
    )
    async with job_stub(job_service.port) as stub:
        before = datetime.now(UTC)
        stats = await stub.GetQueueStats(
            job_service_pb2.GetQueueStatsRequest(), metadata=metadata("ops", role="admin")
        )
        after = datetime.now(UTC)

    veo = stats.providers[0]
    assert (veo.provider, veo.waiting, list(veo.blocked)) == ("veo", 1, ["veo: rate"])
    next_submit = veo.next_submit_time.ToDatetime(UTC)
    assert before + timedelta(seconds=39) <= next_submit <= after + timedelta(seconds=41)
