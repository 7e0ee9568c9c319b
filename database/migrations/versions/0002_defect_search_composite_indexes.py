"""Composite defect indexes: part family + class, and model + class, each newest first.

Chosen from the 1,000,000-defect benchmark (benchmarks/db_search.py). Family + class is the engineers'
usual search: with this index the page and its total count read the index instead of thousands of heap
pages. Model + class: a model's defects all lie in its deployment period, which the planner cannot
know, so without it a search for an old model walked the detected_at index back through every newer row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


INDEXES = {
    "ix_defects_family_class_detected_at": ["part_family_id", "defect_class", "detected_at", "id"],
    "ix_defects_model_class_detected_at": ["model_id", "defect_class", "detected_at", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "defects", columns, unique=False)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="defects")
