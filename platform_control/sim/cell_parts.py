"""The cell's equipment as robot models: arm, 5-axis stage, camera with light rings, table, tray, bin.

One place builds every link, joint, shape and mass so the URDF, the Gazebo world and the MuJoCo
simulator all see the same cell. The arm's links come from its DH table (standard DH: joint i turns
about z, then the fixed offset Tz(d) Tx(a) Rx(alpha) leads to joint i+1), the stage chain from the stage
geometry, the camera from the camera/cell layout. Joint names, limits and velocities are copied verbatim
from the parameter files; shapes and masses are simple primitives chosen to look and weigh like the real
equipment; only the kinematics are exact.
"""

from __future__ import annotations

import math

from platform_control.params import ArmParams, CameraParams, CellLayout, StageParams
from platform_control.sim.robot_model import (
    CameraSensor,
    Inertial,
    Joint,
    JointLimit,
    Link,
    Material,
    Origin,
    RobotModel,
    Shape,
    SpotLight,
)

# Link names of frames other code looks up (the simulator, pick-and-place, ROS TF consumers).
ARM_BASE_LINK = "arm_base_link"
ARM_FLANGE_LINK = "flange"
TOOL_CENTER_LINK = "tool_center"
STAGE_BASE_LINK = "stage_base"
BLADE_MOUNT_LINK = "blade_mount"
CAMERA_LINK = "camera_link"
CAMERA_OPTICAL_LINK = "camera_optical_frame"
LIGHT_RING_LINK = "light_ring_link"
DARKFIELD_RING_LINK = "darkfield_ring_link"
TRAY_LINK = "tray_slot"
REJECT_BIN_LINK = "reject_bin_drop"

ALUMINIUM = Material("aluminium", (0.70, 0.72, 0.75, 1.0))
ARM_BLUE = Material("arm_blue", (0.36, 0.55, 0.78, 1.0))
ARM_GREY = Material("arm_grey", (0.55, 0.56, 0.58, 1.0))
DARK = Material("dark_anodised", (0.12, 0.12, 0.13, 1.0))
STEEL = Material("steel", (0.50, 0.52, 0.55, 1.0))
TABLE = Material("table_top", (0.35, 0.36, 0.38, 1.0))
LED = Material("led_white", (0.95, 0.95, 0.90, 1.0))
TRAY = Material("tray_green", (0.20, 0.45, 0.30, 1.0))
BIN = Material("bin_red", (0.65, 0.15, 0.12, 1.0))

# Low-angle ring: LEDs DARKFIELD_RADIUS off the optical axis, DARKFIELD_STANDOFF in front of the focus
# plane, so light grazes the focus plane at atan(standoff / radius) ~ 24 degrees.
DARKFIELD_RADIUS = 0.10
DARKFIELD_STANDOFF = 0.045

# Cosmetic and mass properties of a UR10e-class arm (published link masses; joint torque ratings).
_ARM_LINK_MASS = (7.369, 13.051, 3.989, 2.1, 1.98, 0.615)
_ARM_EFFORT = (330.0, 330.0, 150.0, 56.0, 56.0, 56.0)
_ARM_RADIUS = (0.075, 0.075, 0.06, 0.045, 0.045, 0.045)
_STAGE_EFFORT = (800.0, 800.0, 1500.0, 120.0, 60.0)  # N (linear axes), N m (rotary axes)
_STAGE_MASS = (12.0, 9.0, 8.0, 4.0, 1.5)


def _cyl_inertia(mass: float, radius: float, length: float) -> tuple[float, float, float]:
    side = mass * (3 * radius * radius + length * length) / 12.0
    return (side, side, 0.5 * mass * radius * radius)


def _box_inertia(mass: float, size: tuple[float, float, float]) -> tuple[float, float, float]:
    x, y, z = size
    return (mass * (y * y + z * z) / 12, mass * (x * x + z * z) / 12, mass * (x * x + y * y) / 12)


def _link_name(joint_name: str) -> str:
    return joint_name.removesuffix("_joint") + "_link"


def origin_of(p) -> Origin:
    """An Origin from a parameter file's [x, y, z, roll, pitch, yaw] list."""
    return Origin((p[0], p[1], p[2]), (p[3], p[4], p[5]))


def build_arm(arm: ArmParams) -> RobotModel:
    """The 6-DOF arm from its DH table, with a parallel gripper and the tool-centre frame."""
    model = RobotModel(arm.name, ARM_BASE_LINK)
    base_shape = Shape("base_housing", "cylinder", (0.09, 0.08), Origin((0, 0, 0.04)), DARK)
    model.links.append(
        Link(ARM_BASE_LINK, (base_shape,), Inertial(4.0, (0, 0, 0.04), _cyl_inertia(4, 0.09, 0.08)))
    )
    parent, origin = ARM_BASE_LINK, Origin()
    for i, (name, (d, a, alpha)) in enumerate(zip(arm.joint_names, arm.dh, strict=True)):
        link = _link_name(name)
        r = _ARM_RADIUS[i]
        shapes = [
            Shape(f"{link}_housing", "cylinder", (r, 2.2 * r), Origin(), ARM_BLUE if i % 2 else ARM_GREY)
        ]
        if abs(d) > 1e-9:
            shapes.append(Shape(f"{link}_d", "cylinder", (0.8 * r, abs(d)), Origin((0, 0, d / 2)), ARM_GREY))
        if abs(a) > 1e-9:
            shapes.append(
                Shape(
                    f"{link}_a",
                    "cylinder",
                    (0.8 * r, abs(a)),
                    Origin((a / 2, 0, d), (0, math.pi / 2, 0)),
                    ARM_GREY,
                )
            )
        length = max(abs(a), abs(d), 2.2 * r)
        mass = _ARM_LINK_MASS[i]
        inertial = Inertial(mass, (a / 2, 0, d / 2), _cyl_inertia(mass, r, length))
        model.links.append(Link(link, tuple(shapes), inertial))
        lo, hi = arm.joint_limits[i]
        limit = JointLimit(lo, hi, arm.max_velocity[i], _ARM_EFFORT[i])
        model.joints.append(Joint(name, "revolute", parent, link, origin, (0, 0, 1), limit))
        parent, origin = link, Origin((a, 0, d), (alpha, 0, 0))
    tool = float(arm.tool.get("length", 0.0))
    finger_len = max(tool - 0.06, 0.02)
    gripper = (
        Shape("gripper_body", "box", (0.09, 0.06, 0.06), Origin((0, 0, 0.03)), DARK),
        Shape(
            "finger_left", "box", (0.012, 0.03, finger_len), Origin((0.02, 0, 0.06 + finger_len / 2)), STEEL
        ),
        Shape(
            "finger_right", "box", (0.012, 0.03, finger_len), Origin((-0.02, 0, 0.06 + finger_len / 2)), STEEL
        ),
    )
    model.links.append(
        Link(ARM_FLANGE_LINK, gripper, Inertial(0.9, (0, 0, 0.05), _box_inertia(0.9, (0.09, 0.06, 0.1))))
    )
    model.joints.append(Joint("flange_joint", "fixed", parent, ARM_FLANGE_LINK, origin))
    model.links.append(Link(TOOL_CENTER_LINK))
    model.joints.append(
        Joint("tool_center_joint", "fixed", ARM_FLANGE_LINK, TOOL_CENTER_LINK, Origin((0, 0, tool)))
    )
    return model


def build_stage(stage: StageParams) -> RobotModel:
    """X, Y, Z carriages, the A trunnion, the C table, the blade fixture and the blade-mount frame."""
    plate = 0.03
    lift_origin = 3 * plate  # top of the Y carriage above the stage base with all axes at zero
    a_above_lift = stage.a_axis_height - lift_origin
    if a_above_lift <= 0.02:
        raise ValueError(
            f"stage '{stage.name}': a_axis_height {stage.a_axis_height} leaves no room for the carriages"
        )
    x_name, y_name, z_name, a_name, c_name = stage.axis_names
    links = [
        (
            STAGE_BASE_LINK,
            (Shape("stage_plate", "box", (0.52, 0.44, plate), Origin((0, 0, plate / 2)), DARK),),
            25.0,
        ),
        (
            "x_carriage",
            (Shape("x_carriage", "box", (0.36, 0.32, plate), Origin((0, 0, plate / 2)), ALUMINIUM),),
            0,
        ),
        (
            "y_carriage",
            (Shape("y_carriage", "box", (0.32, 0.30, plate), Origin((0, 0, plate / 2)), ALUMINIUM),),
            0,
        ),
        (
            "z_lift",
            tuple(
                Shape(
                    f"z_upright_{side}",
                    "box",
                    (0.03, 0.08, a_above_lift + 0.03),
                    Origin((sx * 0.145, 0, (a_above_lift + 0.03) / 2)),
                    ALUMINIUM,
                )
                for side, sx in (("left", -1), ("right", 1))
            ),
            0,
        ),
        (
            "a_cradle",
            (
                Shape("a_shaft", "cylinder", (0.02, 0.26), Origin((0, 0, 0), (0, math.pi / 2, 0)), STEEL),
                Shape(
                    "c_motor",
                    "cylinder",
                    (0.055, stage.c_table_offset - 0.012),
                    Origin((0, 0, (stage.c_table_offset - 0.012) / 2)),
                    DARK,
                ),
            ),
            0,
        ),
        ("c_table", (Shape("c_table", "cylinder", (0.06, 0.012), Origin((0, 0, -0.006)), ALUMINIUM),), 0),
        (
            "fixture",
            (
                Shape(
                    "fixture_clamp",
                    "box",
                    (0.06, 0.04, stage.fixture_height),
                    Origin((0, 0, stage.fixture_height / 2)),
                    STEEL,
                ),
            ),
            0.8,
        ),
        (BLADE_MOUNT_LINK, (), 0),
    ]
    model = RobotModel(stage.name, STAGE_BASE_LINK)
    masses = {
        name: m
        for name, m in zip(
            ("x_carriage", "y_carriage", "z_lift", "a_cradle", "c_table"), _STAGE_MASS, strict=True
        )
    }
    for name, shapes, mass in links:
        mass = masses.get(name, mass)
        inertial = None
        if mass > 0:
            com = shapes[0].origin.xyz if shapes else (0.0, 0.0, 0.0)
            inertial = Inertial(mass, com, _box_inertia(mass, (0.3, 0.3, 0.1)))
        model.links.append(Link(name, shapes, inertial))
    axes = ((1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 0), (0, 0, 1))
    origins = (
        Origin((0, 0, plate)),
        Origin((0, 0, plate)),
        Origin((0, 0, plate)),
        Origin((0, 0, a_above_lift)),
        Origin((0, 0, stage.c_table_offset)),
    )
    chain = (STAGE_BASE_LINK, "x_carriage", "y_carriage", "z_lift", "a_cradle", "c_table")
    for i, name in enumerate((x_name, y_name, z_name, a_name, c_name)):
        lo, hi = stage.limits[i]
        limit = JointLimit(lo, hi, stage.max_velocity[i], _STAGE_EFFORT[i])
        model.joints.append(
            Joint(name, stage.axis_types[i], chain[i], chain[i + 1], origins[i], axes[i], limit)
        )
    model.joints.append(Joint("fixture_joint", "fixed", "c_table", "fixture"))
    model.joints.append(
        Joint("blade_mount_joint", "fixed", "fixture", BLADE_MOUNT_LINK, Origin((0, 0, stage.fixture_height)))
    )
    return model


def camera_horizontal_fov(camera: CameraParams) -> float:
    return 2.0 * math.atan(camera.width_px / 2.0 / camera.focal_length_px)


def _ring(prefix: str, radius: float, x: float, count: int, size: float) -> tuple[Shape, ...]:
    """LED heads on a circle around the optical (+x) axis."""
    out = []
    for k in range(count):
        phi = 2 * math.pi * k / count
        out.append(
            Shape(
                f"{prefix}_{k}",
                "box",
                (0.01, size, size),
                Origin((x, radius * math.cos(phi), radius * math.sin(phi)), (phi, 0, 0)),
                LED,
                collision=False,
            )
        )
    return tuple(out)


def build_camera(camera: CameraParams, layout: CellLayout) -> RobotModel:
    """The inspection camera (looking along its link's +x), its coaxial light ring, the low-angle
    dark-field ring near the focus plane and the ROS optical frame (z forward, x right, y down)."""
    model = RobotModel(camera.name, CAMERA_LINK)
    mount = layout.camera[2] - layout.table_height
    body = (
        Shape("camera_body", "box", (0.10, 0.07, 0.07), Origin((-0.11, 0, 0)), DARK),
        Shape("lens", "cylinder", (0.025, 0.06), Origin((-0.03, 0, 0), (0, math.pi / 2, 0)), DARK),
        Shape("camera_post", "box", (0.04, 0.04, mount), Origin((-0.18, 0, -mount / 2)), ALUMINIUM),
    )
    model.links.append(
        Link(CAMERA_LINK, body, Inertial(1.2, (-0.1, 0, 0), _box_inertia(1.2, (0.16, 0.07, 0.07))))
    )
    model.links.append(Link(CAMERA_OPTICAL_LINK))
    model.joints.append(
        Joint(
            "camera_optical_joint",
            "fixed",
            CAMERA_LINK,
            CAMERA_OPTICAL_LINK,
            Origin(rpy=(-math.pi / 2, 0, -math.pi / 2)),
        )
    )
    model.links.append(Link(LIGHT_RING_LINK, _ring("ring_led", 0.05, 0.0, 12, 0.014)))
    model.joints.append(
        Joint("light_ring_joint", "fixed", CAMERA_LINK, LIGHT_RING_LINK, Origin((0.005, 0, 0)))
    )
    dark_x = camera.working_distance - DARKFIELD_STANDOFF
    bracket = Shape(
        "darkfield_bracket",
        "box",
        (dark_x, 0.012, 0.012),
        Origin((-dark_x / 2, 0, DARKFIELD_RADIUS)),
        ALUMINIUM,
        collision=False,
    )
    model.links.append(
        Link(DARKFIELD_RING_LINK, (bracket, *_ring("darkfield_led", DARKFIELD_RADIUS, 0.0, 16, 0.012)))
    )
    model.joints.append(
        Joint("darkfield_ring_joint", "fixed", CAMERA_LINK, DARKFIELD_RING_LINK, Origin((dark_x, 0, 0)))
    )
    fov = camera_horizontal_fov(camera)
    model.cameras.append(
        CameraSensor(camera.name, CAMERA_LINK, camera.width_px, camera.height_px, fov, 0.05, 5.0, 10.0)
    )
    model.lights.append(SpotLight("ring_light", LIGHT_RING_LINK, Origin(), 0.5, 1.0))
    model.lights.append(
        SpotLight(
            "darkfield_light", DARKFIELD_RING_LINK, Origin((0, 0, DARKFIELD_RADIUS), (0, 1.1, 0)), 0.8, 0.5
        )
    )
    return model


def build_equipment(layout: CellLayout) -> list[tuple[RobotModel, Origin]]:
    """Static equipment: the cell table, the blade tray and the reject bin, with their world poses."""
    top = layout.table_height
    slab = 0.05
    table = RobotModel("cell_table", "table")
    legs = tuple(
        Shape(f"leg_{i}", "box", (0.06, 0.06, top - slab), Origin((x, y, (top - slab) / 2)), DARK)
        for i, (x, y) in enumerate(((-1.12, -0.37), (-1.12, 0.77), (0.32, -0.37), (0.32, 0.77)))
    )
    table.links.append(
        Link(
            "table",
            (Shape("table_top", "box", (1.5, 1.2, slab), Origin((-0.4, 0.2, top - slab / 2)), TABLE), *legs),
        )
    )
    tray = RobotModel("blade_tray", TRAY_LINK)
    tray.links.append(
        Link(
            TRAY_LINK,
            (
                Shape("tray_plate", "box", (0.30, 0.22, 0.02), Origin((0, 0, -0.01)), TRAY),
                Shape("tray_slot_guide", "box", (0.08, 0.05, 0.004), Origin((0, 0, 0.002)), DARK),
            ),
        )
    )
    depth, w, length, wall = 0.40, 0.30, 0.40, 0.01
    walls = (
        Shape("bin_floor", "box", (length, w, wall), Origin((0, 0, -depth + wall / 2)), BIN),
        Shape("bin_wall_x0", "box", (wall, w, depth), Origin((-length / 2, 0, -depth / 2)), BIN),
        Shape("bin_wall_x1", "box", (wall, w, depth), Origin((length / 2, 0, -depth / 2)), BIN),
        Shape("bin_wall_y0", "box", (length, wall, depth), Origin((0, -w / 2, -depth / 2)), BIN),
        Shape("bin_wall_y1", "box", (length, wall, depth), Origin((0, w / 2, -depth / 2)), BIN),
    )
    reject = RobotModel("reject_bin", REJECT_BIN_LINK)
    reject.links.append(Link(REJECT_BIN_LINK, walls))
    return [(table, Origin()), (tray, origin_of(layout.tray)), (reject, origin_of(layout.reject_bin))]


def build_cell(arm: ArmParams, stage: StageParams, camera: CameraParams, layout: CellLayout) -> RobotModel:
    """The whole cell as one tree under the `world` link (what MuJoCo and robot_state_publisher load)."""
    cell = RobotModel("bladecell", "world")
    cell.links.append(Link("world"))
    cell.merge(build_arm(arm), "world", origin_of(layout.arm_base), "world_to_arm")
    cell.merge(build_stage(stage), "world", origin_of(layout.stage_base), "world_to_stage")
    cell.merge(build_camera(camera, layout), "world", origin_of(layout.camera), "world_to_camera")
    for model, origin in build_equipment(layout):
        cell.merge(model, "world", origin, f"world_to_{model.name}")
    return cell
