"""Running the `videojobs` command in tests, as operators and containers run it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent / "videojobs"
# The `admin` fixture of tests/admin: `await admin(ARGS...)` runs `videojobs admin ARGS...`.
Admin = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]


def document(result: Any) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def table(stdout: str) -> list[list[str]]:
    """The cells of each row of a rich table (header first), as a person reads them."""
    rows = []
    for line in re.sub(r"\x1b\[[0-9;]*m", "", stdout).splitlines():
        if line.startswith(("│", "┃")):
            rows.append([cell.strip() for cell in re.split(r"[│┃]", line)[1:-1]])
    return rows


async def health(service: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`videojobs health SERVICE` as a container healthcheck runs it, with `env` (where the service listens)
    on top of this environment; in a thread, because the service it checks may run on this event loop."""
    return await asyncio.to_thread(
        subprocess.run,
        [str(BIN), "health", service, "--timeout", "5"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
