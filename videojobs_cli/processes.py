"""`videojobs serve SERVICE --processes N`: N copies of a gRPC service on one port, an event loop each.

A Python process runs one event loop on one core, and a create spends most of its time in Python (proto,
interceptor, SQLAlchemy), so more cores serve more only with more processes. Every copy binds the same port
with SO_REUSEPORT and the kernel spreads new connections across them; a gRPC connection stays with the
process that accepted it, so load spreads over connections (clients, gateway workers), not calls.

The parent migrates the database once, then only supervises: a signal is passed to every copy, and when one
copy dies the others are stopped too, so the container's supervisor restarts a whole, known-good set rather
than this process hiding a crash loop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from types import FrameType

from videojobs.logs import get_logger

log = get_logger(__name__)

# Past the children's own shutdown grace: a copy that has not exited by then is killed.
_STOP_SECONDS = 30.0


def child_environment(parent: Mapping[str, str], index: int) -> dict[str, str]:
    """The environment of copy `index`: the port shared, migrations left to the parent, and a metrics port
    of its own (VIDEOJOBS_METRICS_PORT + index) since Prometheus scrapes each process apart."""
    env = dict(parent)
    env["VIDEOJOBS_REUSE_PORT"] = "true"
    env["VIDEOJOBS_MIGRATE_ON_START"] = "false"
    if metrics_port := env.get("VIDEOJOBS_METRICS_PORT"):
        env["VIDEOJOBS_METRICS_PORT"] = str(int(metrics_port) + index)
    return env


def run(service: str, count: int) -> int:
    """Run `count` copies of `videojobs serve SERVICE` until a signal or the first exit; their exit status."""
    children = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and command, the service name from a fixed list
            [sys.executable, "-m", "videojobs_cli", "serve", service],
            env=child_environment(os.environ, index),
        )
        for index in range(count)
    ]
    signalled = False

    def stop_all(signum: int) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal signalled
        signalled = True
        stop_all(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    log.info("serving with processes", service=service, processes=count, pids=[c.pid for c in children])

    pid, status = os.wait()  # retried after a signal handler runs (PEP 475)
    first = next(child for child in children if child.pid == pid)
    first.returncode = os.waitstatus_to_exitcode(status)
    if not signalled:
        log.error("a process exited; stopping the others", pid=pid, exit_code=first.returncode)
        stop_all(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            log.error("a process did not stop in time; killing it", pid=child.pid)
            child.kill()
            child.wait()
    if signalled:
        # A copy still starting when the signal came ends by it rather than by its own handler: also clean.
        stopped = {0, -signal.SIGTERM, -signal.SIGINT}
        return next((abs(int(c.returncode)) for c in children if c.returncode not in stopped), 0)
    return int(first.returncode) or 1  # a copy that ended on its own is a failure even with status 0
