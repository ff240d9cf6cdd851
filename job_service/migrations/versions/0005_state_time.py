"""When a job entered its current state, kept by a trigger (so no code path can forget it): the
"time per state" metric is the difference between two of these, both from the database's clock.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column("state_time", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.execute("UPDATE jobs SET state_time = update_time")
    op.execute(
        """
        CREATE FUNCTION jobs_touch_state_time() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.state IS DISTINCT FROM OLD.state THEN
                NEW.state_time := now();
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER jobs_touch_state_time BEFORE UPDATE ON jobs "
        "FOR EACH ROW EXECUTE FUNCTION jobs_touch_state_time()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER jobs_touch_state_time ON jobs")
    op.execute("DROP FUNCTION jobs_touch_state_time()")
    op.drop_column("jobs", "state_time")
