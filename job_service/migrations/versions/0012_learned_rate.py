"""The submission rate a provider's 429s taught us (shared by every replica): which job each counted
submission was for, so a refused one leaves the count, and on the provider's back-off row the rate learned,
since when it holds, and how many quiet windows the next step up waits for.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("provider_submits", sa.Column("job_id", postgresql.UUID(as_uuid=True), nullable=True))
    op.add_column("provider_backoff", sa.Column("learned_rate", sa.Integer(), nullable=True))
    op.add_column("provider_backoff", sa.Column("rate_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "provider_backoff",
        sa.Column("probe_windows", sa.Integer(), server_default=sa.text("4"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("provider_backoff", "probe_windows")
    op.drop_column("provider_backoff", "rate_time")
    op.drop_column("provider_backoff", "learned_rate")
    op.drop_column("provider_submits", "job_id")
