"""Which job of a duplicate group the clean-up keeps: COMPLETED, then in flight, then FAILED (or
CONTENT_VIOLATION), then PENDING, CANCELLED last; the oldest among equals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from job_service.domain import JobState
from job_service.duplicate_queries import GroupMember
from job_service.duplicates import keep_and_extras

START = datetime(2026, 1, 1, tzinfo=UTC)


def member(state: JobState, minutes: int) -> GroupMember:
    return GroupMember(
        group=("alice", "fingerprint", 1),
        id=uuid.uuid4(),
        user_id="alice",
        state=state,
        create_time=START + timedelta(minutes=minutes),
        provider=None,
        provider_job_id=None,
        video_uri=None,
        thumbnail_uri=None,
        prompt="a paper boat",
    )


@pytest.mark.parametrize(
    ("better", "worse"),
    [
        (JobState.COMPLETED, JobState.PROCESSING),
        (JobState.SUBMITTING, JobState.FAILED),
        (JobState.PROCESSING, JobState.FAILED),
        (JobState.FINALIZING, JobState.CONTENT_VIOLATION),
        (JobState.FAILED, JobState.PENDING),
        (JobState.CONTENT_VIOLATION, JobState.PENDING),
        (JobState.PENDING, JobState.CANCELLED),
    ],
)
def test_the_better_state_is_kept_even_when_younger(better: JobState, worse: JobState) -> None:
    older, younger = member(worse, 0), member(better, 5)

    group = keep_and_extras([older, younger])

    assert group.keep == younger
    assert group.extras == (older,)


def test_among_equal_states_the_oldest_is_kept_and_the_rest_stay_in_age_order() -> None:
    jobs = [member(JobState.FAILED, minutes) for minutes in (20, 0, 10)]
    in_flight = [member(JobState.PROCESSING, 30), member(JobState.SUBMITTING, 25)]

    failed = keep_and_extras(jobs)
    active = keep_and_extras(in_flight)

    assert failed.keep == jobs[1]
    assert failed.extras == (jobs[2], jobs[0])
    assert active.keep == in_flight[1]  # every in-flight state ranks the same: the oldest wins
