"""An index for the 429s of the last hour per provider (`videojobs admin queue`), which otherwise
scanned every job event ever written.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_job_events_throttled_provider_create_time",
        "job_events",
        [sa.text("(detail ->> 'provider')"), "create_time"],
        postgresql_where=sa.text("type = 'throttled'"),
    )


def downgrade() -> None:
    op.drop_index("ix_job_events_throttled_provider_create_time", table_name="job_events")
