"""What a provider was actually asked for (common.proto's EffectiveSpec), as one value for every service.

provider_service decides it when it maps a spec onto a model, job_service keeps it on the job, the gateway
shows it. The parameters travel as a google.protobuf.Struct, which keeps every number as a double; the values
we send are strings, booleans and whole numbers (a duration of 5 is sent as 5, not 5.0), so whole doubles
come back as integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2

from videojobs.attributes import from_attributes, message_from_attributes
from videojobs.v1 import common_pb2


@dataclass(frozen=True)
class EffectiveSpec:
    provider: str
    model: str
    mode: str  # "text_to_video" or "image_to_video"
    duration_seconds: int
    aspect_ratio: str  # empty when the model frames the video like its image
    audio: bool | None = None  # None: the model has no audio switch
    parameters: Mapping[str, Any] = field(default_factory=dict)  # as sent, without prompt and image

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "parameters": dict(self.parameters)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EffectiveSpec:
        return cls(**data)

    def to_proto(self) -> common_pb2.EffectiveSpec:
        parameters = struct_pb2.Struct()
        parameters.update(dict(self.parameters))
        return message_from_attributes(common_pb2.EffectiveSpec, self, parameters=parameters)

    @classmethod
    def from_proto(cls, message: common_pb2.EffectiveSpec) -> EffectiveSpec:
        return from_attributes(
            cls,
            message,
            audio=message.audio if message.HasField("audio") else None,
            parameters={
                key: _whole(value) for key, value in json_format.MessageToDict(message.parameters).items()
            },
        )


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value
