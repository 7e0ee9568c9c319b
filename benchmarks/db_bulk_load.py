"""Bulk load of a plant-sized defect history into PostgreSQL with COPY (for benchmarks/db_search.py).

Rows are generated with NumPy and streamed with psycopg's COPY; the defects' secondary indexes are
dropped during the load and rebuilt after it, then VACUUM ANALYZE sets statistics and the visibility
map as autovacuum would soon after. Defects arrive in time order, as cells record them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import psycopg
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex
from tqdm import tqdm

from database.orm import Base

FAMILIES = ["HPT1-B", "HPT2-A", "LPT3-A", "LPT4-C", "FAN-7"]
CLASSES = np.array(["crack", "pit", "nick", "corrosion", "burn", "coating_loss"])
CLASS_P = np.array([0.12, 0.30, 0.20, 0.18, 0.08, 0.12])
CELLS = np.array(["cell-1", "cell-2", "cell-3"])
REVIEW = np.array(["unreviewed", "confirmed", "false_positive"])
END = datetime(2026, 11, 1, tzinfo=UTC)
SPAN_DAYS = 364


def copy_rows(conn: psycopg.Connection, table: str, columns: list[str], text: str) -> None:
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(text)


def tsv(*cols: np.ndarray) -> str:
    """Tab-separated COPY text from equally long columns (None/NaN written as \\N)."""
    return "".join("\t".join(row) + "\n" for row in zip(*[c.astype(str) for c in cols], strict=True))


def isoformat(seconds: np.ndarray) -> np.ndarray:
    base = np.datetime64(END.replace(tzinfo=None)) - np.timedelta64(SPAN_DAYS, "D")
    stamps = base + seconds.astype("timedelta64[s]")
    return np.char.add(np.datetime_as_string(stamps, unit="s"), "+00")


def secondary_defect_indexes() -> list:
    return [ix for ix in Base.metadata.tables["defects"].indexes]


def load(
    conn: psycopg.Connection,
    rng: np.random.Generator,
    n_blades: int,
    n_defects: int,
    cycles_per_blade: float = 2.0,
    captures_per_cycle: int = 4,
) -> dict[str, int]:
    """Fill an empty, migrated database; returns the row counts."""
    n_cycles = int(n_blades * cycles_per_blade)
    n_captures = n_cycles * captures_per_cycle
    created = "2025-01-01 00:00:00+00"
    steps = tqdm(total=6, desc="bulk load", unit="table")

    copy_rows(
        conn,
        "part_families",
        ["id", "code", "name", "created_at"],
        "".join(f"{i + 1}\t{code}\tblade family {code}\t{created}\n" for i, code in enumerate(FAMILIES)),
    )
    models = []
    for f in range(len(FAMILIES)):
        for v in range(3):
            status = "deployed" if v == 2 else "retired"
            fields = [f * 3 + v + 1, f"{FAMILIES[f].lower()}-v{v + 1}", f + 1, status, "{}", "{}", 12.5]
            fields += ["cpu", "w.pt", "bench", "", created]
            models.append("\t".join(str(x) for x in fields))
    copy_rows(
        conn,
        "models",
        [
            "id",
            "version",
            "part_family_id",
            "status",
            "architecture",
            "metrics",
            "latency_ms",
            "latency_device",
            "weights_path",
            "dataset_snapshot",
            "notes",
            "created_at",
        ],
        "\n".join(models) + "\n",
    )
    steps.update()

    blade_family = rng.integers(1, len(FAMILIES) + 1, n_blades)
    blade_ids = np.arange(1, n_blades + 1)
    serials = np.char.add("SN-", np.char.zfill(blade_ids.astype(str), 7))
    copy_rows(
        conn,
        "blades",
        ["id", "serial", "part_family_id", "created_at"],
        tsv(blade_ids, serials, blade_family, np.full(n_blades, created)),
    )
    steps.update()

    cycle_ids = np.arange(1, n_cycles + 1)
    cycle_blade = rng.integers(1, n_blades + 1, n_cycles)
    cycle_start = np.sort(rng.integers(0, SPAN_DAYS * 86400, n_cycles))  # cycle ids grow with time
    cycle_cell = CELLS[rng.integers(0, len(CELLS), n_cycles)]
    cycle_model = (
        (blade_family[cycle_blade - 1] - 1) * 3 + 1 + np.minimum(2, cycle_start * 3 // (SPAN_DAYS * 86400))
    )
    started = isoformat(cycle_start)
    finished = isoformat(cycle_start + 150)
    uuids = np.array([str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**63, n_cycles)])
    copy_rows(
        conn,
        "inspection_cycles",
        [
            "id",
            "cycle_uuid",
            "blade_id",
            "model_id",
            "cell",
            "operator",
            "state",
            "verdict",
            "started_at",
            "finished_at",
            "duration_s",
            "stage_timings",
            "defect_count",
            "payload_sha256",
            "recorded_at",
        ],
        tsv(
            cycle_ids,
            uuids,
            cycle_blade,
            cycle_model,
            cycle_cell,
            np.full(n_cycles, "bench"),
            np.full(n_cycles, "done"),
            np.full(n_cycles, "review"),
            started,
            finished,
            np.full(n_cycles, "150.0"),
            np.full(n_cycles, "{}"),
            np.zeros(n_cycles, int),
            np.full(n_cycles, "0" * 64),
            finished,
        ),
    )
    steps.update()

    capture_ids = np.arange(1, n_captures + 1)
    capture_cycle = np.repeat(cycle_ids, captures_per_cycle)
    viewpoint = np.tile(np.arange(captures_per_cycle), n_cycles)
    copy_rows(
        conn,
        "captures",
        ["id", "cycle_id", "viewpoint_index", "stage_pose", "width", "height", "captured_at"],
        tsv(
            capture_ids,
            capture_cycle,
            viewpoint,
            np.full(n_captures, "[0, 0, 0, 0, 0]"),
            np.full(n_captures, 2048),
            np.full(n_captures, 1536),
            np.repeat(started, captures_per_cycle),
        ),
    )
    steps.update()

    indexes = secondary_defect_indexes()
    with conn.cursor() as cursor:
        for ix in indexes:
            cursor.execute(f"DROP INDEX IF EXISTS {ix.name}")
    chunk = 200_000
    # Cells record a cycle's defects together, so rows arrive in time order: sorted capture ids.
    all_captures = np.sort(rng.integers(1, n_captures + 1, n_defects))
    for start in range(0, n_defects, chunk):
        n = min(chunk, n_defects - start)
        ids = np.arange(start + 1, start + n + 1)
        cap = all_captures[start : start + n]
        cyc = capture_cycle[cap - 1]
        blade = cycle_blade[cyc - 1]
        area_px = np.maximum(1, rng.lognormal(4.0, 1.2, n).astype(int))
        bx, by = rng.integers(0, 1900, n), rng.integers(0, 1400, n)
        bw, bh = np.minimum(140, 2 + area_px // 20), np.minimum(120, 2 + area_px // 30)
        copy_rows(
            conn,
            "defects",
            [
                "id",
                "cycle_id",
                "capture_id",
                "blade_id",
                "part_family_id",
                "model_id",
                "cell",
                "detected_at",
                "defect_class",
                "confidence",
                "pixel_area",
                "area_mm2",
                "bbox_x",
                "bbox_y",
                "bbox_w",
                "bbox_h",
                "contour",
                "location_x_mm",
                "location_y_mm",
                "location_z_mm",
                "blade_region",
                "review_status",
            ],
            tsv(
                ids,
                cyc,
                cap,
                blade,
                blade_family[blade - 1],
                cycle_model[cyc - 1],
                cycle_cell[cyc - 1],
                started[cyc - 1],
                CLASSES[rng.choice(len(CLASSES), n, p=CLASS_P)],
                np.round(rng.beta(5, 2, n), 4),
                area_px,
                np.round(area_px * 0.0025, 4),
                bx,
                by,
                bw,
                bh,
                np.full(n, "[]"),
                np.round(rng.uniform(-30, 30, n), 2),
                np.zeros(n),
                np.round(rng.uniform(5, 200, n), 2),
                np.full(n, "airfoil"),
                REVIEW[rng.choice(3, n, p=[0.9, 0.07, 0.03])],
            ),
        )
    steps.update()
    with conn.cursor() as cursor:
        for ix in tqdm(indexes, desc="rebuild defect indexes", leave=False):
            cursor.execute(str(CreateIndex(ix).compile(dialect=postgresql.dialect())))
        for table in ("part_families", "models", "blades", "inspection_cycles", "captures", "defects"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        cursor.execute("VACUUM ANALYZE")  # what autovacuum does soon after a load: visibility map + stats
    steps.update()
    steps.close()
    return {
        "families": len(FAMILIES),
        "blades": n_blades,
        "cycles": n_cycles,
        "captures": n_captures,
        "defects": n_defects,
    }
