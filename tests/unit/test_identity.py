"""User ids: what is accepted, and the one object-key segment every module derives from an id."""

from __future__ import annotations

import re

import pytest

from videojobs.identity import from_metadata, key_segment, metadata, user_id_problem

IDS = [
    "alice",
    "Alice",
    "https://idp.example.com/users/42",
    "https://idp.example.com/users/43",
    "tenant//user",
    "a/../b",
    "..",
    ".",
    "josé",
    "ålice☃",
    "☃",
    "user with spaces",
    "x" * 200,
]


@pytest.mark.parametrize("user_id", IDS)
def test_a_key_segment_is_one_safe_path_segment(user_id: str) -> None:
    segment = key_segment(user_id)
    assert user_id_problem(user_id) is None
    assert re.fullmatch(r"[0-9a-f]{16}(-[a-z0-9]+(-[a-z0-9]+)*)?", segment), segment
    assert len(segment) <= 57
    assert key_segment(user_id) == segment  # stable: the sweep recomputes it


def test_different_ids_get_different_segments_and_stay_readable() -> None:
    assert len({key_segment(user_id) for user_id in IDS}) == len(IDS)
    assert key_segment("alice").endswith("-alice")
    assert key_segment("https://idp.example.com/users/42").endswith("-https-idp-example-com-users-42")
    assert key_segment("josé").endswith("-jose")


@pytest.mark.parametrize(
    ("user_id", "problem"),
    [
        ("", "empty"),
        ("x" * 201, "at most 200"),
        ("tab\tuser", "control"),
        ("nul\x00", "control"),
        ("del\x7f", "control"),
        (" alice", "whitespace"),
        ("lone\udc80surrogate", "Unicode"),
    ],
)
def test_ids_that_cannot_be_carried_are_refused(user_id: str, problem: str) -> None:
    assert problem in (user_id_problem(user_id) or "")


def test_metadata_round_trips_through_the_binary_header_and_reads_the_plain_one() -> None:
    name, value = metadata("ålice☃")
    assert name.endswith("-bin")
    assert from_metadata({name: value}) == "ålice☃"
    assert from_metadata({"x-user-id": "bob"}) == "bob"
    assert from_metadata({name: value, "x-user-id": "bob"}) == "ålice☃"
    assert from_metadata({}) == ""
