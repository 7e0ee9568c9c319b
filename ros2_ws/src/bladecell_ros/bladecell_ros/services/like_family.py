"""A family's model from another family's architecture, for the model designer (ROS-free).

A part family configured `like: OTHER` (`platform_control.part_families`) gets no AutoNAD search:
OTHER's deployed network is fine-tuned from its current weights on this family's exported dataset
(`autonad_core.training.retrain.finetune`, on the schedule `retrainer.finetune_config` gives the
retrainer's `--like` too), so architecture, channels and classes stay OTHER's. What comes back has the
fields of `autonad_core.design`'s result that `ModelDesigner` registers, plus the training inputs'
statistics: a fine-tuned folder keeps its parent's normalisation, so its `preprocess.json` describes
OTHER's data, not this family's (the input-shift trigger's baseline must be this family's).

Why fail instead of falling back to a search when OTHER has no deployed model: a plant that wrote
`like` asked for OTHER's architecture and a design of minutes, not a search of a different network;
the cycle faults with one line that says what to do, and resumes once OTHER has a model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autonad_core.progress import ProgressCallback, report
from bladecell_ros.services.retrainer import channel_stats, finetune_config

#: DesignProgress weights of a like-family design: fine-tuning is the whole run but a latency measurement
LIKE_STAGE_WEIGHTS: dict[str, float] = {"finetune": 0.95, "evaluate": 0.05}


class LikeFamilyError(ValueError):
    """`like` names no usable model: the family itself, or a family without a deployed model."""


def like_parent(family: str, like: str, deployed: Any) -> Any:
    """OTHER's deployed model (``deployed``: the registry's answer for ``like``), or the one-line reason
    there is none to start from."""
    if like == family:
        raise LikeFamilyError(f"part family {family!r} is configured like itself; remove its `like`")
    if deployed is None:
        raise LikeFamilyError(
            f"part family {family!r} is configured like {like!r}, which has no deployed model: design "
            f"{like} first, or remove `like: {like}` from {family}'s entry in part_families_yaml"
        )
    return deployed


@dataclass(frozen=True)
class LikeResult:
    """`autonad_core.pipeline.DesignResult`'s fields the designer reads, and the training statistics."""

    model_dir: Path
    arch_json: Path
    metrics: dict[str, Any]
    latency_ms: float
    target_device: str
    params: int
    input_stats: dict[str, dict[str, float]]


def finetune_like(
    parent_dir: Path,
    dataset_dir: Path,
    out_dir: Path,
    *,
    device: str,
    target_device: str,
    overrides: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> LikeResult:
    """Fine-tune the model folder ``parent_dir`` on ``dataset_dir`` into ``out_dir`` (`finetune/best`),
    then time it on ``target_device`` as a design does. ``progress`` as for `autonad_core.design`
    (raising from it cancels)."""
    from autonad_core.config import resolve_device
    from autonad_core.data.mt import open_dataset
    from autonad_core.data.preprocess import Preprocess
    from autonad_core.models.complexity import count_params
    from autonad_core.pipeline import measure_latency
    from autonad_core.training.retrain import finetune

    parent_dir, out_dir = Path(parent_dir), Path(out_dir)
    if not (parent_dir / "arch.json").is_file():
        raise LikeFamilyError(f"{parent_dir}: no arch.json (the model folder to start from is missing)")
    cfg = finetune_config(parent_dir, out_dir, device, 0, overrides)
    result = finetune(cfg, parent_dir, dataset_dir, out_dir, progress, False)
    model_dir = Path(result.model_dir)
    target = str(resolve_device(target_device))
    report(progress, "evaluate", 0.0, "measuring latency")
    latency = measure_latency(model_dir, target)
    pre = Preprocess.load(model_dir)
    params = count_params(result.arch, in_channels=len(pre.channels), num_classes=len(pre.class_names))
    metrics = json.loads((model_dir / "metrics.json").read_text())
    stats = channel_stats(open_dataset(dataset_dir).load_split("train"))
    report(progress, "evaluate", 1.0, f"fine-tuned: {latency:.2f} ms on {target}")
    return LikeResult(model_dir, model_dir / "arch.json", metrics, latency, target, int(params), stats)
