"""Initial schema: part families, blades, users and API keys, the cycle request queue, cycles,
captures, defects (with their search indexes), the model registry and annotations.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "part_families",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_part_families")),
        sa.UniqueConstraint("code", name=op.f("uq_part_families_code")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "technician", "engineer", "admin", name="role", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index(op.f("ix_api_keys_user_id"), "api_keys", ["user_id"], unique=False)
    op.create_table(
        "blades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("part_family_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["part_family_id"], ["part_families.id"], name=op.f("fk_blades_part_family_id_part_families")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blades")),
        sa.UniqueConstraint("serial", name=op.f("uq_blades_serial")),
    )
    op.create_index(op.f("ix_blades_part_family_id"), "blades", ["part_family_id"], unique=False)
    op.create_table(
        "cycle_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_uuid", sa.Uuid(), nullable=False),
        sa.Column("blade_serial", sa.String(length=64), nullable=False),
        sa.Column("part_family_code", sa.String(length=64), nullable=False),
        sa.Column("cell", sa.String(length=64), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "queued",
                "claimed",
                "running",
                "done",
                "failed",
                "cancelled",
                name="request_state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("progress", sa.String(length=200), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name=op.f("fk_cycle_requests_requested_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cycle_requests")),
        sa.UniqueConstraint("request_uuid", name=op.f("uq_cycle_requests_request_uuid")),
    )
    op.create_index(
        op.f("ix_cycle_requests_requested_by_id"), "cycle_requests", ["requested_by_id"], unique=False
    )
    op.create_index(
        "ix_cycle_requests_state_created", "cycle_requests", ["state", "created_at"], unique=False
    )
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("part_family_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "candidate",
                "deployed",
                "retired",
                name="model_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("architecture", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("latency_device", sa.String(length=100), nullable=False),
        sa.Column("weights_path", sa.String(length=512), nullable=False),
        sa.Column("weights_sha256", sa.String(length=64), nullable=True),
        sa.Column("dataset_snapshot", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["part_family_id"], ["part_families.id"], name=op.f("fk_models_part_family_id_part_families")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("version", name=op.f("uq_models_version")),
    )
    op.create_index(op.f("ix_models_part_family_id"), "models", ["part_family_id"], unique=False)
    op.create_index(
        "uq_models_one_deployed_per_family",
        "models",
        ["part_family_id"],
        unique=True,
        sqlite_where=sa.text("status = 'deployed'"),
        postgresql_where=sa.text("status = 'deployed'"),
    )
    op.create_table(
        "inspection_cycles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_uuid", sa.Uuid(), nullable=False),
        sa.Column("blade_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("cell", sa.String(length=64), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "done", "faulted", "aborted", name="cycle_state", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column(
            "verdict",
            sa.Enum(
                "pass",
                "fail",
                "review",
                "incomplete",
                name="verdict",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("stage_timings", sa.JSON(), nullable=False),
        sa.Column("defect_count", sa.Integer(), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["blade_id"], ["blades.id"], name=op.f("fk_inspection_cycles_blade_id_blades")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_inspection_cycles_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["cycle_requests.id"], name=op.f("fk_inspection_cycles_request_id_cycle_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_cycles")),
        sa.UniqueConstraint("cycle_uuid", name=op.f("uq_inspection_cycles_cycle_uuid")),
    )
    op.create_index(
        "ix_inspection_cycles_blade_started", "inspection_cycles", ["blade_id", "started_at"], unique=False
    )
    op.create_index(
        op.f("ix_inspection_cycles_request_id"), "inspection_cycles", ["request_id"], unique=False
    )
    op.create_index(op.f("ix_inspection_cycles_model_id"), "inspection_cycles", ["model_id"], unique=False)
    op.create_index(
        op.f("ix_inspection_cycles_started_at"), "inspection_cycles", ["started_at"], unique=False
    )
    op.create_table(
        "captures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("viewpoint_index", sa.Integer(), nullable=False),
        sa.Column("stage_pose", sa.JSON(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("mask_path", sa.String(length=512), nullable=True),
        sa.Column("mask_sha256", sa.String(length=64), nullable=True),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["inspection_cycles.id"],
            name=op.f("fk_captures_cycle_id_inspection_cycles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_captures")),
        sa.UniqueConstraint("cycle_id", "viewpoint_index", name=op.f("uq_captures_cycle_id_viewpoint_index")),
    )
    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("part_family_id", sa.Integer(), nullable=False),
        sa.Column("blade_id", sa.Integer(), nullable=True),
        sa.Column("capture_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("image_path", sa.String(length=512), nullable=False),
        sa.Column("image_sha256", sa.String(length=64), nullable=False),
        sa.Column("mask_path", sa.String(length=512), nullable=False),
        sa.Column("mask_sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("class_names", sa.JSON(), nullable=False),
        sa.Column("classes_present", sa.JSON(), nullable=False),
        sa.Column(
            "source",
            sa.Enum("imported", "drawn", name="annotation_source", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["blade_id"], ["blades.id"], name=op.f("fk_annotations_blade_id_blades")),
        sa.ForeignKeyConstraint(
            ["capture_id"],
            ["captures.id"],
            name=op.f("fk_annotations_capture_id_captures"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_annotations_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["part_family_id"], ["part_families.id"], name=op.f("fk_annotations_part_family_id_part_families")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotations")),
        sa.UniqueConstraint(
            "image_sha256", "mask_sha256", name=op.f("uq_annotations_image_sha256_mask_sha256")
        ),
    )
    op.create_index(op.f("ix_annotations_blade_id"), "annotations", ["blade_id"], unique=False)
    op.create_index(op.f("ix_annotations_capture_id"), "annotations", ["capture_id"], unique=False)
    op.create_index(op.f("ix_annotations_part_family_id"), "annotations", ["part_family_id"], unique=False)
    op.create_table(
        "capture_frames",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("capture_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("exposure_ms", sa.Float(), nullable=False),
        sa.Column("gain", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["capture_id"],
            ["captures.id"],
            name=op.f("fk_capture_frames_capture_id_captures"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capture_frames")),
        sa.UniqueConstraint("capture_id", "channel", name=op.f("uq_capture_frames_capture_id_channel")),
    )
    op.create_index(op.f("ix_capture_frames_sha256"), "capture_frames", ["sha256"], unique=False)
    op.create_table(
        "defects",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("capture_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("blade_id", sa.Integer(), nullable=False),
        sa.Column("part_family_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("cell", sa.String(length=64), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("defect_class", sa.String(length=40), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("pixel_area", sa.Integer(), nullable=False),
        sa.Column("area_mm2", sa.Float(), nullable=False),
        sa.Column("bbox_x", sa.Integer(), nullable=False),
        sa.Column("bbox_y", sa.Integer(), nullable=False),
        sa.Column("bbox_w", sa.Integer(), nullable=False),
        sa.Column("bbox_h", sa.Integer(), nullable=False),
        sa.Column("contour", sa.JSON(), nullable=False),
        sa.Column("location_x_mm", sa.Float(), nullable=True),
        sa.Column("location_y_mm", sa.Float(), nullable=True),
        sa.Column("location_z_mm", sa.Float(), nullable=True),
        sa.Column("blade_region", sa.String(length=64), nullable=True),
        sa.Column(
            "review_status",
            sa.Enum(
                "unreviewed",
                "confirmed",
                "false_positive",
                name="review_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("reviewed_by_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["blade_id"], ["blades.id"], name=op.f("fk_defects_blade_id_blades")),
        sa.ForeignKeyConstraint(
            ["capture_id"], ["captures.id"], name=op.f("fk_defects_capture_id_captures"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["inspection_cycles.id"],
            name=op.f("fk_defects_cycle_id_inspection_cycles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f("fk_defects_model_id_models")),
        sa.ForeignKeyConstraint(
            ["part_family_id"], ["part_families.id"], name=op.f("fk_defects_part_family_id_part_families")
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"], ["users.id"], name=op.f("fk_defects_reviewed_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_defects")),
    )
    op.create_index("ix_defects_area_mm2_id", "defects", ["area_mm2", "id"], unique=False)
    op.create_index(
        "ix_defects_blade_id_detected_at", "defects", ["blade_id", "detected_at", "id"], unique=False
    )
    op.create_index(op.f("ix_defects_capture_id"), "defects", ["capture_id"], unique=False)
    op.create_index("ix_defects_cell_detected_at", "defects", ["cell", "detected_at", "id"], unique=False)
    op.create_index("ix_defects_confidence_id", "defects", ["confidence", "id"], unique=False)
    op.create_index(op.f("ix_defects_cycle_id"), "defects", ["cycle_id"], unique=False)
    op.create_index(
        "ix_defects_defect_class_detected_at", "defects", ["defect_class", "detected_at", "id"], unique=False
    )
    op.create_index("ix_defects_detected_at_id", "defects", ["detected_at", "id"], unique=False)
    op.create_index(
        "ix_defects_model_id_detected_at", "defects", ["model_id", "detected_at", "id"], unique=False
    )
    op.create_index(
        "ix_defects_part_family_id_detected_at",
        "defects",
        ["part_family_id", "detected_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_defects_review_status_detected_at",
        "defects",
        ["review_status", "detected_at", "id"],
        unique=False,
    )


def downgrade() -> None:

    op.drop_index("ix_defects_review_status_detected_at", table_name="defects")
    op.drop_index("ix_defects_part_family_id_detected_at", table_name="defects")
    op.drop_index("ix_defects_model_id_detected_at", table_name="defects")
    op.drop_index("ix_defects_detected_at_id", table_name="defects")
    op.drop_index("ix_defects_defect_class_detected_at", table_name="defects")
    op.drop_index(op.f("ix_defects_cycle_id"), table_name="defects")
    op.drop_index("ix_defects_confidence_id", table_name="defects")
    op.drop_index("ix_defects_cell_detected_at", table_name="defects")
    op.drop_index(op.f("ix_defects_capture_id"), table_name="defects")
    op.drop_index("ix_defects_blade_id_detected_at", table_name="defects")
    op.drop_index("ix_defects_area_mm2_id", table_name="defects")
    op.drop_table("defects")
    op.drop_index(op.f("ix_capture_frames_sha256"), table_name="capture_frames")
    op.drop_table("capture_frames")
    op.drop_index(op.f("ix_annotations_part_family_id"), table_name="annotations")
    op.drop_index(op.f("ix_annotations_capture_id"), table_name="annotations")
    op.drop_index(op.f("ix_annotations_blade_id"), table_name="annotations")
    op.drop_table("annotations")
    op.drop_table("captures")
    op.drop_index(op.f("ix_inspection_cycles_started_at"), table_name="inspection_cycles")
    op.drop_index(op.f("ix_inspection_cycles_request_id"), table_name="inspection_cycles")
    op.drop_index(op.f("ix_inspection_cycles_model_id"), table_name="inspection_cycles")
    op.drop_index("ix_inspection_cycles_blade_started", table_name="inspection_cycles")
    op.drop_table("inspection_cycles")
    op.drop_index(
        "uq_models_one_deployed_per_family",
        table_name="models",
        sqlite_where=sa.text("status = 'deployed'"),
        postgresql_where=sa.text("status = 'deployed'"),
    )
    op.drop_index(op.f("ix_models_part_family_id"), table_name="models")
    op.drop_table("models")
    op.drop_index("ix_cycle_requests_state_created", table_name="cycle_requests")
    op.drop_index(op.f("ix_cycle_requests_requested_by_id"), table_name="cycle_requests")
    op.drop_table("cycle_requests")
    op.drop_index(op.f("ix_blades_part_family_id"), table_name="blades")
    op.drop_table("blades")
    op.drop_index(op.f("ix_api_keys_user_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("users")
    op.drop_table("part_families")
