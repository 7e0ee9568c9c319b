"""The blade's verdict from its defects: which defects make a blade go to the reject bin.

A defect rejects the blade when its class is listed and its physical area reaches the class's limit
(`reject_area_mm2`; 0 = any size, as for cracks) with at least `min_confidence`. Classes the rules do
not name reject (an unknown finding is never waved through). Limits come from the coordinator's YAML.
The blade's verdict label ("pass"/"fail") is made here only (`verdict_label`), for the detections file,
the record and the technician's summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AcceptanceRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reject_area_mm2: dict[str, float] = Field(
        default_factory=lambda: {
            "crack": 0.0,
            "nick": 0.5,
            "dent": 2.0,
            "pitting": 2.0,
            "coating_loss": 4.0,
            "burn": 4.0,
        }
    )
    min_confidence: float = Field(default=0.5, ge=0, le=1)


@dataclass(frozen=True)
class Verdict:
    reject: bool
    reasons: tuple[str, ...]

    @property
    def label(self) -> str:
        return verdict_label(self.reject)


def verdict_label(reject: bool) -> str:
    """The verdict's word: "fail" sends the blade to the reject bin."""
    return "fail" if reject else "pass"


def rejecting(
    defects: Iterable[Mapping[str, Any]], rules: AcceptanceRules
) -> list[tuple[Mapping[str, Any], str]]:
    """The defects that reject the blade, each with the reason (the station lists them)."""
    out = []
    for d in defects:
        if d["confidence"] < rules.min_confidence:
            continue
        limit = rules.reject_area_mm2.get(d["defect_class"])
        where = f"viewpoint {d.get('viewpoint_index', '?')}"
        if limit is None:
            out.append((d, f"{d['defect_class']} (class without an acceptance limit) at {where}"))
        elif d["area_mm2"] >= limit:
            out.append((d, f"{d['defect_class']} {d['area_mm2']:.2f} mm² >= {limit} mm² at {where}"))
    return out


def judge(defects: Iterable[Mapping[str, Any]], rules: AcceptanceRules) -> Verdict:
    """Defects are `DefectRegion.to_dict()` records (with `viewpoint_index`)."""
    reasons = tuple(reason for _, reason in rejecting(defects, rules))
    return Verdict(bool(reasons), reasons)
