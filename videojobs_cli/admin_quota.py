"""`videojobs admin quota show/reset --user`: a user's daily and active-job quota, through job_service's
AdminGetQuota and ResetQuota, on the admin group's conventions (admin.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from videojobs_cli.admin import emit_record, json_option
from videojobs_cli.admin_jobs import to_dict
from videojobs_cli.admin_rpc import call_once

if TYPE_CHECKING:
    from videojobs.v1 import job_service_pb2

FIELDS = ["user_id", "daily_limit", "used_today", "remaining_today", "resets_at", "max_active", "active"]


def _emit(quota: job_service_pb2.Quota, result: str, as_json: bool) -> None:
    record = to_dict(quota)
    summary = {"result": result, "remaining_today": quota.remaining_today, "active": quota.active}
    emit_record(record, FIELDS, summary, as_json=as_json, title=f"quota of {quota.user_id}")


@click.group()
def quota() -> None:
    """A user's quota: show it, or reset today's usage."""


@quota.command("show")
@json_option
@click.option("--user", "user_id", required=True, help="The user whose quota to show.")
def show(as_json: bool, user_id: str) -> None:
    """Today's usage against the daily limit, and unfinished jobs against the active limit."""
    from videojobs.v1 import job_service_pb2

    request = job_service_pb2.AdminGetQuotaRequest(user_id=user_id)
    _emit(call_once(lambda call: call.stub.AdminGetQuota, request), "shown", as_json)


@quota.command("reset")
@json_option
@click.option("--user", "user_id", required=True, help="The user whose usage today is forgotten.")
def reset(as_json: bool, user_id: str) -> None:
    """Forget the user's usage today (the daily limit starts again); unfinished jobs still count."""
    from videojobs.v1 import job_service_pb2

    request = job_service_pb2.ResetQuotaRequest(user_id=user_id)
    _emit(call_once(lambda call: call.stub.ResetQuota, request), "reset", as_json)
