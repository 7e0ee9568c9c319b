"""Frozen copy of the simulator's rendering before issue 15 (commit 3bc50dd): the oracle that the
fast renderer is compared against, in the equivalence tests (`test_render_equivalence.py`) and side by
side in `benchmarks/sim_render.py`. Never used by the cell; do not "fix" it (it is the old behaviour).

Contents: the old `GeometryPass` (four full-frame MuJoCo passes, 4x multisampled unless `offsamples`
says otherwise), `ring_response` (per-LED loop over
all pixels), `SensorModel` (full-frame defocus and noise) and `MultispectralRenderer` (scene, radiance,
expose). Appearance and defects are shared with the package (`intact_appearance`, `apply_defects`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import platform_control.sim  # noqa: F401  (selects the EGL back-end before mujoco loads)

# isort: split
import cv2
import mujoco
import numpy as np

from platform_control.camera import camera_optical_pose
from platform_control.imaging import ImagingPlan, UnknownChannelError, load_imaging_plan
from platform_control.params import CameraParams, CellLayout
from platform_control.sim.appearance import PixelAppearance, apply_defects, intact_appearance
from platform_control.sim.cell_model import CellModel
from platform_control.sim.defects import DefectsConfig, load_defects_config
from platform_control.sim.geometry_pass import NORMAL_LIGHT_PREFIX
from platform_control.sim.optics import OpticsConfig, SensorConfig, load_optics
from platform_control.sim.render import SimBlade
from platform_control.sim.sensor import frame_geometry
from platform_control.sim.shading import LedRing, RingResponse, build_ring


@dataclass
class GeometryFrame:
    """What the camera sees. Shape: depth (H, W) m along the optical axis (inf = nothing);
    geom (H, W) int32 geom id (-1 = nothing); points, normals (H, W, 3) world frame;
    camera_position (3,) world."""

    depth: np.ndarray
    geom: np.ndarray
    points: np.ndarray
    normals: np.ndarray
    camera_position: np.ndarray


class GeometryPass:
    """Renders `GeometryFrame`s from `camera` (a MuJoCo camera name) at width x height.

    The model's geom colours are set to white for the normal pass (the original colours are kept in
    `geom_rgba` for shading); only geom groups in `visible_groups` are drawn.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        camera: str,
        width: int,
        height: int,
        visible_groups: tuple[int, ...] = (1, 2),
        geom_rgba: np.ndarray | None = None,
        offsamples: int = 4,
    ) -> None:
        self.model = model
        self.camera_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
        if self.camera_id < 0:
            raise ValueError(f"model has no camera '{camera}'")
        self.width, self.height = width, height
        self.geom_rgba = model.geom_rgba.copy() if geom_rgba is None else geom_rgba
        model.geom_rgba[:] = (1, 1, 1, 1)
        model.geom_matid[:] = -1
        model.vis.headlight.active = 0
        names = [model.light(i).name for i in range(model.nlight)]
        self._pos = [names.index(f"{NORMAL_LIGHT_PREFIX}pos_{a}") for a in "xyz"]
        self._neg = [names.index(f"{NORMAL_LIGHT_PREFIX}neg_{a}") for a in "xyz"]
        model.light_active[:] = 0
        self.option = mujoco.MjvOption()
        self.option.geomgroup[:] = 0
        for g in visible_groups:
            self.option.geomgroup[g] = 1
        previous, model.vis.quality.offsamples = model.vis.quality.offsamples, offsamples
        self._renderer = mujoco.Renderer(model, height, width)  # (4x MSAA: the old cell model's default)
        model.vis.quality.offsamples = previous
        for flag in (
            mujoco.mjtRndFlag.mjRND_SHADOW,
            mujoco.mjtRndFlag.mjRND_REFLECTION,
            mujoco.mjtRndFlag.mjRND_SKYBOX,
            mujoco.mjtRndFlag.mjRND_FOG,
            mujoco.mjtRndFlag.mjRND_HAZE,
        ):
            self._renderer.scene.flags[flag] = 0
        fovy = np.radians(model.cam_fovy[self.camera_id])
        self.focal_px = height / 2 / np.tan(fovy / 2)
        v, u = np.mgrid[0:height, 0:width].astype(np.float32)
        self._rays = np.stack(
            [(u + 0.5 - width / 2) / self.focal_px, (v + 0.5 - height / 2) / self.focal_px], -1
        )

    def close(self) -> None:
        self._renderer.close()

    def __enter__(self) -> GeometryPass:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _render(self, data: mujoco.MjData, lights: list[int] | None = None) -> np.ndarray:
        self.model.light_active[:] = 0
        if lights:
            self.model.light_active[lights] = 1
        self._renderer.update_scene(data, camera=self.camera_id, scene_option=self.option)
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION):
            self._renderer.scene.flags[flag] = 0
        return self._renderer.render()

    def render(self, data: mujoco.MjData) -> GeometryFrame:
        """Depth, segmentation and normal passes at the current state of `data` (kinematics must be
        up to date, e.g. after `mj_step` or `mj_forward`)."""
        r = self._renderer
        r.enable_depth_rendering()
        depth = self._render(data).astype(np.float32, copy=True)
        r.disable_depth_rendering()
        r.enable_segmentation_rendering()
        seg = self._render(data)
        r.disable_segmentation_rendering()
        geom = np.where(seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM), seg[..., 0], -1).astype(np.int32)
        plus = self._render(data, self._pos).astype(np.float32)
        minus = self._render(data, self._neg).astype(np.float32)
        self.model.light_active[:] = 0
        normals = (plus - minus) / 255.0
        norm = np.linalg.norm(normals, axis=-1, keepdims=True)
        normals = np.where(norm > 1e-3, normals / np.maximum(norm, 1e-6), 0).astype(np.float32)
        depth[geom < 0] = np.inf
        # camera frame: MuJoCo cameras look along -z with y up; rays are in the OpenCV convention
        cam_pos = data.cam_xpos[self.camera_id].copy()
        cam_rot = data.cam_xmat[self.camera_id].reshape(3, 3)
        finite = np.where(np.isfinite(depth), depth, 0)
        local = np.stack([self._rays[..., 0] * finite, -self._rays[..., 1] * finite, -finite], -1)
        points = np.einsum("hwj,ij->hwi", local, cam_rot.astype(np.float32)) + cam_pos.astype(np.float32)
        return GeometryFrame(depth, geom, points, normals, cam_pos)


def ring_response(
    points: np.ndarray,
    normals: np.ndarray,
    camera_position: np.ndarray,
    roughness: np.ndarray,
    ring: LedRing,
) -> RingResponse:
    """Diffuse and specular response of points (N, 3) with unit normals (N, 3), world frame."""
    pts = points.astype(np.float32, copy=False)
    nrm = normals.astype(np.float32, copy=False)
    view = camera_position.astype(np.float32) - pts
    view /= np.linalg.norm(view, axis=1, keepdims=True)
    ndv = np.clip(np.einsum("ij,ij->i", nrm, view), 0.05, 1.0)
    alpha = np.clip(roughness.astype(np.float32), 0.02, 1.0)
    a2 = alpha * alpha
    k = alpha / 2
    g_view = ndv / (ndv * (1 - k) + k)
    diffuse = np.zeros(len(pts), np.float32)
    specular = np.zeros(len(pts), np.float32)
    for pos, axis in zip(ring.positions.astype(np.float32), ring.axes.astype(np.float32), strict=True):
        to_led = pos - pts
        dist2 = np.einsum("ij,ij->i", to_led, to_led)
        ldir = to_led / np.sqrt(dist2)[:, None]
        # Lambertian LED: intensity ~ cos of the angle off its axis
        emission = np.clip(-np.einsum("ij,j->i", ldir, axis), 0, None)
        irradiance = np.float32(ring.power) * emission / dist2
        ndl = np.clip(np.einsum("ij,ij->i", nrm, ldir), 0, None)
        lit = irradiance * ndl
        diffuse += lit
        half = ldir + view
        half /= np.linalg.norm(half, axis=1, keepdims=True)
        ndh = np.clip(np.einsum("ij,ij->i", nrm, half), 0, 1)
        denom = ndh * ndh * (a2 - 1) + 1
        dist_term = a2 / (np.pi * denom * denom)
        g_light = ndl / (ndl * (1 - k) + k)
        specular += irradiance * dist_term * g_light * g_view / (4 * ndv)
    return RingResponse(diffuse, specular)


def channel_radiance(
    response: RingResponse,
    diffuse: np.ndarray,
    specular: np.ndarray,
    fluorescence: np.ndarray,
    cavity: np.ndarray | None = None,
    cavity_response: float = 1.0,
) -> np.ndarray:
    """Radiance (N,) towards the camera for one channel's per-pixel material (each (N,))."""
    out = (diffuse + fluorescence) * response.diffuse / np.float32(np.pi) + specular * response.specular
    if cavity is not None and cavity_response != 1.0:
        out *= 1 + cavity * np.float32(cavity_response - 1)
    return out


_BLUR_SIGMAS = (0.0, 0.6, 1.2, 2.4, 4.8, 9.6)


class SensorModel:
    """Turns per-pixel radiance into a frame. `electrons_per_unit` (per channel) converts radiance x
    exposure (ms) into photo-electrons; the renderer calibrates it (see `MultispectralRenderer`)."""

    def __init__(self, config: SensorConfig, camera: CameraParams, pattern_seed: int = 2448) -> None:
        self.config = config
        self.camera = camera
        self.geometry = frame_geometry(camera, config.width, config.height)
        h, w, f = config.height, config.width, self.geometry.focal_px
        v, u = np.mgrid[0:h, 0:w].astype(np.float32)
        x, y = (u + 0.5 - w / 2) / f, (v + 0.5 - h / 2) / f
        cos4 = (1 / (1 + x * x + y * y)) ** 2
        r2 = ((u + 0.5 - w / 2) ** 2 + (v + 0.5 - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
        lens = 1 - config.vignetting * r2 * r2
        prnu = 1 + config.prnu * np.random.default_rng(pattern_seed).standard_normal((h, w)).astype(
            np.float32
        )
        self.flat_field = (cos4 * lens * prnu).astype(np.float32)  # vignetting x PRNU, per pixel
        self.e_per_dn = config.full_well_e / config.adc_max  # at 0 dB

    def full_scale_electrons(self, gain_db: float) -> float:
        """Electrons that fill the ADC (above black level) at this gain (never more than the full well)."""
        return min(
            (self.config.adc_max - self.config.black_level_dn) * self.e_per_dn / 10 ** (gain_db / 20),
            self.config.full_well_e,
        )

    def blur_diameter(self, depth: np.ndarray) -> np.ndarray:
        """Defocus blur diameter (frame pixels) of points at optical depth `depth` (m)."""
        wd, half_dof = self.camera.working_distance, 0.5 * self.camera.depth_of_field
        with np.errstate(divide="ignore", invalid="ignore"):
            b = (
                self.config.coc_at_dof_edge_px
                * np.abs(depth - wd)
                / half_dof
                * (wd / np.maximum(depth, 1e-3))
            )
        return np.nan_to_num(b, nan=0.0, posinf=2 * _BLUR_SIGMAS[-1] * 2.5).astype(np.float32)

    def defocus(self, radiance: np.ndarray, blur_diameter: np.ndarray) -> np.ndarray:
        """Depth-dependent blur: per pixel, interpolate between Gaussian-blurred copies."""
        sigma = np.clip(blur_diameter / 2.5, 0, _BLUR_SIGMAS[-1])
        if float(sigma.max()) < 0.3:
            return radiance
        out = np.zeros_like(radiance)
        for lo, hi in itertools.pairwise(_BLUR_SIGMAS):
            sel = (sigma >= lo) & (sigma <= hi)
            if not sel.any():
                continue
            a = radiance if lo == 0 else cv2.GaussianBlur(radiance, (0, 0), lo)
            b = cv2.GaussianBlur(radiance, (0, 0), hi)
            t = (sigma[sel] - lo) / (hi - lo)
            out[sel] = (1 - t) * a[sel] + t * b[sel]
        return out

    def expose(
        self,
        radiance: np.ndarray,
        exposure_ms: float,
        gain_db: float,
        electrons_per_unit: float,
        rng: np.random.Generator,
        depth: np.ndarray | None = None,
    ) -> np.ndarray:
        """A frame (H, W) uint8 or uint16 from radiance (H, W) float32."""
        cfg = self.config
        if exposure_ms <= 0:
            raise ValueError(f"exposure must be positive, got {exposure_ms} ms")
        if radiance.shape != (cfg.height, cfg.width):
            raise ValueError(f"radiance is {radiance.shape}, sensor is {(cfg.height, cfg.width)}")
        img = radiance
        if cfg.defocus and depth is not None:
            img = self.defocus(radiance, self.blur_diameter(depth))
        electrons = img * self.flat_field * np.float32(electrons_per_unit * exposure_ms)
        # photon shot noise, then the pixel's well saturates; read noise comes after the well
        np.clip(electrons, 0, 2 * cfg.full_well_e, out=electrons)
        signal = np.minimum(rng.poisson(electrons).astype(np.float32), np.float32(cfg.full_well_e))
        signal += rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(cfg.read_noise_e)
        dn = signal * np.float32(10 ** (gain_db / 20) / self.e_per_dn) + np.float32(cfg.black_level_dn)
        dn = np.clip(np.rint(dn), 0, cfg.adc_max)
        if cfg.output_bit_depth == 8:
            return (dn / (1 << (cfg.adc_bits - 8))).astype(np.uint8)
        return (dn * (1 << (16 - cfg.adc_bits))).astype(np.uint16)


@dataclass
class SceneFrame:
    """Everything about one cell state that does not depend on the light channel.

    Shape: mask, instances (H, W); blade_pixels / other_pixels flat pixel indices."""

    geometry: GeometryFrame
    blade_pixels: np.ndarray
    other_pixels: np.ndarray
    blade: PixelAppearance | None
    other: PixelAppearance | None
    mask: np.ndarray
    instances: np.ndarray
    responses: dict[str, tuple[RingResponse | None, RingResponse | None]] = field(default_factory=dict)
    radiance: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class RenderedCapture:
    """One viewpoint's frames (C, H, W) with the class mask (H, W) and defect instance map (H, W)."""

    channels: tuple[str, ...]
    frames: np.ndarray
    mask: np.ndarray
    instances: np.ndarray
    exposure_ms: tuple[float, ...]
    gain: tuple[float, ...]


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
        geom_rgba: np.ndarray | None = None,
        offsamples: int = 4,
    ) -> None:
        self.cell = cell
        self.blade = blade
        self.optics = optics or load_optics()
        self.defects_config = defects_config or load_defects_config()
        self.plan = plan or load_imaging_plan()
        self.channels = self.optics.channel_names
        self.sensor = SensorModel(self.optics.sensor, camera)
        cfg = self.optics.sensor
        self.geometry_pass = GeometryPass(
            cell.model, cell.camera, cfg.width, cfg.height, geom_rgba=geom_rgba, offsamples=offsamples
        )
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
        geo = self.geometry_pass.render(data)
        flat_geom = geo.geom.reshape(-1)
        h, w = geo.depth.shape
        is_blade = (flat_geom == self.cell.blade_geom) if self.cell.blade_geom >= 0 else np.zeros(h * w, bool)
        blade_px = np.flatnonzero(is_blade)
        other_px = np.flatnonzero((flat_geom >= 0) & ~is_blade)
        mask = np.zeros(h * w, np.uint8)
        instances = np.full(h * w, -1, np.int16)
        blade_app = None
        if blade_px.size and self.blade is not None:
            pose = self.cell.body_pose(data, self.cell.blade_body)
            rot, origin = pose[:3, :3].astype(np.float32), pose[:3, 3].astype(np.float32)
            # row vectors: x_b = R^T (x_w - t)  <=>  x_b = (x_w - t) @ R  (einsum: no BLAS threads)
            points_b = np.einsum("ni,ij->nj", geo.points.reshape(-1, 3)[blade_px] - origin, rot)
            normals_b = np.einsum("ni,ij->nj", geo.normals.reshape(-1, 3)[blade_px], rot)
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
                geo.points.reshape(-1, 3)[other_px],
                geo.normals.reshape(-1, 3)[other_px],
                self.optics.materials["fixture"],
                self.optics.texture.model_copy(update={"grinding_amplitude": 0}),
                self.channels,
                0,
            )
            shade = self.geometry_pass.geom_rgba[flat_geom[other_px], :3].mean(axis=1) / 0.5
            other_app.diffuse *= np.clip(shade, 0.1, 2.0).astype(np.float32)[None]
        self._scene = SceneFrame(
            geo, blade_px, other_px, blade_app, other_app, mask.reshape(h, w), instances.reshape(h, w)
        )
        self._cache_key = key
        return self._scene

    # -------------------------------------------------------------------------------- radiance
    def _responses(self, scene: SceneFrame, ring: str) -> tuple[RingResponse | None, RingResponse | None]:
        if ring not in scene.responses:
            out = []
            for pixels, app in ((scene.blade_pixels, scene.blade), (scene.other_pixels, scene.other)):
                if app is None:
                    out.append(None)
                    continue
                pts = scene.geometry.points.reshape(-1, 3)[pixels]
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
            return self.sensor.expose(radiance, exposure_ms, gain_db, 0.0, rng)
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
            scene.geometry.depth,
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
        )
