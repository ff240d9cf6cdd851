"""`videojobs admin keys create/list/revoke`: API keys for the HTTP gateway, through job_service's
CreateApiKey, ListApiKeys and RevokeApiKey, on the admin group's conventions (admin.py).

`keys create` prints only the key on stdout (`KEY=$(videojobs admin keys create --user alice)`), and what
it is on stderr; with --json, the key and its record. The top-level `videojobs keys create` does the same on
the database directly, for setting up a deployment before job_service runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from videojobs_cli.admin import emit, emit_record, json_option, page_options
from videojobs_cli.admin_jobs import to_dict
from videojobs_cli.admin_rpc import call_once, list_pages

if TYPE_CHECKING:
    from videojobs.v1 import job_service_pb2

FIELDS = ["id", "user_id", "role", "prefix", "create_time", "revoke_time"]


def key_row(key: job_service_pb2.ApiKey) -> dict[str, Any]:
    data = to_dict(key)
    for name in ("create_time", "revoke_time"):
        data[name] = data[name][:19] + "Z" if data.get(name) else ""
    return data


@click.group()
def keys() -> None:
    """API keys for the HTTP gateway: create, list, revoke."""


@keys.command("create")
@json_option
@click.option("--user", "user_id", required=True, help="The user the key acts for.")
@click.option("--admin", "admin_role", is_flag=True, help="Allow admin routes (quota reset).")
def create(as_json: bool, user_id: str, admin_role: bool) -> None:
    """Mint a key. It is printed once (alone on stdout) and stored only as a hash."""
    from videojobs.v1 import job_service_pb2

    request = job_service_pb2.CreateApiKeyRequest(user_id=user_id, admin=admin_role)
    created: job_service_pb2.CreateApiKeyResponse = call_once(lambda call: call.stub.CreateApiKey, request)
    if as_json:
        record = {**to_dict(created.key), "api_key": created.api_key}
        emit_record(record, FIELDS, {"result": "created"}, as_json=True, title="")
        return
    click.echo(created.api_key)
    click.echo(
        f"created key {created.key.id} ({created.key.role}) for {created.key.user_id}; "
        "it is shown only this once",
        err=True,
    )


@keys.command("list")
@json_option
@click.option("--user", "user_id", help="Only this user's keys.")
@click.option("--revoked", "include_revoked", is_flag=True, help="Also revoked keys.")
@page_options(default_size=100)
def list_keys(
    as_json: bool,
    user_id: str | None,
    include_revoked: bool,
    page_size: int,
    page_token: str,
    every_page: bool,
) -> None:
    """Keys, oldest first: who they act for, their role and first characters, never the keys."""
    from videojobs.v1 import job_service_pb2

    request = job_service_pb2.ListApiKeysRequest(
        user_id=user_id or "", include_revoked=include_revoked, page_size=page_size, page_token=page_token
    )

    found, next_token = list_pages(
        lambda call: call.stub.ListApiKeys,
        request,
        lambda page: page.keys,
        label="listing keys",
        every_page=every_page,
    )
    rows = [to_dict(key) for key in found] if as_json else [key_row(key) for key in found]
    summary = {
        "keys": len(found),
        "revoked": sum(key.HasField("revoke_time") for key in found),
        "next_page_token": next_token,
    }
    emit(rows, FIELDS, summary, as_json=as_json, title="API keys")


@keys.command("revoke")
@json_option
@click.argument("key_id")
def revoke(as_json: bool, key_id: str) -> None:
    """Revoke a key by its id (from `keys list`): the gateway refuses it from now on. Revoking a revoked key
    changes nothing."""
    from videojobs.v1 import job_service_pb2

    request = job_service_pb2.RevokeApiKeyRequest(key_id=key_id)
    revoked: job_service_pb2.ApiKey = call_once(lambda call: call.stub.RevokeApiKey, request)
    record = to_dict(revoked) if as_json else key_row(revoked)
    emit_record(record, FIELDS, {"result": "revoked"}, as_json=as_json, title=f"API key {revoked.id}")
