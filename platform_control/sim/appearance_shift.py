"""A simulator option for the model-life tests (issue 18): blades whose defects look markedly different
and whose coating comes from another lot, as a plant sees after a process change.

`strength` s in [0, 1]: every defect class's per-channel diffuse multiplier m becomes m ** (1 - 2 s)
(s = 0.5 erases the defect's colour contrast, s = 1 inverts it: dark cracks turn bright), its specular
and fluorescence multipliers likewise; the coating's diffuse albedo and fluorescence grow by
(1 + 0.6 s) while the exposure stays calibrated for the nominal coating, so the frames' statistics
shift as a real change of coating lot would shift them. Geometry, and hence the masks, do not change.
"""

from __future__ import annotations

from platform_control.sim.defects import DefectsConfig
from platform_control.sim.optics import OpticsConfig

DEFECT_KINDS = ("crack", "nick", "dent", "pitting", "coating_loss", "burn")
COATING_GAIN = 0.6


def _check(strength: float) -> float:
    s = float(strength)
    if not 0.0 <= s <= 1.0:
        raise ValueError(f"appearance shift must be in [0, 1], got {strength}")
    return s


def shifted_defects(config: DefectsConfig, strength: float) -> DefectsConfig:
    s = _check(strength)
    power = 1.0 - 2.0 * s
    update = {}
    for kind in DEFECT_KINDS:
        cls = config.of(kind)
        update[kind] = cls.model_copy(
            update={
                "diffuse": {c: float(m) ** power for c, m in cls.diffuse.items()},
                "specular": float(cls.specular) ** power,
                "fluorescence": max(float(cls.fluorescence), 1e-3) ** power,
            }
        )
    return config.model_copy(update=update)


def shifted_optics(optics: OpticsConfig, strength: float) -> OpticsConfig:
    s = _check(strength)
    coating = optics.materials["coating"]
    gain = 1.0 + COATING_GAIN * s
    new = coating.model_copy(
        update={
            "diffuse": {c: v * gain for c, v in coating.diffuse.items()},
            "fluorescence": {c: v * gain for c, v in coating.fluorescence.items()},
        }
    )
    return optics.model_copy(update={"materials": {**optics.materials, "coating": new}})
