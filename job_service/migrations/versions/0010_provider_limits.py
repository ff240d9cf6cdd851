"""Provider limits shared by every replica: the submissions of the last window, a provider's back-off after
a 429, since when a job has been waiting for a slot or answered 429 (limit_queries.py reads and writes
them); and how long generations took, for the poll schedule (generation_time_queries.py).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True))
    op.add_column("jobs", sa.Column("throttled_since", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_jobs_due_time_started",
        "jobs",
        ["due_time"],
        postgresql_where=sa.text("due_time IS NOT NULL AND state <> 'PENDING'"),
    )
    op.create_table(
        "provider_submits",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("submit_time", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_provider_submits"),
    )
    op.create_index(
        "ix_provider_submits_provider_submit_time", "provider_submits", ["provider", "submit_time"]
    )
    op.create_table(
        "provider_backoff",
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("throttles", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("spacing_seconds", sa.Float(), nullable=False),
        sa.Column("last_throttle", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_submit", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("provider", name="pk_provider_backoff"),
    )
    op.create_table(
        "generation_times",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("finish_time", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_generation_times"),
    )
    op.create_index(
        "ix_generation_times_provider_model_finish_time",
        "generation_times",
        ["provider", "model", "finish_time"],
    )


def downgrade() -> None:
    op.drop_index("ix_generation_times_provider_model_finish_time", table_name="generation_times")
    op.drop_table("generation_times")
    op.drop_table("provider_backoff")
    op.drop_index("ix_provider_submits_provider_submit_time", table_name="provider_submits")
    op.drop_table("provider_submits")
    op.drop_index("ix_jobs_due_time_started", table_name="jobs")
    op.drop_column("jobs", "throttled_since")
    op.drop_column("jobs", "waiting_since")
