"""Thumbnail backfill: a completed job whose thumbnail could not be made keeps its video and is retried in
the background; these count the tries and keep the last error, and an index finds the jobs still missing one.
Also an index for the admin listing of every user's jobs, newest first.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("thumbnail_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column("jobs", sa.Column("thumbnail_error", sa.Text(), nullable=True))
    op.create_index(
        "ix_jobs_missing_thumbnail",
        "jobs",
        ["end_time", "id"],
        postgresql_where=sa.text(
            "state = 'COMPLETED' AND thumbnail_uri IS NULL AND video_uri IS NOT NULL AND deleted_time IS NULL"
        ),
    )
    op.create_index(
        "ix_jobs_create_time_id",
        "jobs",
        [sa.text("create_time DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("deleted_time IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_create_time_id", table_name="jobs")
    op.drop_index("ix_jobs_missing_thumbnail", table_name="jobs")
    op.drop_column("jobs", "thumbnail_error")
    op.drop_column("jobs", "thumbnail_attempts")
