"""Every I/O thread can hold a connection to GCS: no connection is dropped and reopened under load."""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest
from google.cloud import storage

from tests.support.storage import AUTH, Put, StartStorageService, start_slow_storage, uri
from tests.support.videos import make_mp4
from videojobs.v1 import storage_service_pb2 as pb
from videojobs.v1 import storage_service_pb2_grpc
from videojobs_cli.gcs_emulator import GcsEmulator


async def test_sixteen_threads_share_the_session_without_dropping_connections(
    start_storage_service: StartStorageService,
    gcs_emulator: GcsEmulator,
    gcs_bucket: storage.Bucket,
    put: Put,
    caplog: pytest.LogCaptureFixture,
) -> None:
    put("videos/u/a.mp4", make_mp4(160, 90, 1.0, 10))
    # Every read answered late, so all sixteen threads hold a connection at the same time.
    slow = start_slow_storage(gcs_emulator.url, delay=0.3)
    try:
        service = await start_storage_service(storage_emulator_host=slow.url, io_threads=16)
        caplog.set_level(logging.WARNING, logger="urllib3.connectionpool")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = storage_service_pb2_grpc.StorageServiceStub(channel)
            request = pb.ProbeVideoRequest(uri=uri(gcs_bucket, "videos/u/a.mp4"))
            probes = await asyncio.gather(*(stub.ProbeVideo(request, metadata=AUTH) for _ in range(32)))
    finally:
        slow.stop()
    assert {probe.width for probe in probes} == {160}
    assert not [r.getMessage() for r in caplog.records if "Connection pool is full" in r.getMessage()]
