"""DeleteObjects is idempotent; SignUrls gives URLs that download the object (plain, and V4-signed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.cloud import storage

from storage_service.server import StorageService, running
from tests.support.cli import health
from tests.support.storage import AUTH, Put, StartStorageService, storage_settings, uri
from videojobs.health import wait_serving
from videojobs.v1 import storage_service_pb2 as pb
from videojobs.v1 import storage_service_pb2_grpc
from videojobs_cli.gcs_emulator import GcsEmulator

if TYPE_CHECKING:
    Stub = storage_service_pb2_grpc.StorageServiceAsyncStub


async def test_delete_is_idempotent(storage_stub: Stub, gcs_bucket: storage.Bucket, put: Put) -> None:
    put("videos/u/a.mp4", b"a")
    put("thumbnails/u/a.jpg", b"b", content_type="image/jpeg")
    uris = [
        uri(gcs_bucket, "videos/u/a.mp4"),
        uri(gcs_bucket, "thumbnails/u/a.jpg"),
        uri(gcs_bucket, "videos/u/never.mp4"),
    ]
    first = await storage_stub.DeleteObjects(pb.DeleteObjectsRequest(uris=uris), metadata=AUTH)
    second = await storage_stub.DeleteObjects(pb.DeleteObjectsRequest(uris=uris), metadata=AUTH)
    assert list(first.deleted) == uris[:2]
    assert list(first.missing) == uris[2:]
    assert list(second.deleted) == []
    assert list(second.missing) == uris
    assert list(gcs_bucket.list_blobs()) == []


async def test_emulator_urls_download_the_object(
    storage_stub: Stub, gcs_bucket: storage.Bucket, put: Put
) -> None:
    put("videos/u/with space+plus.mp4", b"video bytes")
    before = datetime.now(UTC)
    reply = await storage_stub.SignUrls(
        pb.SignUrlsRequest(uris=[uri(gcs_bucket, "videos/u/with space+plus.mp4")], ttl_seconds=600),
        metadata=AUTH,
    )
    [url] = reply.urls
    assert (await fetch_bytes(url)) == b"video bytes"
    assert abs((reply.expire_time.ToDatetime(UTC) - before).total_seconds() - 600) < 5


async def fetch_bytes(url: str) -> bytes:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.content


def service_account_key(path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    info = {
        "type": "service_account",
        "project_id": "videojobs-test",
        "private_key_id": "test-key-1",
        "private_key": pem.decode(),
        "client_email": "storage@videojobs-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path.write_text(json.dumps(info))
    return path


async def test_a_service_account_key_signs_v4_urls_that_download(
    start_storage_service: StartStorageService, gcs_bucket: storage.Bucket, put: Put, tmp_path: Path
) -> None:
    put("videos/u/s.mp4", b"signed bytes")
    service: StorageService = await start_storage_service(
        credentials_file=service_account_key(tmp_path / "key.json"), signed_url_ttl_seconds=900
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        stub = storage_service_pb2_grpc.StorageServiceStub(channel)
        reply = await stub.SignUrls(
            pb.SignUrlsRequest(uris=[uri(gcs_bucket, "videos/u/s.mp4")]), metadata=AUTH
        )
    [url] = reply.urls
    query = httpx.URL(url).params
    assert query["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert query["X-Goog-Expires"] == "900"
    assert query["X-Goog-Credential"].startswith("storage@videojobs-test.iam.gserviceaccount.com/")
    assert len(query["X-Goog-Signature"]) == 512  # hex of a 2048-bit RSA signature
    assert (await fetch_bytes(url)) == b"signed bytes"


@pytest.mark.parametrize("ttl", [-1, 7 * 24 * 3600 + 1])
async def test_a_ttl_out_of_range_is_invalid_argument(
    storage_stub: Stub, gcs_bucket: storage.Bucket, ttl: int
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage_stub.SignUrls(
            pb.SignUrlsRequest(uris=[uri(gcs_bucket, "videos/u/s.mp4")], ttl_seconds=ttl), metadata=AUTH
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_running_serves_until_the_block_ends(
    gcs_emulator: GcsEmulator, gcs_bucket: storage.Bucket
) -> None:
    settings = storage_settings(gcs_emulator.url, gcs_bucket.name)
    async with running(settings) as service:
        await wait_serving(f"127.0.0.1:{service.port}", within=10)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = storage_service_pb2_grpc.StorageServiceStub(channel)
            reply = await stub.DeleteObjects(
                pb.DeleteObjectsRequest(uris=[uri(gcs_bucket, "videos/u/none.mp4")]), metadata=AUTH
            )
    assert list(reply.missing) == [uri(gcs_bucket, "videos/u/none.mp4")]


@pytest.mark.parametrize("signed", [False, True], ids=["plain", "v4"])
async def test_links_name_the_emulator_public_url(
    start_storage_service: StartStorageService,
    gcs_emulator: GcsEmulator,
    gcs_bucket: storage.Bucket,
    put: Put,
    tmp_path: Path,
    signed: bool,
) -> None:
    """In a compose network the emulator is http://gcs:4443, which a browser on the host cannot resolve:
    links name VIDEOJOBS_EMULATOR_PUBLIC_URL instead (here another name of the same emulator). Plain links
    download through it; signed ones (path-style) are served only for the emulator's -public-host, so
    there the signature's host is what is checked."""
    put("videos/u/p.mp4", b"public bytes")
    public = gcs_emulator.url.replace("127.0.0.1", "localhost")
    assert public != gcs_emulator.url
    key = {"credentials_file": service_account_key(tmp_path / "key.json")} if signed else {}
    service: StorageService = await start_storage_service(emulator_public_url=f"{public}/", **key)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        stub = storage_service_pb2_grpc.StorageServiceStub(channel)
        reply = await stub.SignUrls(
            pb.SignUrlsRequest(uris=[uri(gcs_bucket, "videos/u/p.mp4")]), metadata=AUTH
        )
    [url] = reply.urls
    assert url.startswith(f"{public}/")
    if signed:
        assert httpx.URL(url).params["X-Goog-SignedHeaders"] == "host"
        assert url.startswith(f"{public}/{gcs_bucket.name}/videos/u/p.mp4?X-Goog-Algorithm=GOOG4-RSA-SHA256")
    else:
        assert (await fetch_bytes(url)) == b"public bytes"


async def test_the_container_healthcheck_sees_it_serving(start_storage_service: StartStorageService) -> None:
    service = await start_storage_service()
    env = {"VIDEOJOBS_STORAGE_HOST": "0.0.0.0", "VIDEOJOBS_STORAGE_PORT": str(service.port)}
    probe = await health("storage", env)
    assert probe.returncode == 0, probe.stdout + probe.stderr
    assert f"storage at 127.0.0.1:{service.port}: SERVING" in probe.stdout
