"""The input-shift trigger in training standard deviations: per-family relative thresholds retired.

The model-life input trigger judged the relative change of a channel's mean (`input_shift_retrain`,
`input_shift_redesign`); it now judges the mean's move in training standard deviations
(`input_shift_sd_retrain`, `input_shift_sd_redesign`, `database.services.model_life`). A relative
threshold has no equivalent in the new unit, so the upgrade takes the old keys out of each family's
`model_policies.thresholds` (the family then uses the defaults until an administrator sets the new
ones) and logs each family and value it took out. The downgrade puts nothing back: what was taken out
is in the upgrade's log.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RETIRED = ("input_shift_retrain", "input_shift_redesign")
log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    if op.get_context().as_sql:  # offline SQL cannot read the data; an empty database needs nothing
        return
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT p.part_family_id, f.code, p.thresholds FROM model_policies p"
            " JOIN part_families f ON f.id = p.part_family_id ORDER BY p.part_family_id"
        )
    ).all()
    for family_id, code, stored in rows:
        thresholds = json.loads(stored) if isinstance(stored, str) else dict(stored or {})
        retired = {k: thresholds.pop(k) for k in RETIRED if k in thresholds}
        if not retired:
            continue
        bind.execute(
            sa.text("UPDATE model_policies SET thresholds = :t WHERE part_family_id = :id"),
            {"t": json.dumps(thresholds), "id": family_id},
        )
        log.warning(
            "part family %s: relative input-shift thresholds %s taken out (the trigger now judges "
            "training sd; set input_shift_sd_retrain / input_shift_sd_redesign if the defaults "
            "0.2 / 0.8 do not fit)",
            code,
            retired,
        )


def downgrade() -> None:
    pass
