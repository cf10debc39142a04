"""Identity providers can be disabled (and enabled again) without deleting them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The server default fills the rows that exist: every provider configured so far
    # was in use, so it stays enabled. (`true()` renders 1 on SQLite, true on PostgreSQL.)
    op.add_column(
        "identity_providers",
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    with op.batch_alter_table("identity_providers") as batch:
        batch.drop_column("enabled")
