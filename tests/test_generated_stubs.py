"""The committed gRPC stubs are exactly what `make protos` generates from protos/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_generated_stubs_are_fresh() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_protos.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_proto_has_its_stubs() -> None:
    protos = {p.stem for p in (ROOT / "protos" / "videojobs" / "v1").glob("*.proto")}
    assert protos == {"common", "job_service", "provider_service", "storage_service"}
    for name in protos:
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi"):
            assert (ROOT / "videojobs" / "v1" / f"{name}{suffix}").exists()
