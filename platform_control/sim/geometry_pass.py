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

import cv2
import mujoco
import numpy as np
from mujoco.rendering.classic import gl_context

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
    geom (H, W) int32 geom id (-1 = nothing); pixels (N,) flat indices of the pixels that see a geom,
    ascending; points (N, 3) float64 and normals (N, 3) float32 of those pixels, world frame;
    roi (row slice, column slice): the bounding box of those pixels; camera_position (3,) world."""

    depth: np.ndarray
    geom: np.ndarray
    pixels: np.ndarray
    points: np.ndarray
    normals: np.ndarray
    roi: tuple[slice, slice]
    camera_position: np.ndarray


class GeometryPass:
    """Renders `GeometryFrame`s from `camera` (a MuJoCo camera name) at width x height.

    Three GL passes: segmentation colours with the depth buffer read in the same pass, then the two
    normal passes, read back only inside the bounding box of the seen pixels. Points and normals are
    computed for the seen pixels only. The model's geom colours are set to white for the normal pass
    (the original colours are kept in `geom_rgba` for shading); only geom groups in `visible_groups`
    are drawn.
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
        off = model.vis.global_
        if width > off.offwidth or height > off.offheight:
            raise ValueError(
                f"frame {width} x {height} exceeds the model's offscreen buffer "
                f"{off.offwidth} x {off.offheight}"
            )
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
        # No multisampling: depth and segmentation are read without it anyway, so each pixel's normal
        # now comes from the surface its geom id and depth come from (MSAA blended silhouette normals
        # with the background), and the passes cost less than half on a software rasteriser.
        model.vis.quality.offsamples = 0
        self._gl = gl_context.GLContext(width, height)  # the back-end MUJOCO_GL selects (as mujoco.Renderer)
        self._gl.make_current()
        self._scene = mujoco.MjvScene(model, maxgeom=10000)
        self._context: mujoco.MjrContext | None = mujoco.MjrContext(
            model, mujoco.mjtFontScale.mjFONTSCALE_150
        )
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._context)
        self._context.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._camera.fixedcamid = self.camera_id
        self._perturb = mujoco.MjvPerturb()
        self._rect = mujoco.MjrRect(0, 0, width, height)
        self._rgb = np.empty((height, width, 3), np.uint8)
        self._zbuf = np.empty((height, width), np.float32)
        fovy = np.radians(model.cam_fovy[self.camera_id])
        self.focal_px = height / 2 / np.tan(fovy / 2)
        extent = model.stat.extent
        far, near = np.float32(model.vis.map.zfar * extent), np.float32(model.vis.map.znear * extent)
        # MuJoCo's own depth-buffer linearisation (mujoco.Renderer), float64 as there
        self._z_c = np.float32(-0.5) * (-(far + near) / (far - near)) - np.float32(0.5)
        self._z_d = np.float32(-0.5) * (-(np.float32(2) * far * near) / (far - near))

    def close(self) -> None:
        if self._context is not None:
            self._gl.make_current()
            self._context.free()
            self._context = None
            self._gl.free()

    def __enter__(self) -> GeometryPass:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _draw(
        self,
        data: mujoco.MjData,
        lights: list[int] | None,
        rgb: np.ndarray,
        depth: np.ndarray | None = None,
        rect: mujoco.MjrRect | None = None,
    ) -> None:
        """One GL pass (segmentation colours when `lights` is None) read back into rgb (+ depth), rows
        bottom-up as GL stores them."""
        if self._context is None:
            raise RuntimeError("the geometry pass is closed")
        self.model.light_active[:] = 0
        if lights:
            self.model.light_active[lights] = 1
        scene = self._scene
        mujoco.mjv_updateScene(
            self.model, data, self.option, self._perturb, self._camera, mujoco.mjtCatBit.mjCAT_ALL, scene
        )
        flags = mujoco.mjtRndFlag
        for flag in (flags.mjRND_SHADOW, flags.mjRND_REFLECTION, flags.mjRND_SKYBOX, flags.mjRND_FOG):
            scene.flags[flag] = 0
        scene.flags[flags.mjRND_HAZE] = 0
        scene.flags[flags.mjRND_SEGMENT] = lights is None
        scene.flags[flags.mjRND_IDCOLOR] = lights is None
        self._gl.make_current()
        mujoco.mjr_render(self._rect, scene, self._context)
        mujoco.mjr_readPixels(rgb, depth, rect or self._rect, self._context)

    def _geom_ids(self, rgb: np.ndarray) -> np.ndarray:
        """Segmentation colours (..., 3) -> geom id (-1: nothing or not a geom)."""
        seg = (
            rgb[..., 0].astype(np.int32)
            | (rgb[..., 1].astype(np.int32) << 8)
            | (rgb[..., 2].astype(np.int32) << 16)
        )
        table = np.full(self._scene.ngeom + 1, -1, np.int32)
        for g in self._scene.geoms[: self._scene.ngeom]:
            if g.segid != -1 and g.objtype == int(mujoco.mjtObj.mjOBJ_GEOM):
                table[g.segid + 1] = g.objid
        return table[seg]

    def render(self, data: mujoco.MjData) -> GeometryFrame:
        """Depth, segmentation and normal passes at the current state of `data` (kinematics must be
        up to date, e.g. after `mj_step` or `mj_forward`)."""
        h, w = self.height, self.width
        self._draw(data, None, self._rgb, self._zbuf)
        # bounding box of the seen pixels (the buffer's rows run bottom-up, 3 bytes per pixel)
        x, y, bw, bh = cv2.boundingRect(self._rgb.reshape(h, w * 3))
        geom = np.full((h, w), -1, np.int32)
        depth = np.full((h, w), np.inf, np.float32)
        if bw == 0 or bh == 0:
            self.model.light_active[:] = 0
            empty = np.empty((0, 3))
            roi = (slice(0, 0), slice(0, 0))
            cam_pos = data.cam_xpos[self.camera_id].copy()
            return GeometryFrame(
                depth, geom, np.empty(0, np.int64), empty, empty.astype(np.float32), roi, cam_pos
            )
        r0, r1, c0, c1 = h - y - bh, h - y, x // 3, (x + bw - 1) // 3 + 1
        roi = (slice(r0, r1), slice(c0, c1))
        geom[roi] = self._geom_ids(self._rgb[::-1][roi])
        pixels = np.flatnonzero(geom >= 0)
        rr, cc = np.divmod(pixels, w)
        flat_z = self._zbuf.reshape(-1)[(h - 1 - rr) * w + cc].astype(np.float64)
        depth.reshape(-1)[pixels] = (self._z_d / (flat_z + self._z_c)).astype(np.float32)
        # normal passes, read back inside the region only (GL rect: origin bottom-left)
        rect = mujoco.MjrRect(c0, h - r1, c1 - c0, r1 - r0)
        plus = np.empty((r1 - r0, c1 - c0, 3), np.uint8)
        minus = np.empty_like(plus)
        self._draw(data, self._pos, plus, None, rect)
        self._draw(data, self._neg, minus, None, rect)
        self.model.light_active[:] = 0
        local = (h - 1 - rr - (h - r1)) * (c1 - c0) + (cc - c0)  # into the bottom-up region buffers
        normals = (
            plus.reshape(-1, 3)[local].astype(np.float32) - minus.reshape(-1, 3)[local].astype(np.float32)
        ) / 255.0
        norm = np.linalg.norm(normals, axis=-1, keepdims=True)
        normals = np.where(norm > 1e-3, normals / np.maximum(norm, 1e-6), 0).astype(np.float32)
        # camera frame: MuJoCo cameras look along -z with y up; rays are in the OpenCV convention
        cam_pos = data.cam_xpos[self.camera_id].copy()
        cam_rot = data.cam_xmat[self.camera_id].reshape(3, 3)
        z = depth.reshape(-1)[pixels]
        ray_u = (cc.astype(np.float32) + 0.5 - w / 2) / self.focal_px
        ray_v = (rr.astype(np.float32) + 0.5 - h / 2) / self.focal_px
        cam_local = (ray_u * z, -ray_v * z, -z.astype(np.float64))
        rot32, pos32 = cam_rot.astype(np.float32), cam_pos.astype(np.float32)
        points = np.empty((len(pixels), 3))
        for i in range(3):  # = einsum("nj,ij->ni", cam_local, rot) + pos, without the (N, 3) copies
            points[:, i] = (
                cam_local[0] * rot32[i, 0] + cam_local[1] * rot32[i, 1] + cam_local[2] * rot32[i, 2]
            )
            points[:, i] += pos32[i]
        return GeometryFrame(depth, geom, pixels, points, normals, roi, cam_pos)
