"""Offscreen MuJoCo passes of the inspection camera: depth, geom segmentation and surface normals.

MuJoCo's rasteriser gives, for every pixel, what is seen (geom id), where (depth -> a 3-D point) and
which way the surface faces. The normal pass lights all geometry white with three coloured directional
lights along +x, +y, +z (red, green, blue: each channel = max(0, n . axis)) and once more along -x, -y,
-z; the difference of the two renders is the world-frame normal with MuJoCo's smooth per-pixel
interpolation. Shading then happens in numpy (`shading.py`), so every light channel, defect and mask
comes from the same per-pixel geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

NORMAL_LIGHT_PREFIX = "normal_pass_"


def add_normal_lights(spec: mujoco.MjSpec) -> None:
    """Six directional lights (inactive until a normal pass) for `GeometryPass`."""
    colours = ((1, 0, 0), (0, 1, 0), (0, 0, 1))
    for sign, tag in ((1, "pos"), (-1, "neg")):
        for axis, colour in enumerate(colours):
            light = spec.worldbody.add_light()
            light.name = f"{NORMAL_LIGHT_PREFIX}{tag}_{'xyz'[axis]}"
            light.type = mujoco.mjtLightType.mjLIGHT_DIRECTIONAL
            direction = np.zeros(3)
            direction[axis] = -sign  # light travels against the axis, so it lights faces along it
            light.dir = direction
            light.diffuse = colour
            light.ambient = (0, 0, 0)
            light.specular = (0, 0, 0)
            light.castshadow = False
            light.active = False


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
    ) -> None:
        self.model = model
        self.camera_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
        if self.camera_id < 0:
            raise ValueError(f"model has no camera '{camera}'")
        self.width, self.height = width, height
        self.geom_rgba = model.geom_rgba.copy()
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
        self._renderer = mujoco.Renderer(model, height, width)
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
