"""The private task of an attempt: the stage task with its secrets, held in the lease row
while the attempt is unfinished, so the broker message carries the masked task only.

Revision ID: w0002
Revises: w0001
Create Date: 2026-12-02 17:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "w0002"
down_revision: str | None = "w0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("worker_attempts") as batch:
        batch.add_column(sa.Column("private_task", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("worker_attempts") as batch:
        batch.drop_column("private_task")
