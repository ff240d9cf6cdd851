"""`videojobs admin quota show/reset` and `keys create/list/revoke` against a real job_service over gRPC: the
numbers job_service counts, a key that works at once and stops working when revoked, stdout carrying only
the result (a created key alone), and field errors on stderr with exit status 1."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from job_service.server import JobService
from tests.support.cli import Admin, table
from tests.support.grpc_client import metadata
from tests.support.postgres import Sql
from tests.support.services import JobStub, job_stub
from videojobs.v1 import common_pb2, job_service_pb2


@pytest.fixture
async def stub(job_service: JobService) -> AsyncIterator[JobStub]:
    async with job_stub(job_service.port) as stub:
        yield stub


def document(result: Any) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    return found


async def create(stub: JobStub, user: str, key: str) -> None:
    request = job_service_pb2.CreateJobRequest(client_request_id=key, spec=common_pb2.VideoSpec(prompt=key))
    await stub.CreateJob(request, metadata=metadata(user))


async def test_quota_show_and_reset(operator: Admin, stub: JobStub, sql: Sql) -> None:
    for key in ("one", "two"):
        await create(stub, "alice", key)
    sql("UPDATE jobs SET state = 'COMPLETED', end_time = now(), due_time = NULL "
        "WHERE client_request_id = 'one' RETURNING id")  # fmt: skip

    shown = document(await operator("quota", "show", "--user", "alice", "--json"))
    human = await operator("quota", "show", "--user", "alice")
    reset = document(await operator("quota", "reset", "--user", "alice", "--json"))

    quota = shown["item"]
    assert {key: quota[key] for key in quota if key != "resets_at"} == {
        "user_id": "alice",
        "daily_limit": 10,
        "used_today": 2,
        "remaining_today": 8,
        "max_active": 5,
        "active": 1,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT00:00:00Z", quota["resets_at"])
    assert shown["summary"] == {"result": "shown", "remaining_today": 8, "active": 1}
    assert table(human.stdout)[:6] == [
        ["user_id", "alice"],
        ["daily_limit", "10"],
        ["used_today", "2"],
        ["remaining_today", "8"],
        ["resets_at", quota["resets_at"]],
        ["max_active", "5"],
    ]
    assert human.stdout.splitlines()[0] == "quota of alice"
    assert human.stdout.splitlines()[-1] == "result: shown, remaining_today: 8, active: 1"
    assert (reset["item"]["used_today"], reset["item"]["remaining_today"]) == (0, 10)
    assert reset["item"]["active"] == 1  # unfinished jobs still count
    assert sql("SELECT count(*) FROM quota_usage WHERE user_id = 'alice'") == [(0,)]


async def test_quota_needs_a_user(operator: Admin, job_service: JobService) -> None:
    missing = await operator("quota", "show")
    empty = await operator("quota", "show", "--user", "")

    assert missing.returncode == 2
    assert "Missing option '--user'" in missing.stderr
    assert (empty.returncode, empty.stdout) == (1, "")
    assert empty.stderr == (
        "Error: INVALID_ARGUMENT: invalid request: user_id: is required\n  user_id: is required\n"
    )


async def test_keys_create_prints_only_the_key_and_it_works_until_revoked(
    operator: Admin, stub: JobStub
) -> None:
    created = await operator("keys", "create", "--user", "alice")

    assert created.returncode == 0, created.stderr
    assert re.fullmatch(r"vj_[A-Za-z0-9_-]{43}\n", created.stdout)
    key = created.stdout.strip()
    assert "for alice" in created.stderr
    owner = await stub.AuthenticateApiKey(
        job_service_pb2.AuthenticateApiKeyRequest(api_key=key), metadata=metadata()
    )
    assert (owner.user_id, owner.role) == ("alice", "user")

    listed = document(await operator("keys", "list", "--json", "--user", "alice"))
    [item] = listed["items"]
    assert (item["user_id"], item["role"], item["prefix"]) == ("alice", "user", key[:10])
    assert listed["summary"] == {"keys": 1, "revoked": 0, "next_page_token": ""}

    revoked = document(await operator("keys", "revoke", item["id"], "--json"))
    assert revoked["item"]["id"] == item["id"]
    assert revoked["item"]["revoke_time"]
    assert revoked["summary"] == {"result": "revoked"}
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.AuthenticateApiKey(
            job_service_pb2.AuthenticateApiKeyRequest(api_key=key), metadata=metadata()
        )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED

    again = document(await operator("keys", "revoke", item["id"], "--json"))
    assert again["item"]["revoke_time"] == revoked["item"]["revoke_time"]  # idempotent
    assert document(await operator("keys", "list", "--json"))["items"] == []
    with_revoked = document(await operator("keys", "list", "--json", "--revoked"))
    assert [key["id"] for key in with_revoked["items"]] == [item["id"]]
    assert with_revoked["summary"]["revoked"] == 1


async def test_keys_list_shows_a_table_oldest_first_and_pages(operator: Admin) -> None:
    created = []
    for user, flags in (("alice", ()), ("bob", ("--admin",)), ("alice", ())):
        result = document(await operator("keys", "create", "--user", user, *flags, "--json"))
        assert result["item"]["api_key"].startswith(result["item"]["prefix"])
        created.append(result["item"])

    human = await operator("keys", "list")
    first = document(await operator("keys", "list", "--json", "--page-size", "2"))
    rest = document(
        await operator("keys", "list", "--json", "--page-token", first["summary"]["next_page_token"])
    )
    every = document(await operator("keys", "list", "--json", "--page-size", "1", "--all"))

    rows = table(human.stdout)
    assert rows[0] == ["id", "user_id", "role", "prefix", "create_time", "revoke_time"]
    assert [row[:4] for row in rows[1:]] == [
        [key["id"], key["user_id"], key["role"], key["prefix"]] for key in created
    ]
    assert human.stdout.splitlines()[-1] == "keys: 3, revoked: 0, next_page_token: "
    assert "api_key" not in json.dumps(every)
    assert [key["id"] for key in first["items"] + rest["items"]] == [key["id"] for key in created]
    assert [key["id"] for key in every["items"]] == [key["id"] for key in created]
    assert [key["role"] for key in every["items"]] == ["user", "admin", "user"]


async def test_keys_revoke_of_a_bad_or_unknown_id_fails(operator: Admin, job_service: JobService) -> None:
    malformed = await operator("keys", "revoke", "nope")
    unknown = await operator("keys", "revoke", "00000000-0000-4000-8000-000000000000")

    assert (malformed.returncode, malformed.stdout) == (1, "")
    assert malformed.stderr == (
        "Error: INVALID_ARGUMENT: invalid request: key_id: must be an API key id (UUID)\n"
        "  key_id: must be an API key id (UUID)\n"
    )
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr == "Error: NOT_FOUND: API key 00000000-0000-4000-8000-000000000000 not found\n"
