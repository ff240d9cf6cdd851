"""Duplicates without a key: the spec fingerprint, the opt-out flag, and create_job() matching on them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_STATES = "'FINALIZING', 'PENDING', 'PROCESSING', 'SUBMITTING'"

# Whitespace as Python's str.split() sees it, spelled out so the result never depends on the server's locale.
_SPACE = r"[[:space:]\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"

# What makes two requests "the same video": the normalized spec (defaults already filled in by JobService),
# with the prompt's runs of whitespace collapsed and its ends trimmed. One definition, in the database, so
# the generated column covers rows written before this revision and the clean-up sees what creates see.
SPEC_FINGERPRINT_FUNCTION = f"""
CREATE FUNCTION spec_fingerprint(p_spec jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(jsonb_build_array(
        regexp_replace(
            regexp_replace(coalesce(p_spec->>'prompt', ''), '^{_SPACE}+|{_SPACE}+$', '', 'g'),
            '{_SPACE}+', ' ', 'g'),
        coalesce(p_spec->>'image_uri', ''),
        coalesce((p_spec->>'duration_seconds')::integer, 0),
        coalesce(p_spec->>'aspect_ratio', ''),
        coalesce(p_spec->>'model', ''),
        coalesce(p_spec->'providers', '[]'::jsonb)
    )::text, 'UTF8')), 'hex')
$$
"""

# As in 0002 (0003 to 0005 left it alone), plus: a create without a key first looks, under the same
# per-user lock, for one of the user's jobs with the same fingerprint that is unfinished or was created
# within the window, and returns it (outcome 'duplicate', nothing written, no quota used) unless the request
# allows duplicates.
# outcome: 'created' | 'replayed' | 'duplicate' | 'daily_limit' | 'active_limit'.
CREATE_JOB_FUNCTION = f"""
CREATE FUNCTION create_job(
    p_id uuid, p_user_id text, p_client_request_id text, p_spec jsonb, p_day date,
    p_daily_limit integer, p_max_active integer, p_allow_duplicate boolean, p_dedupe_window_seconds integer,
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
    ELSIF NOT p_allow_duplicate THEN
        SELECT * INTO job FROM jobs
        WHERE user_id = p_user_id AND spec_fingerprint = spec_fingerprint(p_spec) AND deleted_time IS NULL
          AND (state IN ({ACTIVE_STATES})
               OR create_time > now() - make_interval(secs => p_dedupe_window_seconds))
        ORDER BY state IN ({ACTIVE_STATES}) DESC, create_time DESC, id DESC
        LIMIT 1;
        IF FOUND THEN
            outcome := 'duplicate';
            RETURN;
        END IF;
    END IF;

    SELECT t.outcome, t.used, t.active INTO outcome, used, active
    FROM take_quota_unit(p_user_id, p_day, p_daily_limit, p_max_active) AS t;
    IF outcome <> 'taken' THEN
        RETURN;
    END IF;

    INSERT INTO jobs (id, user_id, client_request_id, spec, state, quota_day, due_time, allow_duplicate)
    VALUES (p_id, p_user_id, p_client_request_id, p_spec, 'PENDING', p_day, now(), p_allow_duplicate)
    RETURNING * INTO job;
    INSERT INTO job_events (job_id, type, state) VALUES (p_id, 'created', 'PENDING');
    outcome := 'created';
    active := active + 1;
END
$$
"""

_OLD_CREATE_JOB = "create_job(uuid, text, text, jsonb, date, integer, integer)"


def _revision(filename: str) -> ModuleType:
    # Revision files are loaded by path (their names start with a digit).
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"videojobs_migration_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.execute(SPEC_FINGERPRINT_FUNCTION)
    # Stored, so the lookup under the create lock and the clean-up's scan read an index, never the specs.
    op.add_column(
        "jobs",
        sa.Column(
            "spec_fingerprint",
            sa.Text(),
            sa.Computed("spec_fingerprint(spec)", persisted=True),
            nullable=True,
        ),
    )
    op.add_column(
        "jobs", sa.Column("allow_duplicate", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.create_index(
        "ix_jobs_user_id_spec_fingerprint_create_time",
        "jobs",
        ["user_id", "spec_fingerprint", sa.text("create_time DESC")],
        postgresql_where=sa.text("deleted_time IS NULL"),
    )
    op.execute(f"DROP FUNCTION {_OLD_CREATE_JOB}")
    op.execute(CREATE_JOB_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION create_job")
    op.execute(_revision("0002_orchestration.py").CREATE_JOB_FUNCTION)
    op.drop_index("ix_jobs_user_id_spec_fingerprint_create_time", table_name="jobs")
    op.drop_column("jobs", "allow_duplicate")
    op.drop_column("jobs", "spec_fingerprint")
    op.execute("DROP FUNCTION spec_fingerprint")
