"""Jobs, job events, daily quota counters and API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = (
    "'PENDING', 'SUBMITTING', 'PROCESSING', 'FINALIZING', "
    "'COMPLETED', 'FAILED', 'CONTENT_VIOLATION', 'CANCELLED'"
)
ACTIVE_STATES = "'FINALIZING', 'PENDING', 'PROCESSING', 'SUBMITTING'"

# CreateJob in one round trip, atomic because it is one statement. The per-user lock serializes one user's
# creates, so the replay check, the active-job count and the quota take cannot interleave with another
# create of the same user; the unique index stays as the last guard. On a refusal nothing is written.
# outcome: 'created' | 'replayed' | 'daily_limit' | 'active_limit'; job: the new or existing row.
CREATE_JOB_FUNCTION = f"""
CREATE FUNCTION create_job(
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

    SELECT count(*) INTO active FROM jobs WHERE user_id = p_user_id AND state IN ({ACTIVE_STATES});
    IF active >= p_max_active THEN
        outcome := 'active_limit';
        RETURN;
    END IF;

    -- Conditional upsert: the row lock makes check-and-increment one step, never read-then-write.
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

    INSERT INTO jobs (id, user_id, client_request_id, spec, state, quota_day)
    VALUES (p_id, p_user_id, p_client_request_id, p_spec, 'PENDING', p_day)
    RETURNING * INTO job;
    INSERT INTO job_events (job_id, type, state) VALUES (p_id, 'created', 'PENDING');
    outcome := 'created';
    active := active + 1;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("client_request_id", sa.Text(), nullable=True),
        sa.Column("spec", postgresql.JSONB(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("provider", sa.Text(), nullable=True),
        sa.Column("provider_job_id", sa.Text(), nullable=True),
        sa.Column("video_uri", sa.Text(), nullable=True),
        sa.Column("thumbnail_uri", sa.Text(), nullable=True),
        sa.Column("video", postgresql.JSONB(), nullable=True),
        sa.Column("error", postgresql.JSONB(), nullable=True),
        sa.Column("quota_day", sa.Date(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_time", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"state IN ({STATES})", name="ck_jobs_state"),
        sa.CheckConstraint("attempt >= 1", name="ck_jobs_attempt"),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index(
        "uq_jobs_user_id_client_request_id",
        "jobs",
        ["user_id", "client_request_id"],
        unique=True,
        postgresql_where=sa.text("client_request_id IS NOT NULL"),
    )
    op.create_index(
        "ix_jobs_user_id_create_time_id",
        "jobs",
        ["user_id", sa.text("create_time DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("deleted_time IS NULL"),
    )
    op.create_index(
        "ix_jobs_user_id_active", "jobs", ["user_id"], postgresql_where=sa.text(f"state IN ({ACTIVE_STATES})")
    )
    op.execute(
        """
        CREATE FUNCTION jobs_touch_update_time() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.update_time := now();
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER jobs_touch_update_time BEFORE UPDATE ON jobs "
        "FOR EACH ROW EXECUTE FUNCTION jobs_touch_update_time()"
    )

    op.create_table(
        "job_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("job_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("detail", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_events_job_id_jobs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_job_events"),
    )
    op.create_index("ix_job_events_job_id_id", "job_events", ["job_id", "id"])

    op.create_table(
        "quota_usage",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.CheckConstraint("used >= 0", name="ck_quota_usage_used"),
        sa.PrimaryKeyConstraint("user_id", "day", name="pk_quota_usage"),
    )

    op.execute(CREATE_JOB_FUNCTION)

    op.create_table(
        "api_keys",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("revoked_time", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('user', 'admin')", name="ck_api_keys_role"),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.execute("DROP FUNCTION create_job")
    op.drop_table("quota_usage")
    op.drop_table("job_events")
    op.execute("DROP TRIGGER jobs_touch_update_time ON jobs")
    op.execute("DROP FUNCTION jobs_touch_update_time()")
    op.drop_table("jobs")
