"""StorageService over gRPC: convert the request, call the storage domain, convert the result."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import timestamp_pb2

from storage_service.objects import StoredObject, VideoInfo
from storage_service.storage import Storage
from videojobs.v1 import common_pb2, storage_service_pb2, storage_service_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


def stored_to_proto(obj: StoredObject) -> storage_service_pb2.StoredObject:
    return storage_service_pb2.StoredObject(
        uri=obj.ref.uri,
        size_bytes=obj.size_bytes,
        content_type=obj.content_type,
        crc32c=obj.crc32c,
        generation=obj.generation,
        reused=obj.reused,
        other_candidates=list(obj.other_candidates),
    )


def video_to_proto(info: VideoInfo) -> common_pb2.VideoInfo:
    return common_pb2.VideoInfo(
        duration_seconds=info.duration_seconds,
        width=info.width,
        height=info.height,
        size_bytes=info.size_bytes,
        content_type=info.content_type,
        codec=info.codec,
    )


class StorageServicer(storage_service_pb2_grpc.StorageServiceServicer):
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def ResolveOutput(
        self, request: storage_service_pb2.ResolveOutputRequest, context: Context
    ) -> storage_service_pb2.StoredObject:
        return stored_to_proto(await self._storage.resolve_output(list(request.uris), request.prefix))

    async def Relocate(
        self, request: storage_service_pb2.RelocateRequest, context: Context
    ) -> storage_service_pb2.StoredObject:
        result = await self._storage.relocate(
            request.source_uri,
            request.destination_key,
            delete_source=request.delete_source,
            headers=dict(request.source_headers),
        )
        return stored_to_proto(result)

    async def CreateThumbnail(
        self, request: storage_service_pb2.CreateThumbnailRequest, context: Context
    ) -> storage_service_pb2.StoredObject:
        at = request.at_seconds if request.HasField("at_seconds") else None
        result = await self._storage.thumbnail(
            request.video_uri, request.destination_key, at, request.max_width
        )
        return stored_to_proto(result)

    async def ProbeVideo(
        self, request: storage_service_pb2.ProbeVideoRequest, context: Context
    ) -> common_pb2.VideoInfo:
        return video_to_proto(await self._storage.probe(request.uri))

    async def DeleteObjects(
        self, request: storage_service_pb2.DeleteObjectsRequest, context: Context
    ) -> storage_service_pb2.DeleteObjectsResponse:
        deleted, missing = await self._storage.delete(list(request.uris))
        return storage_service_pb2.DeleteObjectsResponse(deleted=deleted, missing=missing)

    async def SignUrls(
        self, request: storage_service_pb2.SignUrlsRequest, context: Context
    ) -> storage_service_pb2.SignUrlsResponse:
        urls, expires = await self._storage.sign(list(request.uris), request.ttl_seconds)
        expire_time = timestamp_pb2.Timestamp()
        expire_time.FromDatetime(expires)
        return storage_service_pb2.SignUrlsResponse(urls=urls, expire_time=expire_time)
