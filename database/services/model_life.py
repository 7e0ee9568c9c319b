"""The rules of a model's life after its first design (§V-H): when a candidate may replace the deployed
model, and when the deployed model needs retraining or a new design.

* Promotion: a candidate is not worse than the deployed model on any class (held-out IoU) by more than
  the family's `promotion_tolerance`; classes absent from the held-out data (NaN) are not judged.
* Triggers, per family (defaults below, overridden per family in `model_policies`):
  - review: the rate of reviewed detections marked false positive, and of corrected captures where
    the engineer painted defect pixels the model missed, over the deployed model's recent cycles;
  - confidence: the drop of the mean detection confidence, first cycles of the model -> recent ones;
  - input: per channel, how far the mean of recent captures moved from the training data's (the
    model's lineage), in training standard deviations (|mean - mean_train| / std_train, a standardized
    effect size), and the std ratio; the relative change of the mean is reported too. The relative
    change was the trigger's figure before: on frames with a dark background the mean is small, so a
    few grey levels of framing between views read as a shift (normal simulated blades with tilted
    views: 19 % on the worst channel, over the 15 % limit; 0.11 sd, shifted blades 0.23-0.39 sd);
  - hardware: the latency measured on the detector's device against the design's latency. The
    detector measures it when it loads a model; a check without a new measurement keeps the latest
    one of the same model (its figures say when it was measured), so the flag does not forget it.
  Review, confidence or a moderate input shift -> "retrain recommended"; a marked input shift or a
  latency mismatch -> "redesign recommended". The flag is a record with its figures: nothing here
  starts a design (an operator decides, `bladecell design --force-redesign`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import InvalidInputError, NotFoundError
from ..orm import (
    Capture,
    CaptureFrame,
    Defect,
    DetectionModel,
    HealthLevel,
    InspectionCycle,
    LabelCorrection,
    ModelHealthCheck,
    ModelLineage,
    ModelPolicy,
    PartFamily,
    ReviewStatus,
    User,
)
from ..storage import ContentStore

DEFAULT_THRESHOLDS: dict[str, float] = {
    "promotion_tolerance": 0.02,  # IoU a candidate may lose on a class and still be promoted
    "min_reviewed": 5,  # reviewed detections before the review rates count
    "false_positive_rate": 0.3,  # -> retrain
    "miss_rate": 0.3,  # corrected captures with painted misses / corrected captures -> retrain
    "confidence_drop": 0.1,  # mean confidence, absolute -> retrain
    # |mean - mean_train| / std_train, worst channel: Cohen's "small" (0.2) and "large" (0.8) effects
    "input_shift_sd_retrain": 0.2,  # -> retrain
    "input_shift_sd_redesign": 0.8,  # -> redesign
    "std_ratio": 1.5,  # std / std_train (or its inverse), worst channel -> retrain
    "latency_ratio": 1.5,  # measured / designed (or its inverse) -> redesign
    "window_cycles": 10,  # recent cycles the figures are computed over
    "input_sample_captures": 12,  # captures whose frames are read for the input statistics
}


def promotion_verdict(
    candidate_iou: Mapping[str, float], deployed_iou: Mapping[str, float], tolerance: float
) -> tuple[bool, dict[str, float]]:
    """(promotable, per-class IoU change candidate - deployed); NaN classes are not judged."""
    deltas: dict[str, float] = {}
    for name, new in candidate_iou.items():
        old = deployed_iou.get(name)
        if old is None or not (math.isfinite(new) and math.isfinite(old)):
            continue
        deltas[name] = float(new - old)
    if not deltas:
        return False, deltas
    return all(d >= -tolerance for d in deltas.values()), deltas


# ---------------------------------------------------------------------------------------- policy
def _family(session: Session, code: str) -> PartFamily:
    family = session.scalar(select(PartFamily).where(PartFamily.code == code))
    if family is None:
        raise NotFoundError("part family", code)
    return family


def thresholds_for(session: Session, family_code: str) -> dict[str, float]:
    family = _family(session, family_code)
    policy = session.get(ModelPolicy, family.id)
    return {**DEFAULT_THRESHOLDS, **(policy.thresholds if policy else {})}


def set_thresholds(
    session: Session, family_code: str, values: Mapping[str, float], user: User | None = None
) -> dict[str, float]:
    unknown = sorted(set(values) - set(DEFAULT_THRESHOLDS))
    if unknown:
        raise InvalidInputError("thresholds", f"unknown {unknown}; known: {sorted(DEFAULT_THRESHOLDS)}")
    bad = {
        k: v for k, v in values.items() if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0)
    }
    if bad:
        raise InvalidInputError("thresholds", f"must be finite and >= 0: {bad}")
    family = _family(session, family_code)
    policy = session.get(ModelPolicy, family.id)
    if policy is None:
        policy = ModelPolicy(part_family_id=family.id, thresholds={})
        session.add(policy)
    policy.thresholds = {**policy.thresholds, **{k: float(v) for k, v in values.items()}}
    policy.updated_by_id = user.id if user else None
    session.flush()
    return {**DEFAULT_THRESHOLDS, **policy.thresholds}


# --------------------------------------------------------------------------------------- figures
def _model_cycles(session: Session, model_id: int) -> list[int]:
    return list(
        session.scalars(
            select(InspectionCycle.id)
            .where(InspectionCycle.model_id == model_id)
            .order_by(InspectionCycle.started_at, InspectionCycle.id)
        )
    )


def review_figures(session: Session, model_id: int, cycle_ids: list[int]) -> dict[str, float | int]:
    reviewed = session.execute(
        select(Defect.review_status, func.count())
        .where(Defect.model_id == model_id, Defect.cycle_id.in_(cycle_ids))
        .where(Defect.review_status != ReviewStatus.UNREVIEWED)
        .group_by(Defect.review_status)
    ).all()
    counts = {status: n for status, n in reviewed}
    total = sum(counts.values())
    captures = select(Capture.id).where(Capture.cycle_id.in_(cycle_ids))
    corrected = session.execute(
        select(LabelCorrection.capture_id, func.max(LabelCorrection.added_pixels))
        .where(LabelCorrection.capture_id.in_(captures))
        .group_by(LabelCorrection.capture_id)
    ).all()
    misses = sum(1 for _, added in corrected if (added or 0) > 0)
    return {
        "reviewed": total,
        "false_positives": counts.get(ReviewStatus.FALSE_POSITIVE, 0),
        "false_positive_rate": counts.get(ReviewStatus.FALSE_POSITIVE, 0) / total if total else 0.0,
        "corrected_captures": len(corrected),
        "captures_with_misses": misses,
        "miss_rate": misses / len(corrected) if corrected else 0.0,
    }


def confidence_figures(
    session: Session, model_id: int, first: list[int], recent: list[int]
) -> dict[str, float]:
    def mean(ids: list[int]) -> float | None:
        value = session.scalar(
            select(func.avg(Defect.confidence)).where(Defect.model_id == model_id, Defect.cycle_id.in_(ids))
        )
        return float(value) if value is not None else None

    start, now = mean(first), mean(recent)
    out: dict[str, float] = {}
    if start is not None:
        out["confidence_first"] = start
    if now is not None:
        out["confidence_recent"] = now
    if start is not None and now is not None:
        out["confidence_drop"] = start - now
    return out


def input_figures(
    session: Session,
    store: ContentStore,
    cycle_ids: list[int],
    baseline: Mapping[str, Mapping[str, float]],
    sample: int,
) -> dict[str, Any]:
    """Per-channel mean/std (unit scale) of the recent captures' frames against the training's."""
    capture_ids = list(
        session.scalars(
            select(Capture.id)
            .where(Capture.cycle_id.in_(cycle_ids))
            .order_by(Capture.id.desc())
            .limit(sample)
        )
    )
    if not capture_ids or not baseline:
        return {}
    per_channel: dict[str, list[np.ndarray]] = {}
    for frame in session.scalars(select(CaptureFrame).where(CaptureFrame.capture_id.in_(capture_ids))):
        if frame.channel not in baseline:
            continue
        image = store.read_image(frame.path, frame.sha256)
        scale = 65535.0 if image.dtype == np.uint16 else 255.0
        per_channel.setdefault(frame.channel, []).append(image.astype(np.float64).ravel() / scale)
    channels: dict[str, dict[str, float]] = {}
    worst_shift, worst_sd, worst_ratio = 0.0, 0.0, 1.0
    for name, arrays in sorted(per_channel.items()):
        values = np.concatenate(arrays)
        mean, std = float(values.mean()), float(values.std())
        ref_mean, ref_std = float(baseline[name]["mean"]), max(float(baseline[name]["std"]), 1e-6)
        shift = abs(mean / max(ref_mean, 1e-6) - 1.0)  # reported: relative change of the mean
        shift_sd = abs(mean - ref_mean) / ref_std  # the trigger's figure
        ratio = max(std / ref_std, ref_std / max(std, 1e-6))
        channels[name] = {
            "mean": mean,
            "std": std,
            "train_mean": ref_mean,
            "train_std": ref_std,
            "mean_change": shift,
            "mean_shift_sd": shift_sd,
            "std_ratio": ratio,
        }
        worst_shift, worst_sd = max(worst_shift, shift), max(worst_sd, shift_sd)
        worst_ratio = max(worst_ratio, ratio)
    return {
        "channels": channels,
        "input_shift": worst_shift,
        "input_shift_sd": worst_sd,
        "std_ratio": worst_ratio,
    }


def assess(
    session: Session,
    store: ContentStore,
    family_code: str,
    *,
    measured_latency_ms: float | None = None,
    latency_device: str = "",
) -> ModelHealthCheck:
    """Evaluate the triggers for the family's deployed model and record the result (flushed)."""
    from .registry import deployed_in

    family = _family(session, family_code)
    limits = thresholds_for(session, family_code)
    model = deployed_in(session, family.id)
    if model is None:
        raise InvalidInputError("part_family", f"{family_code!r} has no deployed model to assess")
    cycles = _model_cycles(session, model.id)
    window = max(1, int(limits["window_cycles"]))
    recent, first = cycles[-window:], cycles[:window]
    lineage = session.get(ModelLineage, model.id)
    figures: dict[str, Any] = {
        "model_version": model.version,
        "cycles": len(cycles),
        "window_cycles": len(recent),
    }
    figures.update(review_figures(session, model.id, recent))
    figures.update(confidence_figures(session, model.id, first, recent))
    figures.update(
        input_figures(
            session,
            store,
            recent,
            lineage.input_stats if lineage else {},
            int(limits["input_sample_captures"]),
        )
    )
    measured_at = None
    if measured_latency_ms is None:
        measured_latency_ms, latency_device, measured_at = _latest_latency(session, model.id)
    if measured_latency_ms is not None and model.latency_ms:
        figures["latency_ms_measured"] = float(measured_latency_ms)
        if measured_at:
            figures["latency_measured_at"] = measured_at
        figures["latency_ms_design"] = float(model.latency_ms)
        figures["latency_device"] = latency_device or model.latency_device
        figures["latency_ratio"] = max(
            measured_latency_ms / model.latency_ms, model.latency_ms / measured_latency_ms
        )
    level, reasons = judge(figures, limits)
    row = ModelHealthCheck(
        part_family_id=family.id, model_id=model.id, level=level, reasons=reasons, figures=figures
    )
    session.add(row)
    session.flush()
    return row


LATENCY_LOOKBACK = 50  # checks of a model searched for its latest latency measurement


def _latest_latency(session: Session, model_id: int) -> tuple[float | None, str, str | None]:
    """(ms, device, when) of the newest check of this model that carried a latency measurement."""
    rows = session.scalars(
        select(ModelHealthCheck)
        .where(ModelHealthCheck.model_id == model_id)
        .order_by(ModelHealthCheck.created_at.desc(), ModelHealthCheck.id.desc())
        .limit(LATENCY_LOOKBACK)
    )
    for row in rows:
        if "latency_ms_measured" in row.figures:
            when = row.figures.get("latency_measured_at") or row.created_at.isoformat()
            return float(row.figures["latency_ms_measured"]), str(row.figures["latency_device"]), when
    return None, "", None


def judge(figures: Mapping[str, Any], limits: Mapping[str, float]) -> tuple[HealthLevel, list[str]]:
    """The flag and the sentences that explain it, from the figures and the family's thresholds."""
    retrain: list[str] = []
    redesign: list[str] = []
    fp_rate = figures.get("false_positive_rate", 0.0)
    if figures.get("reviewed", 0) >= limits["min_reviewed"] and fp_rate > limits["false_positive_rate"]:
        retrain.append(
            f"{figures['false_positives']} of {figures['reviewed']} reviewed detections are false "
            f"positives ({100 * fp_rate:.0f} % > {100 * limits['false_positive_rate']:.0f} %)"
        )
    if figures.get("corrected_captures", 0) and figures["miss_rate"] > limits["miss_rate"]:
        retrain.append(
            f"engineers painted missed defects on {figures['captures_with_misses']} of "
            f"{figures['corrected_captures']} corrected captures"
        )
    if figures.get("confidence_drop", 0.0) > limits["confidence_drop"]:
        retrain.append(
            f"mean confidence fell from {figures['confidence_first']:.2f} "
            f"to {figures['confidence_recent']:.2f}"
        )
    shift_sd, change = figures.get("input_shift_sd", 0.0), figures.get("input_shift", 0.0)
    if shift_sd > limits["input_shift_sd_redesign"]:
        redesign.append(
            f"input mean moved by {shift_sd:.2f} training sd (> {limits['input_shift_sd_redesign']:.2f}; "
            f"{100 * change:.0f} % of the mean)"
        )
    elif shift_sd > limits["input_shift_sd_retrain"] or figures.get("std_ratio", 1.0) > limits["std_ratio"]:
        retrain.append(
            f"input statistics changed: mean by {shift_sd:.2f} training sd ({100 * change:.0f} %), "
            f"std ratio {figures.get('std_ratio', 1.0):.2f}"
        )
    if figures.get("latency_ratio", 1.0) > limits["latency_ratio"]:
        redesign.append(
            f"latency {figures['latency_ms_measured']:.1f} ms on {figures['latency_device']} against "
            f"{figures['latency_ms_design']:.1f} ms designed"
        )
    if redesign:
        return HealthLevel.REDESIGN, redesign + retrain
    if retrain:
        return HealthLevel.RETRAIN, retrain
    return HealthLevel.OK, []


def latest_health(session: Session, family_code: str) -> ModelHealthCheck | None:
    family = _family(session, family_code)
    return session.scalar(
        select(ModelHealthCheck)
        .where(ModelHealthCheck.part_family_id == family.id)
        .order_by(ModelHealthCheck.created_at.desc(), ModelHealthCheck.id.desc())
        .limit(1)
    )


def health_out(session: Session, row: ModelHealthCheck, family_code: str) -> dict[str, Any]:
    model = session.get(DetectionModel, row.model_id) if row.model_id else None
    return {
        "part_family": family_code,
        "model_version": model.version if model else None,
        "level": row.level,
        "reasons": list(row.reasons),
        "figures": dict(row.figures),
        "created_at": row.created_at,
    }
