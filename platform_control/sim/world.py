"""The simulated cell as a running cell sees it: one `SimCell`, its drivers, and a world that outlives the
driver process.

* One MuJoCo world for arm, stage, gripper, lights and camera (`platform_control.sim.SimCell`); the
  arm, stage and imaging nodes of the `sim_cell` process all use this object's drivers.
* Persistence: hardware keeps its physical state when a driver process dies. After every motion and
  gripper action the world writes `state_file` (blade model, where the blade is, stage axes, arm
  joints); a restarted process restores it, so a cycle resumed after a crash finds the blade on the
  fixture and the stage and the arm where they stopped (`SimCell.set_stage_axes` / `set_arm_joints`).
  A blade that was in the gripper is put back where the gripper took it from (the simulated operator
  re-seats it; its grip pose is not saved): the tray during a LOAD, the fixture during an UNLOAD, so
  the resumed step picks it again from wherever the arm stands (an UNLOAD resumed with the blade in
  the tray used to grip at the fixture and close on nothing).
* Restocking: when the blade went to the reject bin, the simulated operator puts the next blade (seed
  + 1) into the tray before the arm's next LOAD (arm at home, stage at its load pose), so the cell can
  run cycle after cycle.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

import platform_control.sim  # noqa: F401  (selects the offscreen GL back-end before mujoco loads)
from platform_control.atomic_io import atomic_write_text
from platform_control.blade import blade_preset, generate_blade, label_mask
from platform_control.hardware import JointState, LimitViolation, ProgressCallback
from platform_control.params import load_camera_params
from platform_control.pick_place import load_pick_place_config
from platform_control.sim.cell import SimCell, SimConfig
from platform_control.sim.defects import load_defects_config
from platform_control.sim.drivers import SimDrivers
from platform_control.sim.optics import OpticsConfig, load_optics
from platform_control.sim.placement import BladeSurface, sample_defects
from platform_control.sim.render import SimBlade
from platform_control.trajectory import JointTrajectory

log = logging.getLogger(__name__)
STATE_VERSION = 1
RESTORE_TOLERANCE = 1e-4  # rad, m: saved joints this far outside a limit (servo overshoot) are clipped


@dataclass(frozen=True)
class SimBladeSpec:
    """The simulated blade: generator preset and seed, and its random defects."""

    preset: str = "small"
    seed: int = 3
    defects_min: int = 4
    defects_max: int = 8
    defect_classes: tuple[str, ...] = ()  # empty: random classes
    texture_seed: int = 5

    def build(self) -> SimBlade:
        mesh = generate_blade(blade_preset(self.preset), seed=self.seed)
        surface = BladeSurface(mesh, label_mask(mesh, ["airfoil"]))
        rng = np.random.default_rng([self.seed, 1])
        count = (self.defects_min, self.defects_max)
        classes = list(self.defect_classes) or None
        defects = sample_defects(surface, rng, count, classes) if self.defects_max > 0 else []
        return SimBlade(mesh, defects, self.texture_seed)


def world_optics(resolution: int, binning: int) -> OpticsConfig:
    """The frames the world's camera renders: the camera's whole sensor binned `binning` x `binning`
    (native 2448 x 2048 at 1, the physical pixel footprint a crack needs), or with `binning` 0 a square
    `resolution` frame of the sensor's centre (small, for tests and quick runs)."""
    if isinstance(binning, bool) or not isinstance(binning, int) or binning < 0:
        raise ValueError(f"binning must be 0 (use the resolution) or a positive integer, got {binning!r}")
    optics = load_optics()
    if binning:
        return optics.with_binning(load_camera_params(), binning)
    return optics.with_resolution(resolution, resolution)


class SimWorld:
    """Owns the current `SimCell` and exposes protocol drivers that follow it across restocks."""

    def __init__(
        self,
        blade: SimBladeSpec,
        config: SimConfig | None = None,
        *,
        resolution: int = 1024,
        binning: int = 0,
        state_file: Path | None = None,
        restore: bool = True,
    ) -> None:
        self.config = config or SimConfig()
        self.optics = world_optics(resolution, binning)
        self.pick_place = load_pick_place_config()
        self.label_classes = load_defects_config().classes
        self.state_file = Path(state_file) if state_file else None
        self._lock = threading.RLock()
        # EGL contexts are current in one thread only: every render (and the renderer's release) runs here
        self.gl_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sim-gl")
        self.blade_spec = blade
        self.picked_from = "tray"  # where the blade was when the gripper last closed on it
        saved = self._read_state() if (restore and self.state_file) else None
        if saved is not None:
            spec = SimBladeSpec(
                **{**saved["blade"], "defect_classes": tuple(saved["blade"]["defect_classes"])}
            )
            if saved["holder"] in ("reject_bin", "loose"):  # the operator has put the next blade in
                spec = replace(spec, seed=spec.seed + 1)
            self.blade_spec = spec
        self.cell = self._build_cell(self.blade_spec)
        self.drivers = SimDrivers(self.cell)
        if saved is not None:
            self._restore(saved)
        self.arm = _WorldMotion(self, "arm")
        self.stage = _WorldMotion(self, "stage")
        self.gripper = _WorldGripper(self)
        self.lights = _WorldLights(self)
        self.camera = _WorldCamera(self)
        self.save()

    # ------------------------------------------------------------------------------ building
    def _build_cell(self, spec: SimBladeSpec) -> SimCell:
        return SimCell(spec.build(), self.config, optics=self.optics, pick_place=self.pick_place)

    def close(self) -> None:
        with self._lock:
            self.gl_thread.submit(self.cell.close).result()
            self.gl_thread.shutdown()

    @property
    def blade_holder(self) -> str:
        return self.cell.blade_holder

    def restock_if_needed(self) -> bool:
        """A new blade (seed + 1) into the tray if the last one went to the reject bin or fell loose."""
        with self._lock:
            if self.cell.blade_holder not in ("reject_bin", "loose"):
                return False
            arm = self.cell.joint_state("arm").positions
            stage = self.cell.joint_state("stage").positions
            if (
                np.max(np.abs(arm - self.pick_place.home)) > 1e-3
                or np.max(np.abs(stage - self.pick_place.stage_load_axes)) > 1e-4
            ):
                log.warning("not restocking the tray: arm or stage away from its load position")
                return False
            self.gl_thread.submit(self.cell.close).result()
            self.blade_spec = replace(self.blade_spec, seed=self.blade_spec.seed + 1)
            self.cell = self._build_cell(self.blade_spec)
            self.drivers = SimDrivers(self.cell)
            log.info("simulated operator put blade seed %d into the tray", self.blade_spec.seed)
            self.save()
            return True

    # ----------------------------------------------------------------------------- persistence
    def snapshot(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "blade": {**asdict(self.blade_spec), "defect_classes": list(self.blade_spec.defect_classes)},
            "holder": self.cell.blade_holder,
            "picked_from": self.picked_from,
            "stage_axes": self.cell.joint_state("stage").positions.tolist(),
            "arm_joints": self.cell.joint_state("arm").positions.tolist(),
        }

    def save(self) -> None:
        if self.state_file is None:
            return
        with self._lock:
            atomic_write_text(self.state_file, json.dumps(self.snapshot(), indent=1))

    def _read_state(self) -> dict[str, Any] | None:
        assert self.state_file is not None
        if not self.state_file.is_file():
            return None
        try:
            data = json.loads(self.state_file.read_text())
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"version {data.get('version')!r}")
            return data
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring simulator state %s: %s", self.state_file, exc)
            return None

    def _restore(self, saved: dict[str, Any]) -> None:
        holder = saved["holder"]
        seat = saved.get("picked_from", "tray") if holder == "gripper" else holder
        if seat in ("fixture", "tray"):
            self.cell.place_blade(seat)
            self.picked_from = seat
        axes = self._restore_joints("stage", saved["stage_axes"], self.cell.set_stage_axes)
        arm = self._restore_joints("arm", saved["arm_joints"], self.cell.set_arm_joints)
        if holder == "gripper":
            log.warning(
                "the blade was in the gripper when the simulator stopped; it restarts in the %s, where the "
                "gripper took it from",
                seat,
            )
        log.info(
            "simulator restored: blade %s, stage %s, arm %s",
            holder,
            axes.round(5).tolist(),
            arm.round(4).tolist(),
        )

    def _restore_joints(self, group: str, values: Any, set_joints) -> np.ndarray:
        """Put `group` at its saved values; values a hair outside a limit (a servo's overshoot at a
        limit) are clipped, anything else invalid leaves the group where it starts (warning)."""
        lo_hi = np.asarray(self.cell.limits[group][0], dtype=float)
        try:
            saved = np.asarray(values, dtype=float)
            if saved.shape != lo_hi[:, 0].shape:
                raise ValueError(f"expected {len(lo_hi)} values, got shape {saved.shape}")
            clipped = np.clip(saved, lo_hi[:, 0], lo_hi[:, 1])
            if np.max(np.abs(clipped - saved)) > RESTORE_TOLERANCE:
                raise ValueError(f"outside the joint limits by more than {RESTORE_TOLERANCE}")
            set_joints(clipped)
        except (TypeError, ValueError, LimitViolation) as exc:
            log.warning("not restoring the %s to %r (%s); it restarts where it starts", group, values, exc)
        return self.cell.joint_state(group).positions  # type: ignore[arg-type]


class _WorldMotion:
    """`ArmDriver` / `StageDriver` of the world's current cell; saves the world after each motion."""

    def __init__(self, world: SimWorld, group: str) -> None:
        self.world = world
        self.group = group

    def _driver(self):
        return self.world.drivers.arm if self.group == "arm" else self.world.drivers.stage

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._driver().joint_names

    def joint_state(self) -> JointState:
        return self._driver().joint_state()

    def follow(self, trajectory: JointTrajectory, progress_cb: ProgressCallback | None = None) -> None:
        if self.group == "arm":
            self.world.restock_if_needed()
        try:
            self._driver().follow(trajectory, progress_cb)
        finally:
            self.world.save()

    def stop(self) -> None:
        """Latch and brake to standstill (`SimCell.stop` is a controlled stop through the physics)."""
        self._driver().stop()
        self.world.save()

    def reset(self) -> None:
        self._driver().reset()

    def estop_active(self) -> bool:
        return self.world.cell.estop_active(self.group)  # type: ignore[arg-type]


class _WorldGripper:
    def __init__(self, world: SimWorld) -> None:
        self.world = world

    def open(self) -> None:
        self.world.drivers.gripper.open()
        self.world.save()

    def close(self) -> None:
        before = self.world.blade_holder
        self.world.drivers.gripper.close()
        if self.world.blade_holder == "gripper" and before in ("tray", "fixture"):
            self.world.picked_from = before
        self.world.save()

    def holding(self) -> bool:
        return self.world.drivers.gripper.holding()


class _WorldLights:
    def __init__(self, world: SimWorld) -> None:
        self.world = world

    @property
    def channels(self) -> tuple[str, ...]:
        return self.world.drivers.lights.channels

    def set(self, channel: str) -> None:
        self.world.drivers.lights.set(channel)

    def off(self) -> None:
        self.world.drivers.lights.off()


class _WorldCamera:
    """`Camera` of the current cell; `last_label()` is the pixel-exact class mask of the last frame."""

    def __init__(self, world: SimWorld) -> None:
        self.world = world

    def capture(self, exposure_ms: float, gain: float) -> np.ndarray:
        camera = self.world.drivers.camera
        return self.world.gl_thread.submit(camera.capture, exposure_ms, gain).result()

    def last_label(self) -> np.ndarray | None:
        mask = self.world.drivers.camera.last_mask
        return None if mask is None else np.asarray(mask, dtype=np.uint8)

    def wait(self, seconds: float) -> None:
        """Simulated time passes (settling, light switching) with every drive holding."""
        self.world.cell.wait(seconds)

    def clock(self) -> float:
        return self.world.cell.time
