"""StorageService over gRPC: convert the request, call the use cases (storage.py), convert the result."""

from __future__ import annotations

from storage_service import convert
from storage_service.storage import Storage
from videojobs.interceptors import Context
from videojobs.v1 import common_pb2, storage_service_pb2, storage_service_pb2_grpc


class StorageServicer(storage_service_pb2_grpc.StorageServiceServicer):
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def ResolveOutput(
        self, request: storage_service_pb2.ResolveOutputRequest, context: Context
    ) -> storage_service_pb2.StoredObject:
        return convert.stored_to_proto(await self._storage.resolve_output(list(request.uris), request.prefix))

    async def Relocate(
        self, request: storage_service_pb2.RelocateRequest, context: Context
    ) -> storage_service_pb2.StoredObject:
        result = await self._storage.relocate(
            request.source_uri,
            request.destination_key,
            delete_source=request.delete_source,
            headers=dict(request.source_headers),
        )
        return convert.stored_to_proto(result)

    async def UploadVideo(
        self, request: storage_service_pb2.UploadVideoRequest, context: Context
    ) -> storage_service_pb2.StoredObject:
        result = await self._storage.upload_video(request.data, request.destination_key, request.content_type)
        return convert.stored_to_proto(result)

    async def CreateThumbnail(
        self, request: storage_service_pb2.CreateThumbnailRequest, context: Context
    ) -> storage_service_pb2.StoredObject:
        at = request.at_seconds if request.HasField("at_seconds") else None
        result = await self._storage.thumbnail(
            request.video_uri, request.destination_key, at, request.max_width
        )
        return convert.stored_to_proto(result)

    async def ProbeVideo(
        self, request: storage_service_pb2.ProbeVideoRequest, context: Context
    ) -> common_pb2.VideoInfo:
        return convert.video_to_proto(await self._storage.probe(request.uri))

    async def DeleteObjects(
        self, request: storage_service_pb2.DeleteObjectsRequest, context: Context
    ) -> storage_service_pb2.DeleteObjectsResponse:
        deleted, missing = await self._storage.delete(list(request.uris))
        return storage_service_pb2.DeleteObjectsResponse(deleted=deleted, missing=missing)

    async def SignUrls(
        self, request: storage_service_pb2.SignUrlsRequest, context: Context
    ) -> storage_service_pb2.SignUrlsResponse:
        urls, expires = await self._storage.sign(list(request.uris), request.ttl_seconds)
        return convert.signed_to_proto(urls, expires)

    async def ListObjects(
        self, request: storage_service_pb2.ListObjectsRequest, context: Context
    ) -> storage_service_pb2.ListObjectsResponse:
        page = await self._storage.list_objects(request.prefix, request.page_size, request.page_token)
        return convert.page_to_proto(page)
