"""from_attributes and message_from_attributes: same-named attributes copied, the given fields taken as given,
a missing one refused."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from job_service.domain import StoredObject, VideoSpec
from videojobs.attributes import from_attributes, message_from_attributes
from videojobs.v1 import common_pb2


def test_copies_same_named_attributes_and_takes_the_given_fields_as_given() -> None:
    row = SimpleNamespace(uri="gs://b/v.mp4", size_bytes=7, content_type="video/mp4", reused=True, extra=1)
    stored = from_attributes(StoredObject, row, other_candidates=("gs://b/w.mp4",))
    assert stored == StoredObject("gs://b/v.mp4", 7, "video/mp4", True, ("gs://b/w.mp4",))


def test_reads_proto_fields_by_name() -> None:
    message = common_pb2.VideoSpec(prompt="a cat", duration_seconds=5, aspect_ratio="16:9", providers=["sim"])
    spec = from_attributes(VideoSpec, message, providers=tuple(message.providers))
    assert spec == VideoSpec(prompt="a cat", duration_seconds=5, aspect_ratio="16:9", providers=("sim",))


def test_a_field_the_source_lacks_is_refused_even_with_a_default() -> None:
    row = SimpleNamespace(uri="gs://b/v.mp4", size_bytes=7, content_type="video/mp4", other_candidates=())
    with pytest.raises(AttributeError, match="reused"):
        from_attributes(StoredObject, row)


def test_fills_a_message_from_same_named_attributes() -> None:
    spec = VideoSpec(
        prompt="a cat", image_uri="https://i/x.png", duration_seconds=5, providers=("sim", "fal")
    )
    message = message_from_attributes(common_pb2.VideoSpec, spec, providers=list(spec.providers))
    assert message == common_pb2.VideoSpec(
        prompt="a cat", image_uri="https://i/x.png", duration_seconds=5, providers=["sim", "fal"]
    )


def test_a_message_field_the_source_lacks_is_refused() -> None:
    with pytest.raises(AttributeError, match="duration_seconds"):
        message_from_attributes(common_pb2.VideoSpec, SimpleNamespace(prompt="a cat"), image_uri="")


def test_reads_attributes_under_a_prefix() -> None:
    settings = SimpleNamespace(
        webhook_uri="gs://b/v.mp4",
        webhook_size_bytes=7,
        webhook_content_type="video/mp4",
        webhook_reused=False,
    )
    stored = from_attributes(StoredObject, settings, source_prefix="webhook_", other_candidates=())
    assert stored == StoredObject("gs://b/v.mp4", 7, "video/mp4", False, ())
