"""Every RPC answers bad input with INVALID_ARGUMENT and the offending field, and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.cloud import storage

from tests.support.grpc_client import failure
from tests.support.storage import AUTH
from videojobs.v1 import storage_service_pb2 as pb
from videojobs.v1 import storage_service_pb2_grpc

if TYPE_CHECKING:
    Stub = storage_service_pb2_grpc.StorageServiceAsyncStub

Case = tuple[str, Callable[[str], Any], str]


def relocate(source: str, destination: str, **fields: Any) -> Callable[[str], pb.RelocateRequest]:
    """A RelocateRequest for the test's bucket: `{b}` in `source` stands for the bucket's name."""
    return lambda b: pb.RelocateRequest(source_uri=source.format(b=b), destination_key=destination, **fields)


OURS = "gs://{b}/in/a.mp4"  # a source in our bucket: only the destination is at fault
CASES: list[Case] = [
    ("Relocate", relocate(OURS, "../etc/x"), "destination_key"),
    ("Relocate", relocate(OURS, "/abs.mp4"), "destination_key"),
    ("Relocate", relocate(OURS, "a//b.mp4"), "destination_key"),
    ("Relocate", relocate(OURS, "v/./b.mp4"), "destination_key"),
    ("Relocate", relocate(OURS, ""), "destination_key"),
    ("Relocate", relocate(OURS, "v/\nx.mp4"), "destination_key"),
    ("Relocate", relocate(OURS, "gs://other-bucket/v.mp4"), "destination_key"),
    ("Relocate", relocate(OURS, "https://x.test/v.mp4"), "destination_key"),
    ("Relocate", relocate("gs://other-bucket/a.mp4", "v/a.mp4"), "source_uri"),
    ("Relocate", relocate("gs://{b}/../a.mp4", "v/a.mp4"), "source_uri"),
    ("Relocate", relocate("", "v/a.mp4"), "source_uri"),
    ("Relocate", relocate("gs://{b}/v/a.mp4", "v/a.mp4"), "destination_key"),  # onto itself
    (
        "Relocate",
        relocate("https://cdn.example.com/a.mp4", "v/a.mp4", source_headers={"x-key": "a\r\nb"}),
        "source_headers['x-key']",
    ),
    ("ResolveOutput", lambda b: pb.ResolveOutputRequest(), "uris"),
    ("ResolveOutput", lambda b: pb.ResolveOutputRequest(uris=["s3://x/y.mp4"]), "uris[0]"),
    ("ProbeVideo", lambda b: pb.ProbeVideoRequest(uri="https://example.com/a.mp4"), "uri"),
    ("ProbeVideo", lambda b: pb.ProbeVideoRequest(uri=f"gs://{b}/"), "uri"),
    (
        "CreateThumbnail",
        lambda b: pb.CreateThumbnailRequest(video_uri=f"gs://{b}/v.mp4", destination_key="t/../../x.jpg"),
        "destination_key",
    ),
    (
        "CreateThumbnail",
        lambda b: pb.CreateThumbnailRequest(
            video_uri=f"gs://{b}/v.mp4", destination_key="t/x.jpg", max_width=5
        ),
        "max_width",
    ),
    (
        "CreateThumbnail",
        lambda b: pb.CreateThumbnailRequest(
            video_uri=f"gs://{b}/v.mp4", destination_key="t/x.jpg", at_seconds=-1
        ),
        "at_seconds",
    ),
    (
        "CreateThumbnail",
        lambda b: pb.CreateThumbnailRequest(video_uri="gs://nope-bucket/v.mp4", destination_key="t/x.jpg"),
        "video_uri",
    ),
    ("DeleteObjects", lambda b: pb.DeleteObjectsRequest(), "uris"),
    (
        "DeleteObjects",
        lambda b: pb.DeleteObjectsRequest(uris=[f"gs://{b}/ok.mp4", "gs://other-bucket/x.mp4"]),
        "uris[1]",
    ),
    ("SignUrls", lambda b: pb.SignUrlsRequest(), "uris"),
    (
        "SignUrls",
        lambda b: pb.SignUrlsRequest(uris=[f"gs://{b}/a.mp4"], ttl_seconds=8 * 24 * 3600),
        "ttl_seconds",
    ),
    ("ListObjects", lambda b: pb.ListObjectsRequest(prefix="videos/../x"), "prefix"),
    ("ListObjects", lambda b: pb.ListObjectsRequest(prefix="/videos/"), "prefix"),
    ("ListObjects", lambda b: pb.ListObjectsRequest(prefix="videos/\x00"), "prefix"),
    ("ListObjects", lambda b: pb.ListObjectsRequest(page_size=1001), "page_size"),
    ("ListObjects", lambda b: pb.ListObjectsRequest(page_size=-1), "page_size"),
    ("ListObjects", lambda b: pb.ListObjectsRequest(page_token="not a token"), "page_token"),
]


@pytest.mark.parametrize(("method", "make", "field"), CASES)
async def test_bad_input_names_the_field(
    storage_stub: Stub, gcs_bucket: storage.Bucket, method: str, make: Callable[[str], Any], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await getattr(storage_stub, method)(make(gcs_bucket.name), metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure(caught.value).fields == [field]
    assert list(gcs_bucket.list_blobs()) == []


async def test_calls_without_the_internal_token_are_refused(
    storage_stub: Stub, gcs_bucket: storage.Bucket
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage_stub.SignUrls(pb.SignUrlsRequest(uris=[f"gs://{gcs_bucket.name}/a.mp4"]))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
