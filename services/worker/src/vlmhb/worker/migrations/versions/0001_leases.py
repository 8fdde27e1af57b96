"""Lease store: stage attempts (lease = fencing token) and relayed stage events.

Revision ID: w0001
Revises:
Create Date: 2026-12-01 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "w0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_attempts",
        sa.Column("lease", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stage_id", sa.String(length=128), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("experiment", sa.String(length=200), nullable=False),
        sa.Column("queue", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("agent", sa.String(length=200), nullable=True),
        sa.Column("gpu_ids", sa.Text(), nullable=False),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("cancel", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("lease"),
    )
    op.create_index("ix_worker_attempts_stage", "worker_attempts", ["stage_id", "lease"])
    op.create_table(
        "worker_events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lease", sa.Integer(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_worker_events_lease", "worker_events", ["lease", "seq"])


def downgrade() -> None:
    op.drop_index("ix_worker_events_lease", table_name="worker_events")
    op.drop_table("worker_events")
    op.drop_index("ix_worker_attempts_stage", table_name="worker_attempts")
    op.drop_table("worker_attempts")
