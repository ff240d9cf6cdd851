"""Running the `videojobs` command in tests, as operators and containers run it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
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
