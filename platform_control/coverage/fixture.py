"""The blade fixture and the C table as meshes in the blade frame: occluders for the coverage planner.

The blade is held by its root in a clamp on the stage's C table, so the clamp and the table block
lines of sight to the blade's lower surfaces and can stand in the camera's way. Both turn with the
blade (they sit beyond the C axis), so in the blade frame, where the planner works, they are static.

Their shapes come from the simulator's stage description (`build_stage`): every link rigidly attached
to the blade mount (walking up its fixed joints, and the link the C joint turns, which turns with the
blade) contributes its collision shapes. One source of dimensions for the simulator, the URDF and the
planner; a change to the fixture in `stage_5axis.yaml` or `cell_parts.py` reaches the planner too.
"""

from __future__ import annotations

import numpy as np
import trimesh

from platform_control.params import StageParams
from platform_control.sim.cell_parts import BLADE_MOUNT_LINK, build_stage
from platform_control.sim.robot_model import Origin, RobotModel, Shape
from platform_control.transforms import pose_matrix

CYLINDER_SECTIONS = 64  # a 60 mm disc as a 64-gon is within 0.08 mm of the true circle


def _matrix(origin: Origin) -> np.ndarray:
    return pose_matrix(origin.xyz, origin.rpy)


def _shape_mesh(shape: Shape, link_to_blade: np.ndarray) -> trimesh.Trimesh:
    local = link_to_blade @ _matrix(shape.origin)
    if shape.kind == "box":
        return trimesh.creation.box(extents=shape.size, transform=local)
    if shape.kind == "cylinder":
        radius, length = shape.size
        return trimesh.creation.cylinder(radius, length, sections=CYLINDER_SECTIONS, transform=local)
    if shape.kind == "sphere":
        return trimesh.creation.icosphere(subdivisions=3, radius=shape.size[0]).apply_transform(local)
    raise ValueError(f"fixture shape '{shape.name}' has unknown kind '{shape.kind}'")


def blade_rigid_links(model: RobotModel, mount: str = BLADE_MOUNT_LINK) -> list[tuple[str, np.ndarray]]:
    """(link name, 4x4 link -> blade-frame transform) of every link that moves with the blade mount.

    Walks up from ``mount`` through fixed joints and stops at the first movable joint: its child (the
    C table) turns with the blade, the A cradle it turns on does not.
    """
    parent_joint = {j.child: j for j in model.joints}
    out: list[tuple[str, np.ndarray]] = []
    link, to_blade = mount, np.eye(4)
    while True:
        out.append((link, to_blade))
        joint = parent_joint.get(link)
        if joint is None or joint.kind != "fixed":
            return out
        # blade <- child <- parent: the joint origin places the child in the parent
        to_blade = to_blade @ np.linalg.inv(_matrix(joint.origin))
        link = joint.parent


def fixture_meshes(stage: StageParams) -> list[trimesh.Trimesh]:
    """One mesh per collision shape of the links rigid with the blade (clamp box, C-table disc)."""
    model = build_stage(stage)
    shapes = {link.name: link.shapes for link in model.links}
    return [
        _shape_mesh(shape, to_blade)
        for name, to_blade in blade_rigid_links(model)
        for shape in shapes.get(name, ())
        if shape.collision
    ]


def fixture_mesh(stage: StageParams) -> trimesh.Trimesh:
    """The fixture and the C table as one mesh in the blade frame (for the ray casters)."""
    return trimesh.util.concatenate(fixture_meshes(stage))


def fixture_probe(mesh: trimesh.Trimesh, spacing: float) -> np.ndarray:
    """(N, 3) points on the fixture surface, about one per ``spacing``² of area, and its vertices:
    what the camera collision check tests, as it tests the blade's element centres.

    The vertices alone leave the faces of the clamp box and the disc bare; the camera envelope could
    reach into a face between them. Sampling is seeded, so a plan does not change from run to run.
    """
    count = max(1, int(np.ceil(mesh.area / spacing**2)))
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=0)
    return np.vstack([np.asarray(mesh.vertices, dtype=float), np.asarray(points, dtype=float)])
