"""Defect indexes for searches sorted by size or confidence within a part family.

Chosen from the load figure of benchmarks/db_search.py (1,000,000 defects): a family + class + month
search sorted by `-area_mm2` or `-confidence` was planned as a walk of the table-wide `(area_mm2, id)`
or `(confidence, id)` index in sort order, filtering family, class and dates row by row: ~100,000 rows
and 300-500 ms for one page. `(part_family_id, defect_class, <sort>, id)` answers one class in sort
order from the index; `(part_family_id, <sort>, id)` serves several classes (PostgreSQL 15 cannot
merge an IN list in index order) with a fifth of the walk.

A frozen copy of `FAMILY_SORT_INDEXES` in database/orm/defects.py as of this revision.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


INDEXES = {
    "ix_defects_family_class_area_mm2": ["part_family_id", "defect_class", "area_mm2", "id"],
    "ix_defects_family_area_mm2": ["part_family_id", "area_mm2", "id"],
    "ix_defects_family_class_confidence": ["part_family_id", "defect_class", "confidence", "id"],
    "ix_defects_family_confidence": ["part_family_id", "confidence", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "defects", columns, unique=False)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="defects")
