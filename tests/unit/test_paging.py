from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from job_service import paging
from job_service.domain import Cursor, JobState
from videojobs.errors import InvalidArgument


def test_tokens_round_trip_and_are_opaque() -> None:
    cursor = Cursor(datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=UTC), uuid.uuid4())
    token = paging.encode(cursor, {JobState.PENDING})
    assert str(cursor.id) not in token
    assert paging.decode(token, {JobState.PENDING}) == cursor


def test_a_token_is_bound_to_its_filter() -> None:
    token = paging.encode(Cursor(datetime.now(UTC), uuid.uuid4()), set())
    with pytest.raises(InvalidArgument):
        paging.decode(token, {JobState.FAILED})


@pytest.mark.parametrize("size", [0, 1, 20, 100, 101, 5000])
def test_page_size_defaults_to_twenty_and_caps_at_a_hundred(size: int) -> None:
    assert paging.page_size(size) == min(size or 20, 100)
