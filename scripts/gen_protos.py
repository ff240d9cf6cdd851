"""Generate the Python gRPC stubs (with .pyi) for protos/videojobs/v1 into videojobs/v1.

    python scripts/gen_protos.py          # regenerate in place
    python scripts/gen_protos.py --check  # exit 1 if the committed stubs are stale

The generated files are committed and never edited by hand.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PACKAGE_DIR = Path("videojobs") / "v1"
HEADER = '"""Generated from protos/videojobs/v1 by scripts/gen_protos.py. Do not edit."""\n'


def generate(out_root: Path) -> Path:
    """Write the stubs under out_root/videojobs/v1 and return that folder."""
    bin_dir = Path(sys.executable).parent
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / PACKAGE_DIR).glob("*.proto"))
    out_dir = out_root / PACKAGE_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        *protos,
    ]
    # mypy-protobuf narrates each file it writes; only failures matter here.
    subprocess.run(command, check=True, cwd=PROTO_ROOT, stderr=subprocess.DEVNULL)  # noqa: S603 - fixed argv
    (out_dir / "__init__.py").write_text(HEADER)
    return out_dir


def stale_files(committed: Path, fresh: Path) -> list[str]:
    names = {p.name for p in committed.glob("*.py*")} | {p.name for p in fresh.glob("*.py*")}
    return sorted(
        name
        for name in names
        if not (committed / name).exists()
        or not (fresh / name).exists()
        or not filecmp.cmp(committed / name, fresh / name, shallow=False)
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="fail if the committed stubs are stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        committed = ROOT / PACKAGE_DIR
        stale = stale_files(committed, fresh)
        if args.check:
            if stale:
                print(f"stale generated stubs: {', '.join(stale)}; run `make protos`", file=sys.stderr)
                return 1
            return 0
        if committed.exists():
            shutil.rmtree(committed)
        shutil.copytree(fresh, committed, ignore=shutil.ignore_patterns("__pycache__"))
        print(f"generated {len(list(committed.glob('*.py*')))} files in {PACKAGE_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
