"""The sim as `videojobs serve sim` runs it (a real process): output links, health, and stopping."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from pydantic import ValidationError

from provider_service.sim.server import SimSettings
from provider_service.sim.server import start as start_sim
from tests.support.cli import BIN


@pytest.fixture
def sim_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`videojobs serve sim` on a free port; yields the process and the URL it logged."""
    env = {**os.environ, "VIDEOJOBS_SIM_PORT": "0", "VIDEOJOBS_SIM_JOB_SECONDS": "0.1"}
    with subprocess.Popen(
        [str(BIN), "serve", "sim"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if "sim provider listening" in line:
                    yield process, json.loads(line)["url"]
                    break
            else:
                pytest.fail("the sim exited before listening")
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(10)


def test_sigterm_stops_the_sim_at_once_and_cleanly(sim_process: tuple[subprocess.Popen[str], str]) -> None:
    """A container engine stops with SIGTERM; as PID 1 a process without a handler would ignore it and be
    killed after the grace period (exit 137)."""
    process, _url = sim_process
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(5) == 0
    assert time.monotonic() - started < 2
    assert process.stdout is not None
    assert "sim provider stopped" in process.stdout.read()


def test_health_command_reads_the_sims_own_settings(sim_process: tuple[subprocess.Popen[str], str]) -> None:
    _process, url = sim_process
    port = url.rsplit(":", 1)[1]
    env = {**os.environ, "VIDEOJOBS_SIM_PORT": port}
    healthy = subprocess.run(
        [str(BIN), "health", "sim"], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert f"sim at http://127.0.0.1:{port}/healthz: HTTP 200" in healthy.stdout


def test_output_links_name_the_public_url() -> None:
    """Inside a compose network the sim is reached as http://sim:8090 while it listens on 0.0.0.0."""
    _provider, server = start_sim(
        SimSettings(sim_port=0, sim_job_seconds=0, sim_video_seconds=1, sim_public_url="http://sim:8090/")
    )
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            created = client.post("/v1/generations", json={"prompt": "boat", "duration_seconds": 1}).json()
            view = client.get(f"/v1/generations/{created['id']}").json()
    finally:
        server.stop()
    assert view["status"] == "succeeded"
    assert view["output_url"] == f"http://sim:8090/files/{created['id']}.mp4"


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_listening_everywhere_needs_a_public_url(host: str) -> None:
    with pytest.raises(ValidationError, match="VIDEOJOBS_SIM_PUBLIC_URL"):
        SimSettings(sim_host=host)
    assert SimSettings(sim_host=host, sim_public_url="http://sim:8090").sim_host == host
