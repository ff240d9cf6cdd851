"""Named SQL for the hot paths, written once and prepared by the driver."""

from __future__ import annotations

from sqlalchemy import text

from job_service.tables import ACTIVE_STATES_SQL

# The create_job() function (migrations 0001/0002) does CreateJob atomically in one round trip. It runs on
# the driver pool, prepared, returning only what a Job needs: it is the one statement on the hot path.
JOB_COLUMNS = (
    "id", "user_id", "client_request_id", "spec", "state", "attempt", "provider", "provider_job_id",
    "video_uri", "thumbnail_uri", "video", "error", "create_time", "update_time", "end_time",
)  # fmt: skip
CREATE_JOB = f"""
    SELECT r.outcome, r.used, r.active, {", ".join(f"(r.job).{column}" for column in JOB_COLUMNS)}
    FROM create_job(
        %(id)s::uuid, %(user_id)s::text, %(client_request_id)s::text, %(spec)s::jsonb,
        %(day)s::date, %(daily_limit)s::integer, %(max_active)s::integer
    ) AS r
"""

USAGE = text(
    f"""
    SELECT
        coalesce((SELECT used FROM quota_usage WHERE user_id = :user_id AND day = :day), 0) AS used,
        (SELECT count(*) FROM jobs WHERE user_id = :user_id AND state IN ({ACTIVE_STATES_SQL})) AS active
    """
)
