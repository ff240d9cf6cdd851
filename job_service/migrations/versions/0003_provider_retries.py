"""Provider retries: how many times the current provider was asked again after a retryable failure.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _revision_0002() -> ModuleType:
    # Revision files are loaded by path (their names start with a digit), so load 0002 the same way.
    path = Path(__file__).with_name("0002_orchestration.py")
    spec = importlib.util.spec_from_file_location("videojobs_migration_0002", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# 0002's retry_job(), with a new attempt also starting with no provider retries.
_RETRY_RESETS = "provider_index = 0, step_attempts = 0,"


def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("provider_retries", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    retry_job = _revision_0002().RETRY_JOB_FUNCTION
    assert _RETRY_RESETS in retry_job
    retry_job = retry_job.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION").replace(
        _RETRY_RESETS, f"{_RETRY_RESETS} provider_retries = 0,"
    )
    op.execute(retry_job)


def downgrade() -> None:
    op.execute(_revision_0002().RETRY_JOB_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.drop_column("jobs", "provider_retries")
