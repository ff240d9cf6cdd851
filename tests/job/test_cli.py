"""The `videojobs` command as users run it: a real subprocess."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from job_service.server import JobService
from tests.support.cli import BIN
from tests.support.grpc_client import metadata
from tests.support.services import JobStub
from videojobs.identity import key_segment
from videojobs.v1 import job_service_pb2


def run(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "VIDEOJOBS_LOG_LEVEL": "WARNING"}


async def test_keys_create_prints_a_working_key(
    env: dict[str, str], job_service: JobService, stub: JobStub
) -> None:
    result = run("keys", "create", "--user", "carol", "--admin", env=env)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()

    owner = await stub.AuthenticateApiKey(
        job_service_pb2.AuthenticateApiKeyRequest(api_key=key), metadata=metadata()
    )
    assert (owner.user_id, owner.role) == ("carol", "admin")


async def test_keys_create_takes_any_id_an_identity_provider_issues(
    env: dict[str, str], job_service: JobService, stub: JobStub
) -> None:
    user = "https://idp.example.com/users/42 josé ☃"
    result = run("keys", "create", "--user", user, env=env)
    assert result.returncode == 0, result.stderr
    owner = await stub.AuthenticateApiKey(
        job_service_pb2.AuthenticateApiKeyRequest(api_key=result.stdout.strip()), metadata=metadata()
    )
    assert owner.user_id == user


@pytest.mark.parametrize(
    ("user", "problem"),
    [("", "must not be empty"), ("tab\tuser", "control characters"), ("x" * 201, "at most 200")],
)
def test_keys_create_refuses_an_unusable_user_id_in_one_line(
    env: dict[str, str], user: str, problem: str
) -> None:
    result = run("keys", "create", "--user", user, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: --user ")
    assert problem in result.stderr
    assert "Traceback" not in result.stderr


def test_keys_create_stdout_is_exactly_the_key(tmp_path: Path) -> None:
    """As the README uses it: KEY=$(videojobs keys create --user alice), on the embedded database, whose
    start-up is logged. The log line goes to stderr; stdout is the key and its newline, nothing else."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "VIDEOJOBS_DATABASE_URL"}}
    env |= {"VIDEOJOBS_DATA_DIR": str(tmp_path), "VIDEOJOBS_LOG_LEVEL": "INFO"}
    result = run("keys", "create", "--user", "alice", env=env)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"vj_[A-Za-z0-9_-]{43}\n", result.stdout), result.stdout
    assert "starting embedded postgres" in result.stderr


def test_migrate_reports_success(env: dict[str, str]) -> None:
    result = run("migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert "newest revision" in result.stdout


def test_quick_start_runs_its_demo(env: dict[str, str], tmp_path: Path) -> None:
    env = {**env, "VIDEOJOBS_DATA_DIR": str(tmp_path)}
    result = run("up", "--exit-after-demo", "--any-ports", env=env, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "videojobs.v1.JobService" in result.stdout
    assert "state=COMPLETED" in result.stdout
    assert f"/thumbnails/{key_segment('demo-user')}/" in result.stdout


def test_production_refuses_the_development_token(env: dict[str, str]) -> None:
    result = run("migrate", env={**env, "VIDEOJOBS_ENVIRONMENT": "production"})
    assert result.returncode != 0
    assert "VIDEOJOBS_INTERNAL_TOKEN" in result.stderr
