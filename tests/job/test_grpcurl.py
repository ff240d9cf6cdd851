"""Operators debug with grpcurl: reflection lists the services, JSON requests work, health answers."""

from __future__ import annotations

import asyncio
import json

from job_service.server import JobService
from videojobs.settings import DEV_INTERNAL_TOKEN
from videojobs_cli.demo import grpcurl_path


async def grpcurl(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        grpcurl_path(), "-plaintext", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    return process.returncode or 0, output.decode()


async def test_reflection_lists_the_services(job_service: JobService) -> None:
    code, output = await grpcurl(f"127.0.0.1:{job_service.port}", "list")
    assert code == 0, output
    assert set(output.split()) >= {"videojobs.v1.JobService", "grpc.health.v1.Health"}


async def test_reflection_describes_the_contract(job_service: JobService) -> None:
    code, output = await grpcurl(f"127.0.0.1:{job_service.port}", "describe", "videojobs.v1.JobService")
    assert code == 0, output
    assert (
        "rpc CreateJob ( .videojobs.v1.CreateJobRequest ) returns ( .videojobs.v1.CreateJobResponse )"
        in output
    )


async def test_grpcurl_creates_a_job_from_json(job_service: JobService) -> None:
    auth = ["-H", f"authorization: Bearer {DEV_INTERNAL_TOKEN}", "-H", "x-user-id: ops-debug"]
    body = json.dumps(
        {"client_request_id": "from-grpcurl", "spec": {"prompt": "a cat", "aspect_ratio": "9:16"}}
    )

    code, output = await grpcurl(
        *auth, "-d", body, f"127.0.0.1:{job_service.port}", "videojobs.v1.JobService/CreateJob"
    )
    assert code == 0, output
    response = json.loads(output)
    assert response["created"] is True
    assert response["job"]["state"] == "PENDING"
    assert response["job"]["spec"]["aspect_ratio"] == "9:16"

    code, output = await grpcurl(
        *auth, "-d", body, f"127.0.0.1:{job_service.port}", "videojobs.v1.JobService/CreateJob"
    )
    assert code == 0, output
    assert "created" not in json.loads(output)  # false is the default, so JSON leaves it out


async def test_errors_are_readable_in_grpcurl(job_service: JobService) -> None:
    auth = ["-H", f"authorization: Bearer {DEV_INTERNAL_TOKEN}", "-H", "x-user-id: ops-debug"]
    body = json.dumps({"spec": {"prompt": ""}})
    code, output = await grpcurl(
        *auth, "-d", body, f"127.0.0.1:{job_service.port}", "videojobs.v1.JobService/CreateJob"
    )
    assert code != 0
    assert "InvalidArgument" in output
    assert "spec.prompt" in output


async def test_health_is_serving(job_service: JobService) -> None:
    code, output = await grpcurl(
        "-d",
        '{"service": "videojobs.v1.JobService"}',
        f"127.0.0.1:{job_service.port}",
        "grpc.health.v1.Health/Check",
    )
    assert code == 0, output
    assert json.loads(output) == {"status": "SERVING"}
