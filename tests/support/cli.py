"""Running the `videojobs` command in tests, as operators and containers run it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

BIN = Path(sys.executable).parent / "videojobs"
# The `admin` fixture of tests/admin: `await admin(ARGS...)` runs `videojobs admin ARGS...`.
Admin = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]
