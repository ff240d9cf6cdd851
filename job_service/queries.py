"""Named SQL for the hot paths, written once and prepared by the driver."""

from __future__ import annotations

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB

from job_service.models import ACTIVE_STATES_SQL

# The create_job() function (see migration 0001) does CreateJob atomically in one round trip.
CREATE_JOB = text(
    """
    SELECT r.outcome, r.used, r.active, (r.job).*
    FROM create_job(
        CAST(:id AS uuid), CAST(:user_id AS text), CAST(:client_request_id AS text), :spec,
        CAST(:day AS date), CAST(:daily_limit AS integer), CAST(:max_active AS integer)
    ) AS r
    """
).bindparams(bindparam("spec", type_=JSONB))

USAGE = text(
    f"""
    SELECT
        coalesce((SELECT used FROM quota_usage WHERE user_id = :user_id AND day = :day), 0) AS used,
        (SELECT count(*) FROM jobs WHERE user_id = :user_id AND state IN ({ACTIVE_STATES_SQL})) AS active
    """
)
