"""The magnetic-tile dataset as shipped in ../shared/datasets/mt320 (no dataset.yaml needed).

Layout (mt320/README.txt): images/<class>_<stem>.png 8-bit grey, masks/ same name with class indices
0 background, 1 blowhole, 2 break, 3 crack, 4 fray, 5 uneven; train.txt / val.txt; split.csv with each
file's class. Beyond the generic checks, every mask may only hold 0 and its own file's class index.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from autonad_core.data.folder import DatasetFolder, SampleRecord
from autonad_core.data.spec import DESCRIPTOR_NAME, IGNORE_INDEX, DatasetError, DatasetSpec

MT_CLASSES = ("background", "blowhole", "break", "crack", "fray", "uneven")
MT_SPEC = DatasetSpec(name="mt320", classes=MT_CLASSES, channels=("grey",), bit_depth=8)


MT_HEADER = ["filename", "class", "class_index", "split"]


def _rows_under_mt_header(root: Path) -> list[dict[str, str]] | None:
    """The rows of ``split.csv`` when it has MT's header (and ``images/`` exists), else None."""
    split_csv = Path(root) / "split.csv"
    if not split_csv.is_file() or not (Path(root) / "images").is_dir():
        return None
    with split_csv.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if [name.strip() for name in reader.fieldnames or []] != MT_HEADER:
            return None
        return list(reader)


def _foreign_classes(rows: list[dict[str, str]]) -> list[str]:
    """Class names (with their index) in ``rows`` that are not one of MT's defect classes."""
    valid = {(name, str(i)) for i, name in enumerate(MT_CLASSES) if i > 0}
    return sorted(
        {f"{row.get('class')} ({row.get('class_index')})" for row in rows}
        - {f"{name} ({index})" for name, index in valid}
    )


def is_mt_layout(root: Path) -> bool:
    """MT is recognised by its ``split.csv`` header *and* its classes: every row names one of MT's
    defect classes with MT's index (another data set can share the header)."""
    rows = _rows_under_mt_header(root)
    return bool(rows) and not _foreign_classes(rows)


def _read_classes(split_csv: Path) -> dict[str, int]:
    classes: dict[str, int] = {}
    with split_csv.open(newline="") as fh:
        for line_no, row in enumerate(csv.DictReader(fh), start=2):
            try:
                index = int(row["class_index"])
                name = row["filename"]
            except (KeyError, TypeError, ValueError) as exc:
                raise DatasetError(f"{split_csv}:{line_no}: malformed row {row}") from exc
            if not 0 < index < len(MT_CLASSES) or MT_CLASSES[index] != row.get("class"):
                raise DatasetError(
                    f"{split_csv}:{line_no}: class '{row.get('class')}' / index {index} unknown"
                )
            classes[name] = index
    return classes


def open_mt(root: Path) -> DatasetFolder:
    """The MT folder with the per-file class check from split.csv."""
    root = Path(root)
    classes = _read_classes(root / "split.csv")

    def check(record: SampleRecord, mask: np.ndarray) -> None:
        expected = classes.get(record.name)
        if expected is None:
            raise DatasetError(f"{root / 'split.csv'}: no row for '{record.name}'")
        extra = sorted(set(np.unique(mask).tolist()) - {0, expected, IGNORE_INDEX})
        if extra:
            raise DatasetError(
                f"{record.mask}: holds class values {extra} but split.csv says class {expected} "
                f"({MT_CLASSES[expected]})"
            )

    return DatasetFolder(root, MT_SPEC, mask_check=check)


def open_dataset(root: Path) -> DatasetFolder:
    """Open any supported dataset root: a generic folder with dataset.yaml, or the MT layout."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found")
    if (root / DESCRIPTOR_NAME).is_file():
        return DatasetFolder.open(root)
    rows = _rows_under_mt_header(root)
    if rows is not None:
        foreign = _foreign_classes(rows) if rows else ["none (split.csv has no rows)"]
        if not foreign:
            return open_mt(root)
        raise DatasetError(
            f"{root / 'split.csv'}: has the MT header but classes {', '.join(foreign[:6])}"
            f"{' ...' if len(foreign) > 6 else ''} that MT does not have (MT: {', '.join(MT_CLASSES[1:])}), "
            f"so this is not the MT data set; describe your data set in {root / DESCRIPTOR_NAME} "
            "(classes, channels; see autonad_core/data/FORMAT.md)"
        )
    raise DatasetError(
        f"{root}: no {DESCRIPTOR_NAME} and not the MT layout (see autonad_core/data/FORMAT.md)"
    )
