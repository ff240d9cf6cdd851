"""Where a CreateJob's CPU goes in job_service: py-spy samples the service under load from N clients.

    python -m bench.profile_create [--seconds 20] [--clients 8] [--raw PATH]

job_service runs as its own process (one, no worker) on a fresh database; this process drives it with
creates for fresh users (bench.create_jobs' load) while `py-spy record` samples it. Printed: the share of
samples in each part of a create, and the top functions by own time. `--raw` keeps py-spy's collapsed
stacks (for flamegraph.pl or speedscope).

The parts: "gRPC core" is grpc.aio's Cython machinery (it runs as event-loop callbacks, so py-spy sees its
time as `Handle._run` with no Python frame below) plus gRPC's own threads; "event loop idle/poll" is the
selector; "handler" is everything under our servicer, split into the SQL driver (psycopg) and the rest
(validation, conversion to proto, domain code); "interceptor" is our interceptor's own share around it.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.create_jobs import Connections, fresh_database, grpc_creates, start_service
from videojobs.health import wait_serving

PARTS = (
    "gRPC core",
    "event loop idle/poll",
    "interceptor",
    "handler: SQL driver",
    "handler: the rest",
    "other",
)


def classify(frames: list[str]) -> str:
    text = ";".join(frames)
    if "JobServicer." in text:
        return "handler: SQL driver" if "psycopg" in text else "handler: the rest"
    if "videojobs/interceptors.py" in text:
        return "interceptor"
    leaf = frames[-1]
    if "selectors.py" in leaf:
        return "event loop idle/poll"
    if leaf.startswith("Handle._run") or frames[0].startswith("Thread._bootstrap"):
        return "gRPC core"
    return "other"


def summarize(raw: Path) -> tuple[collections.Counter[str], collections.Counter[str], int]:
    parts: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        samples = int(count)
        total += samples
        parts[classify(frames)] += samples
        leaves[frames[-1]] += samples
    return parts, leaves, total


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=20, help="how long py-spy samples")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--port", type=int, default=50152)
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    args = parser.parse_args()

    url = fresh_database("vj_bench_profile")
    service = start_service(url, args.port, processes=1)
    conns = Connections(f"127.0.0.1:{args.port}", args.clients)
    raw = args.raw or Path(tempfile.mkdtemp()) / "create.raw"
    try:
        await wait_serving(f"127.0.0.1:{args.port}", within=60)
        await grpc_creates(conns, args.clients, 2.0)  # warm up
        py_spy = [
            str(Path(sys.executable).parent / "py-spy"),
            "record", "--pid", str(service.pid), "--duration", str(args.seconds),
            "--format", "raw", "--output", str(raw), "--nonblocking",
        ]  # fmt: skip
        sampler = await asyncio.create_subprocess_exec(
            *py_spy, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        rate = await grpc_creates(conns, args.clients, args.seconds + 1.0)
        _, errors = await sampler.communicate()
        if sampler.returncode != 0:
            raise SystemExit(f"py-spy failed (it needs ptrace: root or CAP_SYS_PTRACE): {errors.decode()}")
    finally:
        await conns.close()
        service.terminate()
        service.wait(timeout=30)

    parts, leaves, total = summarize(raw)
    print(f"CreateJob at {args.clients} clients: {rate:.0f}/s; {total} samples over {args.seconds} s")
    print(f"{'part':<24} {'share':>6}")
    for part in PARTS:
        print(f"{part:<24} {parts[part] / total:>6.1%}")
    print("top functions by own time:")
    for leaf, samples in leaves.most_common(8):
        print(f"  {samples / total:>6.1%}  {leaf}")
    if args.raw is None:
        os.unlink(raw)


if __name__ == "__main__":
    asyncio.run(main())
