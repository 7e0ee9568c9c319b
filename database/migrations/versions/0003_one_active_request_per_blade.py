"""One active cycle request per blade, enforced by a partial unique index (SQLite and PostgreSQL).

The queue service checks for an active request before inserting one, but two concurrent starts for
one blade both passed that check on PostgreSQL (issue 16). A database that already holds two active
requests for one blade is not changed silently: the upgrade stops and names them, so an operator can
cancel the extra one (`POST /api/v1/cycles/{uuid}/cancel`) and upgrade again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_cycle_requests_one_active_per_blade"
ACTIVE = "state IN ('queued', 'claimed', 'running')"


def upgrade() -> None:
    if not op.get_context().as_sql:  # offline SQL cannot look at the data
        duplicates = (
            op.get_bind()
            .execute(
                sa.text(
                    f"SELECT blade_serial, count(*) FROM cycle_requests WHERE {ACTIVE} "
                    "GROUP BY blade_serial HAVING count(*) > 1 ORDER BY blade_serial"
                )
            )
            .all()
        )
        if duplicates:
            listed = ", ".join(f"{serial!r} ({count})" for serial, count in duplicates)
            raise RuntimeError(
                f"blades with more than one active cycle request: {listed}; cancel the extra "
                "requests, then upgrade again"
            )
    op.create_index(
        INDEX,
        "cycle_requests",
        ["blade_serial"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="cycle_requests")
