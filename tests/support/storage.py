"""storage_service for tests (a pytest plugin: tests/conftest.py loads its fixtures), plus a local http(s)
source server.

Fixtures:
- `start_storage_service(**settings overrides)`: starts one on loopback (port 0) against the GCS emulator
  and the per-test `gcs_bucket`; stopped at the end of the test.
- `storage_service`: one started with defaults; `storage_stub`: a StorageService stub on a real channel.
Also: `start_source_server` (a provider's http(s) output), `start_slow_storage` (the emulator, slowly).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.cloud import storage

from storage_service.server import StorageService
from storage_service.settings import StorageServiceSettings
from tests.support.grpc_client import metadata
from tests.support.services import LOOPBACK, storage_service_running, target
from videojobs.safe_fetch import Resolver
from videojobs.v1 import storage_service_pb2_grpc
from videojobs_cli.gcs_emulator import GcsEmulator

AUTH = metadata()  # how job_service calls storage_service: the internal token, no user
StartStorageService = Callable[..., Awaitable[StorageService]]
Put = Callable[..., storage.Blob]


def storage_settings(emulator_url: str, bucket: str, **overrides: Any) -> StorageServiceSettings:
    options: dict[str, Any] = {
        "storage_host": LOOPBACK,
        "storage_port": 0,
        "bucket": bucket,
        "storage_emulator_host": emulator_url,
        "gcs_timeout_seconds": 10.0,
        "gcs_retry_seconds": 5.0,
        "fetch_connect_timeout_seconds": 2.0,
        "fetch_read_timeout_seconds": 5.0,
        "io_threads": 8,
    }
    return StorageServiceSettings(**(options | overrides))


def uri(bucket: storage.Bucket, name: str) -> str:
    return f"gs://{bucket.name}/{name}"


@pytest.fixture
async def start_storage_service(
    gcs_emulator: GcsEmulator, gcs_bucket: storage.Bucket
) -> AsyncIterator[StartStorageService]:
    """start(resolver=None, **storage_settings overrides): a started StorageService, stopped afterwards."""
    async with AsyncExitStack() as exits:

        async def start(*, resolver: Resolver | None = None, **overrides: Any) -> StorageService:
            settings = storage_settings(gcs_emulator.url, gcs_bucket.name, **overrides)
            return await exits.enter_async_context(storage_service_running(settings, resolver=resolver))

        yield start


@pytest.fixture
async def storage_service(start_storage_service: StartStorageService) -> StorageService:
    return await start_storage_service()


@pytest.fixture
async def storage_stub(
    storage_service: StorageService,
) -> AsyncIterator[storage_service_pb2_grpc.StorageServiceAsyncStub]:
    async with grpc.aio.insecure_channel(target(storage_service.port)) as channel:
        yield storage_service_pb2_grpc.StorageServiceStub(channel)


@pytest.fixture
def put(gcs_bucket: storage.Bucket) -> Put:
    """Write an object straight into the test bucket (as a provider would)."""

    def write(name: str, data: bytes, content_type: str = "video/mp4") -> storage.Blob:
        blob = gcs_bucket.blob(name)
        blob.upload_from_string(data, content_type=content_type)
        return blob

    return write


# A local source of provider outputs: real HTTP(S) over a real socket.


@dataclass
class Route:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Callable[[], Iterable[bytes]] = b""
    # Close the connection once this many body bytes are sent (a source dying mid-download).
    drop_after: int | None = None


@dataclass
class SourceServer:
    server: ThreadingHTTPServer
    scheme: str
    routes: dict[str, Route]
    seen: list[tuple[str, dict[str, str]]]

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(
    routes: dict[str, Route], seen: list[tuple[str, dict[str, str]]]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            route = routes.get(self.path, Route(404, {"content-type": "text/plain"}, b"not found"))
            self.send_response(route.status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            if isinstance(route.body, bytes):
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)
                return
            if "content-length" not in {k.lower() for k in route.headers}:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for piece in route.body():
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
                return
            self.end_headers()
            sent = 0
            for piece in route.body():
                if route.drop_after is not None and sent + len(piece) > route.drop_after:
                    self.wfile.write(piece[: route.drop_after - sent])
                    self.close_connection = True
                    return
                self.wfile.write(piece)
                sent += len(piece)

    return Handler


def start_source_server(
    routes: dict[str, Route], *, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> SourceServer:
    seen: list[tuple[str, dict[str, str]]] = []
    server = ThreadingHTTPServer((host, 0), _handler(routes, seen))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return SourceServer(server, "https" if tls else "http", routes, seen)


@dataclass
class SlowStorage:
    """A reverse proxy in front of the GCS emulator answering every media download `delay` seconds late
    (each read still well within the client's timeout, so only an overall deadline can stop a caller)."""

    server: ThreadingHTTPServer
    downloads: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_slow_storage(emulator_url: str, delay: float) -> SlowStorage:
    downloads: list[str] = []
    own_url: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _forward(self) -> None:
            if self.path.startswith("/download/"):
                downloads.append(self.path)
                time.sleep(delay)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            skip = {"host", "content-length", "connection", "accept-encoding"}
            headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
            answer = httpx.request(self.command, emulator_url + self.path, headers=headers, content=body)
            # Media links in metadata point at the emulator; point them here so downloads come through us.
            content = answer.content.replace(emulator_url.encode(), own_url[0].encode())
            self.send_response(answer.status_code)
            dropped = {"content-length", "transfer-encoding", "connection", "content-encoding"}
            for name, value in answer.headers.items():
                if name.lower() not in dropped:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    slow = SlowStorage(server, downloads)
    own_url.append(slow.url)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return slow


@dataclass
class SelfSignedCert:
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def self_signed_cert(directory: Path, hostnames: Iterable[str]) -> SelfSignedCert:
    """A certificate for `hostnames` (and 127.0.0.1), to serve https sources the service is told to trust."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    names = list(hostnames)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    alt_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "source.crt", directory / "source.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return SelfSignedCert(cert_file, key_file)


def static_resolver(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    """A resolver answering from `table` (what a hostile or misconfigured DNS would say)."""

    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    return resolve


def iter_chunks(total: int, chunk: int = 1024 * 1024) -> Iterator[bytes]:
    """`total` bytes of a repeating pattern, produced on the fly (never held in memory at once)."""
    block = bytes(range(256)) * (chunk // 256)
    sent = 0
    while sent < total:
        piece = block[: min(chunk, total - sent)]
        sent += len(piece)
        yield piece
