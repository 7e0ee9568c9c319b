"""The MuJoCo model of the cell, built from the generated cell URDF with MjSpec.

Added on top of the URDF: drive inertia (armature) and a servo per arm joint and stage axis (a position
actuator plus a velocity actuator for the trajectory's velocity feed-forward; the drives compensate
gravity), the inspection camera on the optical frame, the lights of the normal pass, and the blade: a
mocap body with the blade mesh that follows whatever holds it (fixture, gripper, tray). Contacts are
off: the planners keep clearances, and the cosmetic link shapes touch where real links have gaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
import trimesh

from platform_control.params import ArmParams, StageParams
from platform_control.sim.cell_parts import BLADE_MOUNT_LINK, CAMERA_OPTICAL_LINK, TOOL_CENTER_LINK
from platform_control.sim.description import cell_urdf
from platform_control.sim.geometry_pass import add_normal_lights
from platform_control.sim.sensor import FrameGeometry

CAMERA_NAME = "inspection_camera"
BLADE_BODY = "blade"
TIMESTEP = 0.002
SERVO_BANDWIDTH_HZ = 20.0  # closed-loop bandwidth of every drive
BLADE_GROUP = 2
# Reflected motor + gearbox inertia of the drives (kg m^2 for rotary, kg for linear axes).
_ARM_ARMATURE = (2.0, 2.0, 1.0, 0.3, 0.3, 0.3)
_STAGE_ARMATURE = (6.0, 6.0, 8.0, 0.4, 0.15)


@dataclass
class CellModel:
    """The compiled model and the indices the simulator needs."""

    model: mujoco.MjModel
    arm_joints: tuple[str, ...]
    stage_joints: tuple[str, ...]
    qpos_index: dict[str, int]
    dof_index: dict[str, int]
    position_actuator: dict[str, int]
    velocity_actuator: dict[str, int]
    blade_body: int  # -1 without a blade
    blade_mocap: int
    blade_geom: int
    tool_body: int
    mount_body: int
    camera: str = CAMERA_NAME

    def qpos(self, data: mujoco.MjData, joints: tuple[str, ...]) -> np.ndarray:
        return np.array([data.qpos[self.qpos_index[j]] for j in joints])

    def qvel(self, data: mujoco.MjData, joints: tuple[str, ...]) -> np.ndarray:
        return np.array([data.qvel[self.dof_index[j]] for j in joints])

    def body_pose(self, data: mujoco.MjData, body: int) -> np.ndarray:
        out = np.eye(4)
        out[:3, :3] = data.xmat[body].reshape(3, 3)
        out[:3, 3] = data.xpos[body]
        return out


def _add_blade(spec: mujoco.MjSpec, mesh: trimesh.Trimesh) -> None:
    asset = spec.add_mesh()
    asset.name = BLADE_BODY
    asset.uservert = np.asarray(mesh.vertices, dtype=np.float64).ravel()
    asset.userface = np.asarray(mesh.faces, dtype=np.int32).ravel()
    asset.inertia = mujoco.mjtMeshInertia.mjMESH_INERTIA_SHELL
    body = spec.worldbody.add_body()
    body.name = BLADE_BODY
    body.mocap = True
    geom = body.add_geom()
    geom.name = BLADE_BODY
    geom.type = mujoco.mjtGeom.mjGEOM_MESH
    geom.meshname = BLADE_BODY
    geom.group = BLADE_GROUP
    geom.contype = 0
    geom.conaffinity = 0
    geom.rgba = (0.75, 0.74, 0.70, 1.0)


def _tune_servos(cm: CellModel, home: dict[str, float]) -> None:
    """Critically damped PD gains from the joint-space inertia at the home configuration."""
    model = cm.model
    data = mujoco.MjData(model)
    for name, value in home.items():
        data.qpos[cm.qpos_index[name]] = value
    mujoco.mj_forward(model, data)
    inertia = np.zeros((model.nv, model.nv))
    mujoco.mj_fullM(model, data, inertia)
    omega = 2 * np.pi * SERVO_BANDWIDTH_HZ
    for name in (*cm.arm_joints, *cm.stage_joints):
        m = inertia[cm.dof_index[name], cm.dof_index[name]]
        kp, kv = m * omega * omega, 2.0 * m * omega
        pa, va = cm.position_actuator[name], cm.velocity_actuator[name]
        model.actuator_gainprm[pa, 0], model.actuator_biasprm[pa, 1] = kp, -kp
        model.actuator_gainprm[va, 0], model.actuator_biasprm[va, 2] = kv, -kv


def build_cell_model(
    arm: ArmParams,
    stage: StageParams,
    frame: FrameGeometry,
    blade: trimesh.Trimesh | None = None,
    home: dict[str, float] | None = None,
    urdf: str | None = None,
) -> CellModel:
    """Compile the cell (from `urdf`, default the generated cell URDF) for a camera frame of `frame`."""
    spec = mujoco.MjSpec.from_string(urdf or cell_urdf())
    spec.option.timestep = TIMESTEP
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.disableflags |= mujoco.mjtDisableBit.mjDSBL_CONTACT
    spec.visual.global_.offwidth = max(frame.width, 640)
    spec.visual.global_.offheight = max(frame.height, 480)
    spec.stat.extent = 2.0
    spec.visual.map.znear = 0.01  # x extent: 2 cm
    spec.visual.map.zfar = 5.0
    optical = spec.body(CAMERA_OPTICAL_LINK)
    cam = optical.add_camera()
    cam.name = CAMERA_NAME
    cam.fovy = frame.fovy_deg
    cam.quat = (0.0, 1.0, 0.0, 0.0)  # optical frame (z forward, y down) -> MuJoCo camera (-z forward, y up)
    add_normal_lights(spec)
    if blade is not None:
        _add_blade(spec, blade)
    joints = (*arm.joint_names, *stage.axis_names)
    armature = (*_ARM_ARMATURE, *_STAGE_ARMATURE)
    for name, arm_inertia in zip(joints, armature, strict=True):
        joint = spec.joint(name)
        if joint is None:
            raise ValueError(f"cell URDF has no joint '{name}' (parameter files and URDF disagree)")
        joint.armature = arm_inertia
        joint.actgravcomp = True
        pos = spec.add_actuator()
        pos.name = f"{name}_position"
        pos.target = name
        pos.trntype = mujoco.mjtTrn.mjTRN_JOINT
        pos.set_to_position(kp=1.0)
        vel = spec.add_actuator()
        vel.name = f"{name}_velocity"
        vel.target = name
        vel.trntype = mujoco.mjtTrn.mjTRN_JOINT
        vel.set_to_velocity(kv=1.0)
    for body in spec.bodies:
        if body.name not in ("world", BLADE_BODY):
            body.gravcomp = 1.0
    model = spec.compile()

    def jid(name: str) -> int:
        return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)

    def aid(name: str) -> int:
        return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, name)

    blade_body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, BLADE_BODY) if blade is not None else -1
    cm = CellModel(
        model=model,
        arm_joints=tuple(arm.joint_names),
        stage_joints=tuple(stage.axis_names),
        qpos_index={j: int(model.jnt_qposadr[jid(j)]) for j in joints},
        dof_index={j: int(model.jnt_dofadr[jid(j)]) for j in joints},
        position_actuator={j: aid(f"{j}_position") for j in joints},
        velocity_actuator={j: aid(f"{j}_velocity") for j in joints},
        blade_body=blade_body,
        blade_mocap=int(model.body_mocapid[blade_body]) if blade is not None else -1,
        blade_geom=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, BLADE_BODY)
        if blade is not None
        else -1,
        tool_body=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, TOOL_CENTER_LINK),
        mount_body=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, BLADE_MOUNT_LINK),
    )
    _tune_servos(cm, home or {})
    return cm
