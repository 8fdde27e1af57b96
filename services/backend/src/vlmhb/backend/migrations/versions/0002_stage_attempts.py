"""Stage placement and tries: the current try, its host and GPUs on ``stage_tasks``, each
try in ``stage_attempts``, and an index for one stage's events (its log tail).

Stages recorded before this revision keep NULL placement and no tries (their events
were never read for them).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stage_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_attempts", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("gpu_ids", sa.JSON(), nullable=True))

    op.create_table(
        "stage_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("gpu_ids", sa.JSON(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["stage_id"], ["stage_tasks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stage_id", "attempt", name="uq_stage_attempts_try"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_experiment_task_seq", ["experiment_id", "task_id", "seq"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_experiment_task_seq")
    op.drop_table("stage_attempts")
    with op.batch_alter_table("stage_tasks", schema=None) as batch_op:
        batch_op.drop_column("gpu_ids")
        batch_op.drop_column("max_attempts")
        batch_op.drop_column("host")
        batch_op.drop_column("attempt")
