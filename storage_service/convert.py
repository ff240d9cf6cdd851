"""Protos out of the storage_service domain (domain.py); the only module that converts them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.protobuf import timestamp_pb2

from storage_service.domain import StoredObject, VideoInfo
from storage_service.listing import ObjectPage
from videojobs.v1 import common_pb2, storage_service_pb2


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
    return info.to_proto()


def signed_to_proto(urls: Sequence[str], expires: datetime) -> storage_service_pb2.SignUrlsResponse:
    expire_time = timestamp_pb2.Timestamp()
    expire_time.FromDatetime(expires)
    return storage_service_pb2.SignUrlsResponse(urls=urls, expire_time=expire_time)


def page_to_proto(page: ObjectPage) -> storage_service_pb2.ListObjectsResponse:
    reply = storage_service_pb2.ListObjectsResponse(next_page_token=page.next_page_token)
    for obj in page.objects:
        listed = reply.objects.add(
            uri=obj.ref.uri, name=obj.ref.name, size_bytes=obj.size_bytes, content_type=obj.content_type
        )
        if obj.update_time is not None:
            listed.update_time.FromDatetime(obj.update_time)
    return reply
