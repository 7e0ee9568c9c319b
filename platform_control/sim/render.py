"""Multispectral rendering of the blade at the current cell state, with pixel-exact defect masks.

Pipeline per viewpoint: MuJoCo geometry pass (depth, geom ids, normals) -> blade pixels to blade-frame
points and normals -> intact coating + defects (`appearance.py`) -> per light channel, ring response
and material radiance (`shading.py`) -> sensor (`sensor.py`: vignetting, defocus, shot/read noise,
gain, ADC). Geometry, appearance, the defocus plan and radiance are cached per cell state, so the six
channels of a capture cost one geometry pass. Only the pixels that see something are shaded; the rest
of the frame gets the sensor's dark signal and read noise.

Frame size: the optics' sensor width x height (`OpticsConfig.with_binning` for the camera's whole
sensor binned 1x, 2x, 4x; `with_resolution` for a central crop of another size). Every capture states
its size, binning and pixel footprint on the blade (`frame_metadata`).

Exposure calibration: each channel's sensitivity is set so that the intact coating, facing the camera at
the focus point, reaches `target_level` of full scale at the imaging plan's exposure and gain; other
exposures and gains scale from there as on a real camera.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import mujoco
import numpy as np
import trimesh

from platform_control.camera import camera_optical_pose
from platform_control.imaging import ImagingPlan, UnknownChannelError, load_imaging_plan
from platform_control.params import CameraParams, CellLayout
from platform_control.sim.appearance import PixelAppearance, apply_defects, intact_appearance
from platform_control.sim.cell_model import CellModel
from platform_control.sim.defects import Defect, DefectsConfig, load_defects_config
from platform_control.sim.geometry_pass import GeometryFrame, GeometryPass
from platform_control.sim.optics import OpticsConfig, load_optics
from platform_control.sim.sensor import DefocusPlan, SensorModel, frame_metadata
from platform_control.sim.shading import LedRing, RingResponse, build_ring, channel_radiance, ring_response


@dataclass
class SimBlade:
    """The blade being simulated: mesh (blade frame), its synthetic defects and surface texture seed."""

    mesh: trimesh.Trimesh
    defects: list[Defect] = field(default_factory=list)
    texture_seed: int = 0


@dataclass
class SceneFrame:
    """Everything about one cell state that does not depend on the light channel.

    Shape: mask, instances (H, W); blade_pixels / other_pixels flat pixel indices, blade_points /
    other_points (N, 3) their world points; defocus: the depth map's blur, shared by all channels."""

    geometry: GeometryFrame
    blade_pixels: np.ndarray
    other_pixels: np.ndarray
    blade_points: np.ndarray
    other_points: np.ndarray
    blade: PixelAppearance | None
    other: PixelAppearance | None
    mask: np.ndarray
    instances: np.ndarray
    defocus: DefocusPlan
    responses: dict[str, tuple[RingResponse | None, RingResponse | None]] = field(default_factory=dict)
    radiance: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class RenderedCapture:
    """One viewpoint's frames (C, H, W) with the class mask (H, W) and defect instance map (H, W).

    `frame`: the frame's size, binning and pixel footprint (`MultispectralRenderer.frame_metadata`)."""

    channels: tuple[str, ...]
    frames: np.ndarray
    mask: np.ndarray
    instances: np.ndarray
    exposure_ms: tuple[float, ...]
    gain: tuple[float, ...]
    frame: dict[str, float | int] = field(default_factory=dict)

    def metadata(self) -> dict[str, object]:
        """JSON-serialisable description (everything but the pixels)."""
        return {
            "channels": [
                {"channel": c, "exposure_ms": e, "gain": g}
                for c, e, g in zip(self.channels, self.exposure_ms, self.gain, strict=True)
            ],
            **self.frame,
        }


class MultispectralRenderer:
    """Renders the inspection camera's frames for a `CellModel` state.

    Args:
        cell: the compiled cell (with the blade mesh as its blade geom).
        blade: the blade's defects and texture (None: no blade in the cell).
        camera, layout: camera.yaml and cell_layout.yaml parameters.
        optics, defects_config, plan: defaults from the config files.
    """

    def __init__(
        self,
        cell: CellModel,
        blade: SimBlade | None,
        camera: CameraParams,
        layout: CellLayout,
        optics: OpticsConfig | None = None,
        defects_config: DefectsConfig | None = None,
        plan: ImagingPlan | None = None,
    ) -> None:
        self.cell = cell
        self.blade = blade
        self.optics = optics or load_optics()
        self.defects_config = defects_config or load_defects_config()
        self.plan = plan or load_imaging_plan()
        self.channels = self.optics.channel_names
        self.sensor = SensorModel(self.optics.sensor, camera)
        cfg = self.optics.sensor
        self.geometry_pass = GeometryPass(cell.model, cell.camera, cfg.width, cfg.height)
        pose = camera_optical_pose(layout)
        self.rings: dict[str, LedRing] = {
            name: build_ring(name, ring, pose, camera.working_distance)
            for name, ring in self.optics.rings.items()
        }
        self._ref_point = pose[:3, 3] + camera.working_distance * pose[:3, 2]
        self._ref_normal = -pose[:3, 2]
        self._camera_position = pose[:3, 3]
        self.electrons_per_unit = {c: self._calibrate(c) for c in self.channels if c in self.plan.order}
        self._cache_key: np.ndarray | None = None
        self._scene: SceneFrame | None = None

    def close(self) -> None:
        self.geometry_pass.close()

    def shift_appearance(self, strength: float) -> None:
        """Render defects and coating shifted (`appearance_shift`), exposure still calibrated for the
        nominal coating; drops the cached scene."""
        from platform_control.sim.appearance_shift import shifted_defects, shifted_optics

        self.defects_config = shifted_defects(self.defects_config, strength)
        self.optics = shifted_optics(self.optics, strength)
        self.invalidate()

    def invalidate(self) -> None:
        """Forget the cached scene (the next frame renders the geometry again)."""
        self._cache_key, self._scene = None, None

    def set_blade(self, blade: SimBlade | None) -> None:
        """Swap the blade's defects/texture (same mesh as the model's blade geom); drops the cache."""
        self.blade = blade
        self._cache_key, self._scene = None, None

    # ------------------------------------------------------------------------------------ scene
    def scene(self, data: mujoco.MjData) -> SceneFrame:
        """Geometry and appearance at the state of `data` (kinematics up to date); cached while the
        cell stays within 2 um / 2 urad of the cached state (a settled drive's residual creep is far
        below a pixel and must not cost a new render for every channel)."""
        key = np.concatenate([data.qpos, data.mocap_pos.ravel(), data.mocap_quat.ravel()])
        cached = self._cache_key
        if self._scene is not None and cached is not None and np.max(np.abs(key - cached)) < 2e-6:
            return self._scene
        self._scene = self.build_scene(data, self.geometry_pass.render(data))
        self._cache_key = key
        return self._scene

    def build_scene(self, data: mujoco.MjData, geo: GeometryFrame) -> SceneFrame:
        """Appearance, masks and blur of a rendered geometry frame at the state of `data` (uncached;
        `scene` is the cached entry point)."""
        h, w = geo.depth.shape
        seen_geom = geo.geom.reshape(-1)[geo.pixels]
        is_blade = (
            seen_geom == self.cell.blade_geom if self.cell.blade_geom >= 0 else np.zeros(len(seen_geom), bool)
        )
        blade_px, other_px = geo.pixels[is_blade], geo.pixels[~is_blade]
        blade_world, other_world = geo.points[is_blade], geo.points[~is_blade]
        mask = np.zeros(h * w, np.uint8)
        instances = np.full(h * w, -1, np.int16)
        blade_app = None
        if blade_px.size and self.blade is not None:
            pose = self.cell.body_pose(data, self.cell.blade_body)
            rot, origin = pose[:3, :3].astype(np.float32), pose[:3, 3].astype(np.float32)
            # row vectors: x_b = R^T (x_w - t)  <=>  x_b = (x_w - t) @ R  (einsum: no BLAS threads)
            points_b = np.einsum("ni,ij->nj", blade_world - origin, rot)
            normals_b = np.einsum("ni,ij->nj", geo.normals[is_blade], rot)
            blade_app = intact_appearance(
                points_b,
                normals_b,
                self.optics.materials["coating"],
                self.optics.texture,
                self.channels,
                self.blade.texture_seed,
            )
            apply_defects(blade_app, points_b, self.blade.defects, self.defects_config)
            blade_app.normals = np.einsum("nj,ij->ni", blade_app.normals, rot)  # back to world for shading
            mask[blade_px] = blade_app.labels
            instances[blade_px] = blade_app.instances
        other_app = None
        if other_px.size:
            other_app = intact_appearance(
                other_world,
                geo.normals[~is_blade],
                self.optics.materials["fixture"],
                self.optics.texture.model_copy(update={"grinding_amplitude": 0}),
                self.channels,
                0,
            )
            shade = self.geometry_pass.geom_rgba[seen_geom[~is_blade], :3].mean(axis=1) / 0.5
            other_app.diffuse *= np.clip(shade, 0.1, 2.0).astype(np.float32)[None]
        return SceneFrame(
            geo,
            blade_px,
            other_px,
            blade_world,
            other_world,
            blade_app,
            other_app,
            mask.reshape(h, w),
            instances.reshape(h, w),
            self.sensor.defocus_plan(geo.depth, geo.pixels),
        )

    # -------------------------------------------------------------------------------- radiance
    def _responses(self, scene: SceneFrame, ring: str) -> tuple[RingResponse | None, RingResponse | None]:
        if ring not in scene.responses:
            out = []
            for pts, app in ((scene.blade_points, scene.blade), (scene.other_points, scene.other)):
                if app is None:
                    out.append(None)
                    continue
                out.append(
                    ring_response(
                        pts, app.normals, scene.geometry.camera_position, app.roughness, self.rings[ring]
                    )
                )
            scene.responses[ring] = (out[0], out[1])
        return scene.responses[ring]

    def radiance(self, scene: SceneFrame, channel: str) -> np.ndarray:
        """Radiance (H, W) float32 towards the camera under `channel` (0 where nothing is seen)."""
        if channel not in self.channels:
            raise UnknownChannelError(
                f"simulated light ring has no channel '{channel}' ({list(self.channels)})"
            )
        if channel not in scene.radiance:
            h, w = scene.mask.shape
            out = np.zeros(h * w, np.float32)
            k = self.channels.index(channel)
            responses = self._responses(scene, self.optics.channels[channel].ring)
            cavity = self.defects_config.cavity_response.get(channel, 1.0)
            for pixels, app, resp in zip(
                (scene.blade_pixels, scene.other_pixels), (scene.blade, scene.other), responses, strict=True
            ):
                if app is None or resp is None:
                    continue
                out[pixels] = channel_radiance(
                    resp, app.diffuse[k], app.specular[k], app.fluorescence[k], app.cavity, cavity
                )
            scene.radiance[channel] = out.reshape(h, w)
        return scene.radiance[channel]

    def _calibrate(self, channel: str) -> float:
        mat = self.optics.materials["coating"]
        ring = self.rings[self.optics.channels[channel].ring]
        resp = ring_response(
            self._ref_point[None],
            self._ref_normal[None],
            self._camera_position,
            np.array([mat.roughness]),
            ring,
        )
        radiance = float(
            channel_radiance(
                resp,
                np.float32(mat.diffuse[channel]),
                np.float32(mat.specular[channel]),
                np.float32(mat.fluorescence[channel]),
            )[0]
        )
        setting = self.plan.setting(channel)
        target = self.optics.channels[channel].target_level * self.sensor.full_scale_electrons(setting.gain)
        return target / (radiance * setting.exposure_ms)

    # ---------------------------------------------------------------------------------- frames
    def expose(
        self,
        scene: SceneFrame,
        channel: str | None,
        exposure_ms: float,
        gain_db: float,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """One frame under `channel` (None: all lights off, a dark frame)."""
        cfg = self.optics.sensor
        if channel is None:
            radiance = np.zeros((cfg.height, cfg.width), np.float32)
            return self.sensor.expose(
                radiance, exposure_ms, gain_db, 0.0, rng, signal_pixels=np.empty(0, np.int64)
            )
        if channel not in self.electrons_per_unit:
            raise UnknownChannelError(
                f"channel '{channel}' is not in the imaging plan {list(self.plan.order)}"
            )
        return self.sensor.expose(
            self.radiance(scene, channel),
            exposure_ms,
            gain_db,
            self.electrons_per_unit[channel],
            rng,
            scene.defocus,
            scene.geometry.pixels,
        )

    def capture(
        self, data: mujoco.MjData, rng: np.random.Generator, channels: Sequence[str] | None = None
    ) -> RenderedCapture:
        """All channels of the imaging plan (or `channels`) at the state of `data`, with the mask."""
        scene = self.scene(data)
        plan = self.plan if channels is None else self.plan.only(channels)
        frames = [self.expose(scene, s.channel, s.exposure_ms, s.gain, rng) for s in plan.channels]
        return RenderedCapture(
            plan.order,
            np.stack(frames),
            scene.mask.copy(),
            scene.instances.copy(),
            tuple(s.exposure_ms for s in plan.channels),
            tuple(s.gain for s in plan.channels),
            self.frame_metadata(),
        )

    def frame_metadata(self) -> dict[str, float | int]:
        """Size, binning and pixel footprint of this renderer's frames (`sensor.frame_metadata`)."""
        return frame_metadata(self.sensor.camera, self.sensor.config.width, self.sensor.config.height)
