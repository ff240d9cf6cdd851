"""Waiting for our own services: which one a job's step is waiting for, and how many times in a row it found
it out of reach. Kept apart from step_attempts, because our outages must never spend a provider's attempts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("waiting_for", sa.Text(), nullable=True))
    op.add_column("jobs", sa.Column("peer_waits", sa.Integer(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    op.drop_column("jobs", "peer_waits")
    op.drop_column("jobs", "waiting_for")
