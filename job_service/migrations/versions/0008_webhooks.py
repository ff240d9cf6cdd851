"""Outbound webhooks: endpoints, the delivery outbox and its attempts, and the trigger that fills the outbox.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A create's one-off `webhook_url` is an endpoint row of that job alone (job_id set), written before the
# job so that none of its events can miss it; so it has no foreign key (a create that made no job deletes
# it again).
#
# The transactional outbox: a delivery row per subscribed endpoint, written by the same INSERT that writes
# the job event, whichever code path (a step, a cancel, create_job(), retry_job(), ...) writes it, so an
# event can neither be lost nor be announced without having happened. Only events that change the job's
# state are announced: one per endpoint and event, typed by the state entered (a terminal state has its own
# type; `video.state_changed` subscribers get every change, terminal ones under their own type). The cheap
# test comes first: most users have no endpoint, and then nothing else is looked up.
OUTBOX_FUNCTION = """
CREATE FUNCTION job_events_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_user text;
    v_previous text;
    v_type text;
BEGIN
    SELECT user_id INTO v_user FROM jobs WHERE id = NEW.job_id;
    IF NOT EXISTS (
        SELECT 1 FROM webhook_endpoints WHERE user_id = v_user AND disabled_time IS NULL
    ) THEN
        RETURN NULL;
    END IF;
    SELECT state INTO v_previous FROM job_events
        WHERE job_id = NEW.job_id AND id < NEW.id ORDER BY id DESC LIMIT 1;
    IF v_previous IS NOT DISTINCT FROM NEW.state THEN
        RETURN NULL;
    END IF;
    v_type := CASE NEW.state
        WHEN 'COMPLETED' THEN 'video.completed'
        WHEN 'FAILED' THEN 'video.failed'
        WHEN 'CONTENT_VIOLATION' THEN 'video.content_violation'
        WHEN 'CANCELLED' THEN 'video.cancelled'
        ELSE 'video.state_changed'
    END;
    INSERT INTO webhook_deliveries (id, endpoint_id, job_id, event_id, event_type, event_state)
    SELECT gen_random_uuid(), e.id, NEW.job_id, NEW.id, v_type, NEW.state
    FROM webhook_endpoints e
    WHERE e.user_id = v_user AND e.disabled_time IS NULL AND (e.job_id IS NULL OR e.job_id = NEW.job_id)
        AND (v_type = ANY (e.event_types) OR 'video.state_changed' = ANY (e.event_types));
    RETURN NULL;
END $$
"""

OUTBOX_TRIGGER = """
CREATE TRIGGER job_events_webhooks AFTER INSERT ON job_events
    FOR EACH ROW EXECUTE FUNCTION job_events_webhooks()
"""


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("description", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("previous_secret", sa.Text(), nullable=True),
        sa.Column("previous_secret_expire_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_reason", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_endpoints"),
    )
    op.create_index(
        "ix_webhook_endpoints_job_id",
        "webhook_endpoints",
        ["job_id"],
        postgresql_where=sa.text("job_id IS NOT NULL"),
    )
    op.create_table(
        "webhook_signing_secrets",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_webhook_signing_secrets"),
    )
    op.create_index(
        "ix_webhook_endpoints_user_id_create_time", "webhook_endpoints", ["user_id", "create_time"]
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("endpoint_id", sa.UUID(), nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("event_state", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), server_default=sa.text("'PENDING'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("due_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_token", sa.UUID(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('PENDING', 'DELIVERED', 'FAILED')", name="ck_webhook_deliveries_state"),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name="fk_webhook_deliveries_endpoint_id_webhook_endpoints",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_webhook_deliveries_job_id_jobs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_id_event_id"),
    )
    op.create_index(
        "ix_webhook_deliveries_due_time",
        "webhook_deliveries",
        ["due_time"],
        postgresql_where=sa.text("due_time IS NOT NULL"),
    )
    op.create_index("ix_webhook_deliveries_job_id_event_id", "webhook_deliveries", ["job_id", "event_id"])
    op.create_index(
        "ix_webhook_deliveries_endpoint_id_create_time",
        "webhook_deliveries",
        ["endpoint_id", "create_time"],
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("delivery_id", sa.UUID(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("latency_seconds", sa.Float(), nullable=False),
        sa.Column("next_retry_time", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name="fk_webhook_attempts_delivery_id_webhook_deliveries",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
    )
    op.create_index("ix_webhook_attempts_delivery_id_id", "webhook_attempts", ["delivery_id", "id"])
    op.execute(OUTBOX_FUNCTION)
    op.execute(OUTBOX_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER job_events_webhooks ON job_events")
    op.execute("DROP FUNCTION job_events_webhooks")
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_signing_secrets")
    op.drop_table("webhook_endpoints")
