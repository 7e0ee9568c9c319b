"""Blade serials in their one normal form (NFKC, no invisible characters, one space, upper case).

Serials differing only by case, full-width letters or a zero-width space were distinct blades. From now
on the services normalise every serial they receive (`database/serials.py`); this migration rewrites
the serials already recorded (blades and cycle requests) to the same form.

Two recorded blades whose serials normalise to the same text are NOT merged: which one holds the real
history is a decision for a person. The upgrade then changes nothing and stops with a report of each
collision (blade ids and serials as stored); rename or remove one of each pair and upgrade again.

The rule is a frozen copy of `normalize_serial` as of this revision (a migration must not change when
the service's code later does); tests/database/test_serials.py checks that both agree.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _normal(serial: str) -> str:
    folded = unicodedata.normalize("NFKC", serial)
    visible = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    return re.sub(r"\s+", " ", visible).strip().upper()


def upgrade() -> None:
    if op.get_context().as_sql:  # offline SQL cannot read the data; an empty database needs nothing
        return
    bind = op.get_bind()
    blades = bind.execute(sa.text("SELECT id, serial FROM blades ORDER BY id")).all()
    groups: dict[str, list[tuple[int, str]]] = {}
    for blade_id, serial in blades:
        groups.setdefault(_normal(serial), []).append((blade_id, serial))
    collisions = {normal: rows for normal, rows in groups.items() if len(rows) > 1}
    if collisions:
        report = "; ".join(
            f"{normal!r} <- "
            + ", ".join(f"blades {i} {s!r}" if n == 0 else f"{i} {s!r}" for n, (i, s) in enumerate(rows))
            for normal, rows in sorted(collisions.items())
        )
        raise RuntimeError(
            f"{len(collisions)} blade serials collide once normalised (nothing was changed): {report}. "
            "Rename or remove one blade of each group, then upgrade again."
        )
    renamed = {serial: _normal(serial) for _, serial in blades if _normal(serial) != serial}
    for old, new in renamed.items():
        bind.execute(sa.text("UPDATE blades SET serial = :new WHERE serial = :old"), {"new": new, "old": old})
    requests = bind.execute(sa.text("SELECT DISTINCT blade_serial FROM cycle_requests")).scalars().all()
    for old in requests:
        if _normal(old) != old:
            bind.execute(
                sa.text("UPDATE cycle_requests SET blade_serial = :new WHERE blade_serial = :old"),
                {"new": _normal(old), "old": old},
            )


def downgrade() -> None:
    """Nothing to undo: the original spellings are not kept (they named the same blades)."""
