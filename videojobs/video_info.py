"""What probing a video found (common.proto's VideoInfo), as one value for every service.

storage_service measures it (StorageService.Probe), job_service keeps it on the job and the gateway shows it.
The value mirrors the message field for field, so both conversions copy by field name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from videojobs.attributes import from_attributes
from videojobs.v1 import common_pb2


@dataclass(frozen=True)
class VideoInfo:
    duration_seconds: float
    width: int
    height: int
    size_bytes: int
    content_type: str
    codec: str = ""

    def to_proto(self) -> common_pb2.VideoInfo:
        return common_pb2.VideoInfo(**asdict(self))

    @classmethod
    def from_proto(cls, message: common_pb2.VideoInfo) -> VideoInfo:
        return from_attributes(cls, message)
