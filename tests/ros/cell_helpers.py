"""Constants and helpers of the cell tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tiny_design import tiny_design

FAMILY = "HPT-TEST"
CLASSES = ("background", "crack", "nick", "dent", "pitting", "coating_loss", "burn")

#: Small, fast cell: 128 px frames, a blade with large defects (burns, coating loss), quick physics.
BASE_PARAMS: dict[str, dict[str, Any]] = {
    "sim_cell": {
        "binning": 0,  # the square resolution, not the demo's binned sensor
        "resolution": 128,
        "blade": {
            "preset": "small",
            "seed": 3,
            "defects_min": 8,
            "defects_max": 8,
            "defect_classes": "burn,coating_loss",
        },
    },
    "cell_coordinator": {
        "max_viewpoints": 4,
        "queue_poll_s": 0.5,
        "connect_timeout_s": 20.0,
        "part_families_yaml": f"families:\n  {FAMILY}: {{preset: small, seed: 3}}\n",
    },
    "detector": {"torch_threads": 1},
    "model_designer": {"torch_threads": 1},
    "recorder": {"retry_initial_s": 0.2, "retry_max_delay_s": 1.0},
}


def merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = (
            merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def write_params(path: Path, params: dict[str, dict[str, Any]]) -> Path:
    path.write_text(
        yaml.safe_dump({node: {"ros__parameters": p} for node, p in params.items()}, sort_keys=False)
    )
    return path


@dataclass
class RunningCell:
    graph: Any
    client: Any
    home: Path


def deploy_model(model_dir: Path, family: str = FAMILY, version: str = "tiny-1") -> str:
    """Register + deploy `model_dir` for `family` in the configured database; returns the version."""
    from database.services import ModelCandidate, ModelRegistry

    registry = ModelRegistry()
    registry.register_candidate(
        ModelCandidate(
            version=version,
            part_family=family,
            architecture=json.loads((model_dir / "arch.json").read_text()),
            weights_path=str(model_dir),
            notes="tiny test model",
        )
    )
    registry.deploy(version)
    return version


def collect_feedback() -> tuple[list, Callable]:
    seen: list = []

    def feedback(fb) -> None:
        seen.append((fb.state, fb.viewpoint_index, fb.viewpoint_count, fb.message))

    return seen, feedback


def design_tiny_model(root: Path) -> Path:
    """A model for the simulated captures designed with a minimal AutoNAD budget (seconds), for the
    fault tests and the fault campaign, which need *a* deployed model, not a good one."""
    import autonad_core
    from platform_control.sim.dataset import generate_dataset

    generate_dataset(
        1, 0, root / "data", presets=("small",), views_per_blade=3, defect_views=False,
        resolution=(64, 64), progress=False,
    )  # fmt: skip
    result = autonad_core.design(
        root / "data",
        root / "design",
        preset="cpu-small",
        device="cpu",
        overrides=tiny_design(timing_free=False, threads=1),
        show_progress=False,
    )
    return Path(result.model_dir)
