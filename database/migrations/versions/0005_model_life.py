"""The model's life after its first design: review corrections as labels, frozen dataset snapshots,
model lineage, registry events (promotions, rollbacks, who and why), health checks and per-family
trigger thresholds (issue 18).

Only new tables: nothing recorded before changes, and the downgrade drops exactly what this added.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dataset_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("part_family_id", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("class_names", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("sample_count", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_dataset_snapshots_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["part_family_id"],
            ["part_families.id"],
            name=op.f("fk_dataset_snapshots_part_family_id_part_families"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_snapshots")),
        sa.UniqueConstraint(
            "part_family_id",
            "content_sha256",
            name=op.f("uq_dataset_snapshots_part_family_id_content_sha256"),
        ),
    )
    op.create_index(
        op.f("ix_dataset_snapshots_part_family_id"), "dataset_snapshots", ["part_family_id"], unique=False
    )

    op.create_table(
        "model_policies",
        sa.Column("part_family_id", sa.Integer(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["part_family_id"],
            ["part_families.id"],
            name=op.f("fk_model_policies_part_family_id_part_families"),
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_model_policies_updated_by_id_users")
        ),
        sa.PrimaryKeyConstraint("part_family_id", name=op.f("pk_model_policies")),
    )
    op.create_table(
        "model_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("part_family_id", sa.Integer(), nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                "registered",
                "promoted",
                "rolled_back",
                "retired",
                name="model_action",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("previous_model_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_model_events_actor_id_users")),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_model_events_model_id_models"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["part_family_id"],
            ["part_families.id"],
            name=op.f("fk_model_events_part_family_id_part_families"),
        ),
        sa.ForeignKeyConstraint(
            ["previous_model_id"], ["models.id"], name=op.f("fk_model_events_previous_model_id_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_events")),
    )
    op.create_index(op.f("ix_model_events_model_id"), "model_events", ["model_id"], unique=False)
    op.create_index(op.f("ix_model_events_part_family_id"), "model_events", ["part_family_id"], unique=False)

    op.create_table(
        "model_health_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("part_family_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column(
            "level",
            sa.Enum(
                "ok",
                "retrain_recommended",
                "redesign_recommended",
                name="health_level",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_model_health_checks_model_id_models"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["part_family_id"],
            ["part_families.id"],
            name=op.f("fk_model_health_checks_part_family_id_part_families"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_health_checks")),
    )
    op.create_index(
        "ix_model_health_checks_family_created",
        "model_health_checks",
        ["part_family_id", "created_at"],
        unique=False,
    )

    op.create_table(
        "model_lineage",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column(
            "origin",
            sa.Enum(
                "designed",
                "retrained",
                "like_family",
                name="model_origin",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("snapshot_id", sa.Integer(), nullable=True),
        sa.Column("class_names", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("input_stats", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_model_lineage_model_id_models"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["models.id"], name=op.f("fk_model_lineage_parent_id_models")),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["dataset_snapshots.id"],
            name=op.f("fk_model_lineage_snapshot_id_dataset_snapshots"),
        ),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_model_lineage")),
    )
    op.create_table(
        "label_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("part_family_id", sa.Integer(), nullable=False),
        sa.Column("capture_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("defect_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("annotation_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "confirm",
                "false_positive",
                "class_change",
                "mask_edit",
                name="correction_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("from_class", sa.String(length=40), nullable=True),
        sa.Column("to_class", sa.String(length=40), nullable=True),
        sa.Column("changed_pixels", sa.Integer(), nullable=False),
        sa.Column("added_pixels", sa.Integer(), nullable=False),
        sa.Column("removed_pixels", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["annotation_id"], ["annotations.id"], name=op.f("fk_label_corrections_annotation_id_annotations")
        ),
        sa.ForeignKeyConstraint(
            ["capture_id"],
            ["captures.id"],
            name=op.f("fk_label_corrections_capture_id_captures"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_label_corrections_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["defect_id"],
            ["defects.id"],
            name=op.f("fk_label_corrections_defect_id_defects"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_label_corrections_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["part_family_id"],
            ["part_families.id"],
            name=op.f("fk_label_corrections_part_family_id_part_families"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_corrections")),
    )
    op.create_index(
        op.f("ix_label_corrections_annotation_id"), "label_corrections", ["annotation_id"], unique=False
    )
    op.create_index(
        op.f("ix_label_corrections_capture_id"), "label_corrections", ["capture_id"], unique=False
    )
    op.create_index(op.f("ix_label_corrections_defect_id"), "label_corrections", ["defect_id"], unique=False)
    op.create_index(
        op.f("ix_label_corrections_part_family_id"), "label_corrections", ["part_family_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_label_corrections_part_family_id"), table_name="label_corrections")
    op.drop_index(op.f("ix_label_corrections_defect_id"), table_name="label_corrections")
    op.drop_index(op.f("ix_label_corrections_capture_id"), table_name="label_corrections")
    op.drop_index(op.f("ix_label_corrections_annotation_id"), table_name="label_corrections")

    op.drop_table("label_corrections")
    op.drop_table("model_lineage")
    op.drop_index("ix_model_health_checks_family_created", table_name="model_health_checks")

    op.drop_table("model_health_checks")
    op.drop_index(op.f("ix_model_events_part_family_id"), table_name="model_events")
    op.drop_index(op.f("ix_model_events_model_id"), table_name="model_events")

    op.drop_table("model_events")
    op.drop_table("model_policies")
    op.drop_index(op.f("ix_dataset_snapshots_part_family_id"), table_name="dataset_snapshots")

    op.drop_table("dataset_snapshots")
