"""Line-of-sight tests and the per-view "what does this stage pose image well" evaluation.

Three interchangeable ray casters, all exact against the mesh triangles:
- `EmbreeRayCaster` (default): Intel Embree's BVH through embreex (trimesh's ray backend); its cost
  per ray does not depend on how the CAD was triangulated, and it takes the rays of many views at once.
- `MujocoRayCaster`: MuJoCo's ``mj_multiRay``, 10-30x slower per ray than Embree and slower still on
  dense sliver meshes; kept as a second exact caster for cross-checks (it is the cell simulator).
- `TrimeshRayCaster`: trimesh's pure-numpy/rtree intersector, the slow dependency-free reference.

`OccludedRayCaster` puts static occluders that are not part of the surface to cover (the blade fixture
and the C table, `coverage.fixture`) beside the blade's caster, on the same backend, and says which
rays only the occluders block, so a gap can be blamed on the fixture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import trimesh

from platform_control.camera import PinholeCamera
from platform_control.coverage.surface import InspectionSurface
from platform_control.stage import StageKinematics

VISIBILITY_TOL = 1e-5  # m: a hit this close before the target counts as the target itself


class RayCaster(Protocol):
    def visible_rays(self, eyes: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """(N,) bool: no mesh surface lies between each eye (N, 3) and its target (N, 3) on the mesh."""
        ...

    def visible(self, eye: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """(N,) bool: `visible_rays` from one ``eye`` (3,) to every target (N, 3)."""
        ...


def _unit_rays(eyes: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions (N, 3) from each eye to its target and the distances (N,)."""
    vec = np.atleast_2d(targets) - eyes
    dist = np.linalg.norm(vec, axis=1)
    if np.any(dist <= 0):
        raise ValueError("a ray's eye coincides with its target")
    return vec / dist[:, None], dist


class _OneEye:
    """``visible(eye, targets)`` for casters that implement ``visible_rays``."""

    def visible_rays(self, eyes: np.ndarray, targets: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def visible(self, eye: np.ndarray, targets: np.ndarray) -> np.ndarray:
        targets = np.atleast_2d(np.asarray(targets, dtype=float))
        eyes = np.broadcast_to(np.asarray(eye, dtype=float), targets.shape)
        return self.visible_rays(eyes, targets)


class EmbreeRayCaster(_OneEye):
    """Intel Embree's BVH (through embreex, trimesh's ray backend), one occlusion query per ray.

    Cost per ray barely depends on the triangulation: 0.5-1.8 us/ray from 840 sliver faces to 227k,
    against 7-27 us for MuJoCo on the same rays (benchmarks/coverage_plan.py). Vertices are stored
    as float32 relative to the mesh's bounding-box corner, so precision is ~1e-8 m on a blade, far
    below ``VISIBILITY_TOL``. All rays of a batch (the rays of many candidate views) go to Embree in
    one call.
    """

    def __init__(self, mesh: trimesh.Trimesh) -> None:
        try:
            from embreex import rtcore_scene
            from embreex.mesh_construction import TriangleMesh
        except ImportError as exc:  # pragma: no cover - embreex is a pinned dependency
            raise ImportError("the 'embree' ray backend needs embreex (pip install embreex)") from exc
        self._origin = np.asarray(mesh.bounds[0], dtype=float)
        self._scene = rtcore_scene.EmbreeScene()
        TriangleMesh(
            scene=self._scene,
            vertices=(np.asarray(mesh.vertices, dtype=float) - self._origin).astype(np.float32),
            indices=np.asarray(mesh.faces, dtype=np.int32),
        )

    def visible_rays(self, eyes: np.ndarray, targets: np.ndarray) -> np.ndarray:
        eyes = np.atleast_2d(np.asarray(eyes, dtype=float))
        if len(eyes) == 0:
            return np.zeros(0, dtype=bool)
        vec, dist = _unit_rays(eyes, targets)
        occluded = self._scene.run(
            (eyes - self._origin).astype(np.float32),
            vec.astype(np.float32),
            dists=(dist - VISIBILITY_TOL).astype(np.float32),
            query="OCCLUDED",
        )
        return np.asarray(occluded) < 0


class MujocoRayCaster(_OneEye):
    """Rays against the mesh as a static MuJoCo mesh geom (vertices are stored as float32)."""

    def __init__(self, mesh: trimesh.Trimesh) -> None:
        import mujoco

        spec = mujoco.MjSpec()
        asset = spec.add_mesh()
        asset.name = "blade"
        asset.uservert = np.asarray(mesh.vertices, dtype=float).ravel().tolist()
        asset.userface = np.asarray(mesh.faces, dtype=int).ravel().tolist()
        asset.inertia = mujoco.mjtMeshInertia.mjMESH_INERTIA_SHELL
        geom = spec.worldbody.add_geom()
        geom.type = mujoco.mjtGeom.mjGEOM_MESH
        geom.meshname = "blade"
        geom.contype = 0
        geom.conaffinity = 0
        try:
            self._model = spec.compile()
        except Exception as exc:  # MuJoCo raises ValueError with its compiler message
            raise ValueError(f"MuJoCo cannot compile the blade mesh for ray casting: {exc}") from exc
        self._data = mujoco.MjData(self._model)
        mujoco.mj_forward(self._model, self._data)
        self._mujoco = mujoco

    def visible_rays(self, eyes: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """mj_multiRay casts from one point: the rays are grouped by eye."""
        eyes = np.atleast_2d(np.asarray(eyes, dtype=float))
        out = np.zeros(len(eyes), dtype=bool)
        if len(eyes) == 0:
            return out
        vec, dist = _unit_rays(eyes, targets)
        unique, inverse = np.unique(eyes, axis=0, return_inverse=True)
        for k, eye in enumerate(unique):
            idx = np.flatnonzero(inverse.reshape(-1) == k)
            n = len(idx)
            geomid = np.zeros(n, dtype=np.int32)
            hit = np.zeros(n, dtype=float)
            self._mujoco.mj_multiRay(
                self._model,
                self._data,
                np.asarray(eye, dtype=float),
                np.ascontiguousarray(vec[idx]).ravel(),
                None,
                1,
                -1,
                geomid,
                hit,
                None,
                n,
                float(dist[idx].max() + 1.0),
            )
            out[idx] = (hit < 0) | (hit >= dist[idx] - VISIBILITY_TOL)
        return out


class TrimeshRayCaster(_OneEye):
    """Reference caster on trimesh's ray-triangle intersector (slow, dependency-free)."""

    def __init__(self, mesh: trimesh.Trimesh) -> None:
        self._mesh = mesh
        self._ray = trimesh.ray.ray_triangle.RayMeshIntersector(mesh)

    def visible_rays(self, eyes: np.ndarray, targets: np.ndarray) -> np.ndarray:
        eyes = np.atleast_2d(np.asarray(eyes, dtype=float))
        if len(eyes) == 0:
            return np.zeros(0, dtype=bool)
        vec, dist = _unit_rays(eyes, targets)
        locations, index_ray, _ = self._ray.intersects_location(eyes, vec)
        hit = np.full(len(vec), np.inf)
        if len(index_ray):
            along = np.einsum("ij,ij->i", locations - eyes[index_ray], vec[index_ray])
            np.minimum.at(hit, index_ray, along)
        return hit >= dist - VISIBILITY_TOL


class OccludedRayCaster(_OneEye):
    """The blade's caster and an occluder's caster (same backend): a ray is clear when neither blocks it.

    Two scenes rather than one merged mesh, so the blade-only answer stays at hand: the gap report
    needs "blocked by the fixture alone", and outer-surface planning must not call a face that only
    the fixture hides an inner face. The occluder is asked only about rays the blade leaves clear,
    and its scene is a few hundred triangles, so the second query costs little.
    """

    def __init__(self, blade: RayCaster, occluder: RayCaster) -> None:
        self.blade = blade
        self.occluder = occluder

    def visible_rays(self, eyes: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return self.clear_and_occluder_blocked(eyes, targets)[0]

    def clear_and_occluder_blocked(
        self, eyes: np.ndarray, targets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(N,) bool each: the ray is clear of everything; the ray is blocked by the occluder alone."""
        eyes = np.atleast_2d(np.asarray(eyes, dtype=float))
        targets = np.atleast_2d(np.asarray(targets, dtype=float))
        blade_clear = np.asarray(self.blade.visible_rays(eyes, targets), dtype=bool)
        clear = blade_clear.copy()
        idx = np.flatnonzero(blade_clear)
        if len(idx):
            clear[idx] = self.occluder.visible_rays(eyes[idx], targets[idx])
        return clear, blade_clear & ~clear


RAY_BACKENDS = ("embree", "mujoco", "trimesh")


def make_ray_caster(
    mesh: trimesh.Trimesh, backend: str = "embree", occluder: trimesh.Trimesh | None = None
) -> RayCaster:
    """A caster on ``mesh``; with ``occluder`` (e.g. the fixture), an `OccludedRayCaster` of both."""
    if backend not in RAY_BACKENDS:
        raise ValueError(f"unknown ray-casting backend '{backend}'; use one of {RAY_BACKENDS}")
    cls = {"embree": EmbreeRayCaster, "mujoco": MujocoRayCaster, "trimesh": TrimeshRayCaster}[backend]
    caster = cls(mesh)
    return caster if occluder is None else OccludedRayCaster(caster, cls(occluder))


def blade_caster(caster: RayCaster) -> RayCaster:
    """The caster of the blade alone (``caster`` itself unless it carries occluders)."""
    return caster.blade if isinstance(caster, OccludedRayCaster) else caster


@dataclass(frozen=True)
class ViewResult:
    """Outcome of imaging the blade from one stage pose."""

    seen: np.ndarray  # indices of required surface elements imaged in focus, head-on enough, unoccluded
    collision: bool  # the part (or the fixture) would enter the camera's envelope
    # indices of required elements this view would image but for the fixture (occluder) in the way
    occluder_blocked: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


class ViewEvaluator:
    """Applies the coverage criterion to one stage pose.

    An element counts as imaged when all its corners lie in the usable frame and within the depth of
    field, its normal is within the incidence limit of the line of sight to its centre, and nothing
    blocks that line of sight. The part must stay clear of the camera envelope, or the pose sees nothing.

    ``obstacle_probe``: (N, 3) blade-frame points on things that move with the blade but are not to be
    covered (the fixture, `fixture_probe`); they must stay clear of the camera envelope too. Their
    line-of-sight part is the caster's (an `OccludedRayCaster`).
    """

    def __init__(
        self,
        surface: InspectionSurface,
        camera: PinholeCamera,
        stage: StageKinematics,
        ray_caster: RayCaster,
        obstacle_probe: np.ndarray | None = None,
    ) -> None:
        self.surface = surface
        self.camera = camera
        self.stage = stage
        self.ray_caster = ray_caster
        self._index = np.flatnonzero(surface.required)
        self._centers = surface.centers[self._index]
        self._normals = surface.normals[self._index]
        self._corners = surface.corners[self._index]
        # Collision probe: every element centre (elements are ~element_size apart) and the convex
        # hull's vertices (the part's extreme points), whatever the mesh density.
        try:
            hull = surface.mesh.convex_hull.vertices
        except Exception:  # qhull refuses flat or degenerate inputs: the vertices are the extremes
            hull = surface.mesh.vertices
        extra = np.zeros((0, 3)) if obstacle_probe is None else np.asarray(obstacle_probe, dtype=float)
        self._probe = np.vstack([hull, surface.centers, extra])

    def evaluate(self, axes: np.ndarray) -> ViewResult:
        return self.evaluate_many([axes])[0]

    def evaluate_many(self, axes_list: list[np.ndarray] | np.ndarray) -> list[ViewResult]:
        """`ViewResult` of each stage pose; the occlusion rays of all poses go to the caster at once."""
        results: list[ViewResult | None] = []
        pending: list[tuple[int, np.ndarray]] = []  # (result slot, candidate element positions)
        eyes, targets = [], []
        for axes in axes_list:
            pose = self.stage.blade_pose_in_camera(axes)
            rot, trans = pose[:3, :3], pose[:3, 3]
            if np.any(self.camera.collides(self._probe @ rot.T + trans)):
                results.append(ViewResult(np.zeros(0, dtype=np.int64), True))
                continue
            pts = self._centers @ rot.T + trans
            ok = np.flatnonzero(self.camera.sees(pts, self._normals @ rot.T))
            if len(ok):
                # the whole element, not just its centre, must be inside the usable frame and in focus
                corners = (self._corners[ok] @ rot.T + trans).reshape(-1, 3)
                inside = self.camera.in_frame(corners) & self.camera.in_focus(corners)
                ok = ok[inside.reshape(-1, 3).all(axis=1)]
            if len(ok) == 0:
                results.append(ViewResult(np.zeros(0, dtype=np.int64), False))
                continue
            pending.append((len(results), ok))
            results.append(None)
            eye = -rot.T @ trans  # camera centre in the blade frame
            eyes.append(np.broadcast_to(eye, (len(ok), 3)))
            targets.append(self._centers[ok])
        if pending:
            all_eyes, all_targets = np.vstack(eyes), np.vstack(targets)
            if isinstance(self.ray_caster, OccludedRayCaster):
                vis, by_occluder = self.ray_caster.clear_and_occluder_blocked(all_eyes, all_targets)
            else:
                vis = self.ray_caster.visible_rays(all_eyes, all_targets)
                by_occluder = np.zeros(len(vis), dtype=bool)
            start = 0
            for slot, ok in pending:
                part = slice(start, start + len(ok))
                results[slot] = ViewResult(
                    self._index[ok[vis[part]]], False, self._index[ok[by_occluder[part]]]
                )
                start += len(ok)
        return results  # type: ignore[return-value]
