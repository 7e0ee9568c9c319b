"""Cycle progress events (the technician's station streams them) and part families' blade models
(the blade map draws them).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cycle_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("cell", sa.String(length=64), nullable=False),
        sa.Column("cycle_id", sa.String(length=64), nullable=False),
        sa.Column("request_uuid", sa.Uuid(), nullable=True),
        sa.Column("blade_serial", sa.String(length=64), nullable=False),
        sa.Column("part_family", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("viewpoint_index", sa.Integer(), nullable=False),
        sa.Column("viewpoint_count", sa.Integer(), nullable=False),
        sa.Column("fraction", sa.Float(), nullable=False),
        sa.Column("elapsed_s", sa.Float(), nullable=False),
        sa.Column("eta_s", sa.Float(), nullable=True),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("preview_sha256", sa.String(length=64), nullable=True),
        sa.Column("preview_channel", sa.String(length=32), nullable=True),
        sa.Column("estop", sa.Boolean(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=True),
        sa.Column("defect_count", sa.Integer(), nullable=True),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("rejecting", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cycle_events")),
    )
    op.create_index("ix_cycle_events_cell_id", "cycle_events", ["cell", "id"])
    op.create_index(op.f("ix_cycle_events_cycle_id"), "cycle_events", ["cycle_id"])
    op.create_index(op.f("ix_cycle_events_request_uuid"), "cycle_events", ["request_uuid"])
    op.create_table(
        "blade_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("part_family_id", sa.Integer(), nullable=False),
        sa.Column("mesh_path", sa.String(length=512), nullable=False),
        sa.Column("mesh_sha256", sa.String(length=64), nullable=False),
        sa.Column("vertex_count", sa.Integer(), nullable=False),
        sa.Column("face_count", sa.Integer(), nullable=False),
        sa.Column("viewpoints", sa.JSON(), nullable=False),
        sa.Column("camera", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["part_family_id"],
            ["part_families.id"],
            name=op.f("fk_blade_models_part_family_id_part_families"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blade_models")),
        sa.UniqueConstraint("part_family_id", name=op.f("uq_blade_models_part_family_id")),
    )


def downgrade() -> None:
    op.drop_table("blade_models")
    op.drop_index(op.f("ix_cycle_events_request_uuid"), table_name="cycle_events")
    op.drop_index(op.f("ix_cycle_events_cycle_id"), table_name="cycle_events")
    op.drop_index("ix_cycle_events_cell_id", table_name="cycle_events")
    op.drop_table("cycle_events")
