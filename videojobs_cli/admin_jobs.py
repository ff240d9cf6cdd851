"""`videojobs admin jobs list/show/cancel/retry`: any user's jobs, through job_service's admin methods
(AdminListJobs, AdminGetJob, AdminCancelJob, AdminRetryJob), on the admin group's conventions (admin.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from videojobs.contract import PROVIDERS
from videojobs_cli.admin import emit, emit_record, json_option, page_options
from videojobs_cli.admin_duplicates import Duration
from videojobs_cli.admin_rpc import call_once, list_pages

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from videojobs.v1 import job_service_pb2

STATES = (
    "PENDING",
    "SUBMITTING",
    "PROCESSING",
    "FINALIZING",
    "COMPLETED",
    "FAILED",
    "CONTENT_VIOLATION",
    "CANCELLED",
)
LIST_COLUMNS = ["id", "user_id", "state", "provider", "attempt", "create_time", "end_time", "error"]
SHOW_FIELDS = [
    "id",
    "user_id",
    "state",
    "provider",
    "provider_job_id",
    "attempt",
    "client_request_id",
    "prompt",
    "video_uri",
    "thumbnail_uri",
    "error",
    "create_time",
    "update_time",
    "end_time",
]


class Since(click.ParamType[datetime]):
    """A point in time: an ISO 8601 time (UTC unless it says otherwise), or a duration ago (`24h`, `7d`)."""

    name = "since"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        if re.fullmatch(r"\d+(?:\.\d+)?[smhd]?", text):
            return datetime.now(UTC) - timedelta(seconds=Duration().convert(text, param, ctx))
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(
                f"{value!r} is neither an ISO time (2026-11-29T12:00) nor a duration (24h, 7d)", param, ctx
            )
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def to_dict(message: Message) -> dict[str, Any]:
    """A message as JSON-ready data: proto field names, every field present, enums by name."""
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def _time(value: str) -> str:
    """A proto JSON timestamp cut to seconds, for a table."""
    return value[:19] + "Z" if value else ""


def job_row(job: job_service_pb2.Job) -> dict[str, Any]:
    data = to_dict(job)
    error = data.get("error") or {}
    return {
        **data,
        "prompt": data["spec"]["prompt"],
        "error": error.get("code", ""),
        "create_time": _time(data.get("create_time", "")),
        "update_time": _time(data.get("update_time", "")),
        "end_time": _time(data.get("end_time", "")),
    }


def _emit_job(job: job_service_pb2.Job, summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_record(to_dict(job), SHOW_FIELDS, summary, as_json=True, title="")
    else:
        emit_record(job_row(job), SHOW_FIELDS, summary, as_json=False, title=f"job {job.id}")


@click.group()
def jobs() -> None:
    """Every user's jobs: list, show, cancel, retry."""


@jobs.command("list")
@json_option
@click.option("--user", "user_id", help="Only this user's jobs.")
@click.option(
    "--state", "states", multiple=True, type=click.Choice(STATES, case_sensitive=False), help="Repeatable."
)
@click.option(
    "--provider", type=click.Choice([str(p) for p in PROVIDERS]), help="Only jobs last run on this provider."
)
@click.option("--since", type=Since(), help="Only jobs created since: an ISO time, or a duration ago (24h).")
@page_options(default_size=20)
def list_jobs(
    as_json: bool,
    user_id: str | None,
    states: tuple[str, ...],
    provider: str | None,
    since: datetime | None,
    page_size: int,
    page_token: str,
    every_page: bool,
) -> None:
    """Jobs of every user (or one), newest first, one page at a time unless --all."""
    from google.protobuf.timestamp_pb2 import Timestamp

    from videojobs.v1 import job_service_pb2

    request = job_service_pb2.AdminListJobsRequest(
        page_size=page_size,
        page_token=page_token,
        states=[job_service_pb2.JobState.Value(state.upper()) for state in states],
        user_id=user_id or "",
        provider=provider or "",
    )
    if since is not None:
        stamp = Timestamp()
        stamp.FromDatetime(since)
        request.since.CopyFrom(stamp)

    found, next_token = list_pages(
        lambda call: call.stub.AdminListJobs,
        request,
        lambda page: page.jobs,
        label="listing jobs",
        every_page=every_page,
    )
    rows = [job_row(job) for job in found] if not as_json else [to_dict(job) for job in found]
    summary: dict[str, Any] = {"jobs": len(found), "next_page_token": next_token}
    emit(rows, LIST_COLUMNS, summary, as_json=as_json, title="jobs")


@jobs.command("show")
@json_option
@click.argument("job_id")
def show(as_json: bool, job_id: str) -> None:
    """One job of any user, with fresh download links."""
    from videojobs.v1 import job_service_pb2

    request = job_service_pb2.GetJobRequest(id=job_id)
    job: job_service_pb2.Job = call_once(lambda call: call.stub.AdminGetJob, request)
    _emit_job(job, {"state": job_service_pb2.JobState.Name(job.state)}, as_json)


@jobs.command("cancel")
@json_option
@click.argument("job_id")
def cancel(as_json: bool, job_id: str) -> None:
    """Cancel any user's unfinished job (as its owner would: at the provider too, quota refunded if no
    provider saw it). A finished job is refused (exit 1)."""
    from videojobs.v1 import job_service_pb2

    request = job_service_pb2.CancelJobRequest(id=job_id)
    job: job_service_pb2.Job = call_once(lambda call: call.stub.AdminCancelJob, request)
    _emit_job(job, {"result": "cancelled", "state": job_service_pb2.JobState.Name(job.state)}, as_json)


@jobs.command("retry")
@json_option
@click.argument("job_id")
def retry(as_json: bool, job_id: str) -> None:
    """Run any user's FAILED or CANCELLED job again (same id, next attempt). It takes a unit of the owner's
    daily quota; over quota it is refused (exit 1): `quota reset --user` first."""
    from videojobs.v1 import job_service_pb2

    request = job_service_pb2.RetryJobRequest(id=job_id)
    job: job_service_pb2.Job = call_once(lambda call: call.stub.AdminRetryJob, request)
    summary = {"result": "retried", "state": job_service_pb2.JobState.Name(job.state), "attempt": job.attempt}
    _emit_job(job, summary, as_json)
