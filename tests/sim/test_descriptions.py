"""The robot/cell descriptions: generated from the parameter files without drift, valid for sdformat,
and kinematically identical to platform_control's arm and stage models."""

from __future__ import annotations

import ast
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import mujoco
import numpy as np
import pytest

from platform_control.arm import ArmKinematics
from platform_control.camera import camera_optical_pose
from platform_control.params import load_arm_params, load_camera_params, load_cell_layout, load_stage_params
from platform_control.sim.cell_model import build_cell_model
from platform_control.sim.description import DESCRIPTION_PACKAGE, generate_descriptions
from platform_control.sim.sensor import frame_geometry
from platform_control.stage import StageKinematics

GENERATED = sorted(generate_descriptions())
IGN = shutil.which("ign")


@pytest.mark.parametrize("rel", GENERATED)
def test_committed_file_equals_regenerated(rel: str) -> None:
    """No drift: the committed files are exactly what the parameter files generate today."""
    committed = DESCRIPTION_PACKAGE / rel
    assert committed.is_file(), f"{committed} missing: run python -m platform_control.sim.description"
    assert committed.read_text() == generate_descriptions()[rel], (
        f"{rel} is stale: run `python -m platform_control.sim.description` and commit the result"
    )


@pytest.mark.skipif(IGN is None, reason="`ign` (ignition-tools + libsdformat-dev) not installed")
@pytest.mark.parametrize("rel", GENERATED)
def test_sdformat_validates(rel: str) -> None:
    result = subprocess.run(
        [IGN, "sdf", "-k", str(DESCRIPTION_PACKAGE / rel)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid." in result.stdout


@pytest.mark.skipif(IGN is None, reason="`ign` (ignition-tools + libsdformat-dev) not installed")
def test_sdformat_rejects_a_broken_world(tmp_path: Path) -> None:
    """The validation above can fail: a joint pointing at a missing link is reported."""
    text = (DESCRIPTION_PACKAGE / "worlds/cell.sdf").read_text()
    broken = tmp_path / "broken.sdf"
    broken.write_text(text.replace("<child>x_carriage</child>", "<child>no_such_link</child>", 1))
    result = subprocess.run([IGN, "sdf", "-k", str(broken)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "no_such_link" in result.stdout + result.stderr


def _urdf_joints(rel: str) -> dict[str, ET.Element]:
    root = ET.parse(DESCRIPTION_PACKAGE / rel).getroot()
    return {j.get("name"): j for j in root.findall("joint") if j.get("type") != "fixed"}


def test_urdf_joints_equal_parameter_files() -> None:
    arm, stage = load_arm_params(), load_stage_params()
    joints = _urdf_joints("urdf/cell.urdf")
    expected = {
        **{
            n: ("revolute", lim, v)
            for n, lim, v in zip(arm.joint_names, arm.joint_limits, arm.max_velocity, strict=True)
        },
        **{
            n: (t, lim, v)
            for n, t, lim, v in zip(
                stage.axis_names, stage.axis_types, stage.limits, stage.max_velocity, strict=True
            )
        },
    }
    assert set(joints) == set(expected)
    for name, (kind, (lo, hi), vmax) in expected.items():
        joint = joints[name]
        limit = joint.find("limit")
        assert joint.get("type") == kind, name
        assert float(limit.get("lower")) == pytest.approx(lo, abs=1e-9), name
        assert float(limit.get("upper")) == pytest.approx(hi, abs=1e-9), name
        assert float(limit.get("velocity")) == pytest.approx(vmax, abs=1e-9), name
    assert set(_urdf_joints("urdf/arm.urdf")) == set(arm.joint_names)
    assert set(_urdf_joints("urdf/stage.urdf")) == set(stage.axis_names)


def test_sdf_world_has_the_cell_and_the_same_joints() -> None:
    world = ET.parse(DESCRIPTION_PACKAGE / "worlds/cell.sdf").getroot().find("world")
    models = {m.get("name"): m for m in world.findall("model")}
    assert {"ur10e", "stage_5axis", "inspection_camera", "blade_tray", "reject_bin", "cell_table"} <= set(
        models
    )
    sdf_joints = {
        j.get("name") for m in models.values() for j in m.findall("joint") if j.get("type") != "fixed"
    }
    assert sdf_joints == set(_urdf_joints("urdf/cell.urdf"))
    camera_link = models["inspection_camera"].find("link[@name='camera_link']")
    sensor = camera_link.find("sensor")
    cam = load_camera_params()
    assert sensor.get("type") == "camera"
    assert int(sensor.find("camera/image/width").text) == cam.width_px
    lights = {light.get("name") for light in world.iter("light")}
    assert {"ring_light", "darkfield_light", "ceiling"} <= lights
    fixture = models["stage_5axis"].find("link[@name='fixture']")
    assert fixture is not None and fixture.find("visual") is not None


@pytest.fixture(scope="module")
def cell_model():
    arm, stage, cam = load_arm_params(), load_stage_params(), load_camera_params()
    return build_cell_model(arm, stage, frame_geometry(cam, 64, 64))


def _set(cm, data, names, values) -> None:
    for n, v in zip(names, values, strict=True):
        data.qpos[cm.qpos_index[n]] = v
    mujoco.mj_kinematics(cm.model, data)


def test_urdf_arm_kinematics_match_dh_model(cell_model) -> None:
    """The URDF loaded into MuJoCo puts the tool centre exactly where ArmKinematics.fk says."""
    arm, layout = load_arm_params(), load_cell_layout()
    kin = ArmKinematics.in_cell(arm, layout)
    data = mujoco.MjData(cell_model.model)
    rng = np.random.default_rng(0)
    for q in rng.uniform(-3, 3, size=(20, 6)):
        _set(cell_model, data, arm.joint_names, q)
        pose = cell_model.body_pose(data, cell_model.tool_body)
        np.testing.assert_allclose(pose, kin.fk(q), atol=1e-9)


def test_urdf_stage_kinematics_match_stage_model(cell_model) -> None:
    stage, layout = load_stage_params(), load_cell_layout()
    kin = StageKinematics(stage, layout, load_camera_params())
    data = mujoco.MjData(cell_model.model)
    lim = np.array(stage.limits)
    for axes in np.random.default_rng(1).uniform(lim[:, 0], lim[:, 1], size=(20, 5)):
        _set(cell_model, data, stage.axis_names, axes)
        np.testing.assert_allclose(
            cell_model.body_pose(data, cell_model.mount_body), kin.axes_to_blade_pose(axes), atol=1e-9
        )


def test_urdf_camera_optical_frame_matches_layout(cell_model) -> None:
    data = mujoco.MjData(cell_model.model)
    mujoco.mj_kinematics(cell_model.model, data)
    body = mujoco.mj_name2id(cell_model.model, mujoco.mjtObj.mjOBJ_BODY, "camera_optical_frame")
    np.testing.assert_allclose(
        cell_model.body_pose(data, body), camera_optical_pose(load_cell_layout()), atol=1e-9
    )


def test_gazebo_launch_file_parses_and_loads_existing_files() -> None:
    """It cannot run here (no Gazebo); it must at least be valid Python naming files that exist."""
    path = DESCRIPTION_PACKAGE / "launch/gazebo.launch.py"
    tree = ast.parse(path.read_text())
    functions = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    literals = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    for rel in ("urdf", "cell.urdf", "worlds", "cell.sdf"):
        assert rel in literals
    assert (DESCRIPTION_PACKAGE / "urdf/cell.urdf").is_file() and (
        DESCRIPTION_PACKAGE / "worlds/cell.sdf"
    ).is_file()
    package = ET.parse(DESCRIPTION_PACKAGE / "package.xml").getroot()
    assert package.findtext("name") == "bladecell_description"
    assert "install(DIRECTORY urdf worlds launch" in (DESCRIPTION_PACKAGE / "CMakeLists.txt").read_text()
