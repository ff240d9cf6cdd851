"""`videojobs admin queue`: the backpressure at each provider (jobs waiting, in flight, the oldest wait, the
configured limits, recent 429s, when a submission is next allowed), through job_service's GetQueueStats, on
the admin group's conventions (admin.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from videojobs_cli.admin import emit, json_option
from videojobs_cli.admin_jobs import to_dict
from videojobs_cli.admin_rpc import call_once

if TYPE_CHECKING:
    from videojobs.v1 import job_service_pb2

COLUMNS = ["provider", "waiting", "in_flight", "oldest_wait", "limits"]
COLUMNS += ["429s_1h", "learned_rate", "next_submit", "blocked"]  # what holds submissions back, until when


def limit_text(limit: job_service_pb2.QueueLimit) -> str:
    """ "runway: 2 in flight, 10/min, fallback after 300s"."""
    parts = []
    if limit.HasField("max_in_flight"):
        parts.append(f"{limit.max_in_flight} in flight")
    if limit.HasField("submits_per_minute"):
        parts.append(f"{limit.submits_per_minute}/min")
    if limit.HasField("max_queue_seconds"):
        parts.append(f"fallback after {limit.max_queue_seconds:g}s")
    return f"{limit.scope}: {', '.join(parts) or 'no cap'}"


def queue_row(queue: job_service_pb2.ProviderQueue) -> dict[str, Any]:
    if queue.HasField("next_submit_time"):
        next_submit = queue.next_submit_time.ToDatetime().isoformat(timespec="seconds") + "Z"
    else:
        # Without a time, nothing but a full slot can hold it back, and that frees when a job finishes.
        next_submit = "when a slot frees" if queue.blocked else "now"
    return {
        "provider": queue.provider,
        "waiting": queue.waiting,
        "in_flight": queue.in_flight,
        "oldest_wait": f"{queue.oldest_wait_seconds:.0f}s",
        "limits": "; ".join(limit_text(limit) for limit in queue.limits),
        "429s_1h": queue.throttles_last_hour,
        # What the 429s taught us, a cap on top of the configured limits.
        "learned_rate": (
            f"{queue.learned_submits_per_minute}/min" if queue.HasField("learned_submits_per_minute") else ""
        ),
        "next_submit": next_submit,
        "blocked": ", ".join(queue.blocked),
    }


@click.command()
@json_option
def queue(as_json: bool) -> None:
    """Per provider: jobs waiting for submission and in flight, the oldest wait, the limits, 429s in the
    last hour, the rate they taught us and when the next submission is allowed."""
    from videojobs.v1 import job_service_pb2

    request = job_service_pb2.GetQueueStatsRequest()
    stats: job_service_pb2.QueueStats = call_once(lambda call: call.stub.GetQueueStats, request)
    providers = list(stats.providers)
    summary = {
        "waiting": sum(p.waiting for p in providers),
        "in_flight": sum(p.in_flight for p in providers),
        "providers_blocked": sum(bool(p.blocked) for p in providers),
    }
    rows = [to_dict(p) for p in providers] if as_json else [queue_row(p) for p in providers]
    emit(rows, COLUMNS, summary, as_json=as_json, title="provider queues")
