"""Orchestration: scheduling and lease columns, the due index, event notifications, retry_job().

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_STATES = "'FINALIZING', 'PENDING', 'PROCESSING', 'SUBMITTING'"

# The quota rule, shared by create_job() and retry_job(); the caller holds the per-user lock, so counting
# active jobs and then taking a unit cannot interleave with another create of the same user. The daily unit
# is a conditional upsert (the row lock makes check-and-increment one step, never read-then-write).
# outcome: 'taken' | 'active_limit' | 'daily_limit'; nothing is written unless 'taken'.
TAKE_QUOTA_UNIT_FUNCTION = f"""
CREATE FUNCTION take_quota_unit(
    p_user_id text, p_day date, p_daily_limit integer, p_max_active integer,
    OUT outcome text, OUT used integer, OUT active integer
) LANGUAGE plpgsql AS $$
BEGIN
    SELECT count(*) INTO active FROM jobs WHERE user_id = p_user_id AND state IN ({ACTIVE_STATES});
    IF active >= p_max_active THEN
        outcome := 'active_limit';
        RETURN;
    END IF;

    IF p_daily_limit > 0 THEN
        INSERT INTO quota_usage AS q (user_id, day, used) VALUES (p_user_id, p_day, 1)
        ON CONFLICT (user_id, day) DO UPDATE SET used = q.used + 1 WHERE q.used < p_daily_limit
        RETURNING q.used INTO used;
    END IF;
    IF used IS NULL THEN
        SELECT coalesce(max(q.used), 0) INTO used
        FROM quota_usage q WHERE q.user_id = p_user_id AND q.day = p_day;
        outcome := 'daily_limit';
        RETURN;
    END IF;
    outcome := 'taken';
END
$$
"""

# Same shape as in 0001, the quota rule now in take_quota_unit(); a new job is due at once.
CREATE_JOB_FUNCTION = """
CREATE OR REPLACE FUNCTION create_job(
    p_id uuid, p_user_id text, p_client_request_id text, p_spec jsonb, p_day date,
    p_daily_limit integer, p_max_active integer,
    OUT outcome text, OUT used integer, OUT active integer, OUT job jobs
) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_user_id, 0));

    IF p_client_request_id IS NOT NULL THEN
        SELECT * INTO job FROM jobs WHERE user_id = p_user_id AND client_request_id = p_client_request_id;
        IF FOUND THEN
            outcome := 'replayed';
            RETURN;
        END IF;
    END IF;

    SELECT t.outcome, t.used, t.active INTO outcome, used, active
    FROM take_quota_unit(p_user_id, p_day, p_daily_limit, p_max_active) AS t;
    IF outcome <> 'taken' THEN
        RETURN;
    END IF;

    INSERT INTO jobs (id, user_id, client_request_id, spec, state, quota_day, due_time)
    VALUES (p_id, p_user_id, p_client_request_id, p_spec, 'PENDING', p_day, now())
    RETURNING * INTO job;
    INSERT INTO job_events (job_id, type, state) VALUES (p_id, 'created', 'PENDING');
    outcome := 'created';
    active := active + 1;
END
$$
"""

# RetryJob: a FAILED or CANCELLED job starts a new attempt under the same id, taking a quota unit exactly
# as a create does (same per-user lock, same active-job and daily checks). Nothing is written on refusal.
# outcome: 'retried' | 'not_found' | 'not_retryable' | 'daily_limit' | 'active_limit'
RETRY_JOB_FUNCTION = """
CREATE FUNCTION retry_job(
    p_id uuid, p_user_id text, p_day date, p_daily_limit integer, p_max_active integer,
    OUT outcome text, OUT used integer, OUT active integer, OUT job jobs
) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_user_id, 0));

    SELECT * INTO job FROM jobs WHERE id = p_id AND user_id = p_user_id AND deleted_time IS NULL FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF job.state NOT IN ('FAILED', 'CANCELLED') THEN
        outcome := 'not_retryable';
        RETURN;
    END IF;

    SELECT t.outcome, t.used, t.active INTO outcome, used, active
    FROM take_quota_unit(p_user_id, p_day, p_daily_limit, p_max_active) AS t;
    IF outcome <> 'taken' THEN
        RETURN;
    END IF;

    UPDATE jobs SET
        state = 'PENDING', attempt = attempt + 1, quota_day = p_day,
        provider = NULL, provider_job_id = NULL, provider_index = 0, step_attempts = 0,
        unknown_submits = 0, poll_count = 0, provider_result = NULL, provider_news = NULL,
        video_uri = NULL, thumbnail_uri = NULL, video = NULL, error = NULL, end_time = NULL,
        due_time = now(), attempt_time = now(), locked_until = NULL, lease_token = NULL
    WHERE id = p_id
    RETURNING * INTO job;
    INSERT INTO job_events (job_id, type, state, message)
    VALUES (p_id, 'retried', 'PENDING', 'attempt ' || job.attempt);
    outcome := 'retried';
END
$$
"""

# Events wake whoever listens: WatchJob streams and idle workers. Payload: "<job id> <event id> <type>".
# Not 'created': nobody can watch a job before it exists (a watcher reads the current state first), and
# at thousands of creates a second a notice per create costs every replica CPU and serializes commits on
# the notify queue, to start a job at most one idle poll (VIDEOJOBS_IDLE_POLL_SECONDS) sooner.
NOTIFY_FUNCTION = """
CREATE FUNCTION job_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.type <> 'created' THEN
        PERFORM pg_notify('job_events', NEW.job_id::text || ' ' || NEW.id::text || ' ' || NEW.type);
    END IF;
    RETURN NULL;
END $$
"""


def _initial_revision() -> ModuleType:
    # Revision files are loaded by path (their names start with a digit), so load 0001 the same way.
    path = Path(__file__).with_name("0001_initial.py")
    spec = importlib.util.spec_from_file_location("videojobs_migration_0001", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.add_column("jobs", sa.Column("due_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("jobs", sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("jobs", sa.Column("lease_token", postgresql.UUID(as_uuid=True), nullable=True))
    op.add_column(
        "jobs", sa.Column("provider_index", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column(
        "jobs", sa.Column("step_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column(
        "jobs", sa.Column("unknown_submits", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column("jobs", sa.Column("poll_count", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column("jobs", sa.Column("provider_result", postgresql.JSONB(), nullable=True))
    op.add_column("jobs", sa.Column("provider_news", postgresql.JSONB(), nullable=True))
    op.add_column(
        "jobs",
        sa.Column("attempt_time", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.execute(f"UPDATE jobs SET due_time = now() WHERE state IN ({ACTIVE_STATES})")
    op.create_index(
        "ix_jobs_due_time", "jobs", ["due_time"], postgresql_where=sa.text("due_time IS NOT NULL")
    )
    op.create_index(
        "ix_jobs_provider_provider_job_id",
        "jobs",
        ["provider", "provider_job_id"],
        postgresql_where=sa.text("provider_job_id IS NOT NULL"),
    )
    op.execute(TAKE_QUOTA_UNIT_FUNCTION)
    op.execute(CREATE_JOB_FUNCTION)
    op.execute(RETRY_JOB_FUNCTION)
    op.execute(NOTIFY_FUNCTION)
    op.execute(
        "CREATE TRIGGER job_events_notify AFTER INSERT ON job_events "
        "FOR EACH ROW EXECUTE FUNCTION job_events_notify()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER job_events_notify ON job_events")
    op.execute("DROP FUNCTION job_events_notify()")
    op.execute("DROP FUNCTION retry_job")
    op.execute("DROP FUNCTION create_job")
    op.execute("DROP FUNCTION take_quota_unit")
    op.execute(_initial_revision().CREATE_JOB_FUNCTION)
    op.drop_index("ix_jobs_provider_provider_job_id", table_name="jobs")
    op.drop_index("ix_jobs_due_time", table_name="jobs")
    for column in (
        "attempt_time", "provider_news", "provider_result", "poll_count", "unknown_submits",
        "step_attempts", "provider_index", "lease_token", "locked_until", "due_time",
    ):  # fmt: skip
        op.drop_column("jobs", column)
