"""Helpers shared by the pipeline tests (a module name no other test folder uses)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml


def make_mt_subset(mt320_dir: Path, root: Path, prefixes: tuple[str, ...], n_train: int, n_val: int) -> Path:
    """A generic-format dataset (dataset.yaml with the MT classes) holding real MT images of the given
    classes, evenly spaced over the official split lists; empty source masks are left out."""
    from autonad_core.data import MT_CLASSES

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    empty = {
        "uneven_exp3_num_45042.png",
        "uneven_exp4_num_124690.png",
        "uneven_exp4_num_352527.png",
        "uneven_exp4_num_45057.png",
    }  # all-zero masks in the source (mt320/README.txt)
    for split, n in (("train", n_train), ("val", n_val)):
        names = [x for x in (mt320_dir / f"{split}.txt").read_text().split() if x.startswith(prefixes)]
        names = [x for x in names if x not in empty]
        step = max(1, len(names) // n)
        names = names[::step][:n]
        for name in names:
            shutil.copy(mt320_dir / "images" / name, root / "images" / name)
            shutil.copy(mt320_dir / "masks" / name, root / "masks" / name)
        (root / f"{split}.txt").write_text("\n".join(names) + "\n")
    (root / "dataset.yaml").write_text(
        yaml.safe_dump(
            {"name": "mt-subset", "classes": list(MT_CLASSES), "channels": ["grey"], "bit_depth": 8}
        )
    )
    return root
