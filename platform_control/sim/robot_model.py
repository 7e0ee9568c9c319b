"""A small in-memory robot description (links, shapes, joints) with URDF and SDF 1.9 writers.

`description.py` builds the arm, the stage, the camera and the cell from the parameter files into this
form once; both file formats are written from it, so the URDF (ROS, MuJoCo) and the SDF world (Gazebo)
cannot disagree. Output is deterministic text (fixed number formatting, stable order), which lets a test
regenerate the committed files and compare them byte for byte.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Literal

Vec3 = tuple[float, float, float]
GeometryKind = Literal["box", "cylinder", "sphere"]
JointKind = Literal["fixed", "revolute", "prismatic"]


def fmt(value: float) -> str:
    """Stable, compact number text: 15 significant digits, shortest form (no '-0', no float noise)."""
    value = float(f"{float(value):.15g}")
    if abs(value) < 1e-15:
        value = 0.0
    if value == 0:
        return "0"
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def fmt_vec(values) -> str:
    return " ".join(fmt(float(v)) for v in values)


@dataclass(frozen=True)
class Origin:
    """A pose as URDF writes it: translation (m) and extrinsic roll-pitch-yaw (rad)."""

    xyz: Vec3 = (0.0, 0.0, 0.0)
    rpy: Vec3 = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Material:
    name: str
    rgba: tuple[float, float, float, float]


@dataclass(frozen=True)
class Shape:
    """One primitive. box size = (x, y, z) edge lengths; cylinder = (radius, length) along local z;
    sphere = (radius,)."""

    name: str
    kind: GeometryKind
    size: tuple[float, ...]
    origin: Origin = Origin()
    material: Material | None = None
    collision: bool = True


@dataclass(frozen=True)
class Inertial:
    mass: float
    com: Vec3
    inertia: Vec3  # principal moments about the centre of mass, aligned with the link frame


@dataclass(frozen=True)
class Link:
    name: str
    shapes: tuple[Shape, ...] = ()
    inertial: Inertial | None = None


@dataclass(frozen=True)
class JointLimit:
    lower: float
    upper: float
    velocity: float
    effort: float


@dataclass(frozen=True)
class Joint:
    name: str
    kind: JointKind
    parent: str
    child: str
    origin: Origin = Origin()
    axis: Vec3 = (0.0, 0.0, 1.0)
    limit: JointLimit | None = None


@dataclass(frozen=True)
class CameraSensor:
    """A pinhole camera attached to `link`, looking along the link's +x (Gazebo convention)."""

    name: str
    link: str
    width: int
    height: int
    horizontal_fov: float
    near: float
    far: float
    rate_hz: float


@dataclass(frozen=True)
class SpotLight:
    """A light attached to `link`, shining along the link's +x."""

    name: str
    link: str
    origin: Origin
    spot_angle: float
    range_m: float
    rgba: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)


@dataclass
class RobotModel:
    """A tree of links and joints; `root` is the link the tree hangs from."""

    name: str
    root: str
    links: list[Link] = field(default_factory=list)
    joints: list[Joint] = field(default_factory=list)
    cameras: list[CameraSensor] = field(default_factory=list)
    lights: list[SpotLight] = field(default_factory=list)

    def movable_joints(self) -> list[Joint]:
        return [j for j in self.joints if j.kind != "fixed"]

    def merge(self, other: RobotModel, parent: str, origin: Origin, joint_name: str) -> None:
        """Attach `other` below link `parent` with a fixed joint."""
        self.links.extend(other.links)
        self.joints.append(Joint(joint_name, "fixed", parent, other.root, origin))
        self.joints.extend(other.joints)
        self.cameras.extend(other.cameras)
        self.lights.extend(other.lights)

    def check(self) -> None:
        """Unique names and a single connected tree (a description error is a generator bug)."""
        names = [link.name for link in self.links]
        if len(set(names)) != len(names):
            raise ValueError(f"robot {self.name}: duplicate link names")
        joint_names = [j.name for j in self.joints]
        if len(set(joint_names)) != len(joint_names):
            raise ValueError(f"robot {self.name}: duplicate joint names")
        children = [j.child for j in self.joints]
        if len(set(children)) != len(children) or self.root in children:
            raise ValueError(f"robot {self.name}: a link has two parents")
        missing = (set(children) | {j.parent for j in self.joints}) - set(names)
        if missing or set(names) - set(children) != {self.root}:
            raise ValueError(f"robot {self.name}: not one tree (missing {sorted(missing)})")


# --------------------------------------------------------------------------------------------- URDF


def _urdf_geometry(parent: ET.Element, shape: Shape) -> None:
    geom = ET.SubElement(parent, "geometry")
    if shape.kind == "box":
        ET.SubElement(geom, "box", size=fmt_vec(shape.size))
    elif shape.kind == "cylinder":
        ET.SubElement(geom, "cylinder", radius=fmt(shape.size[0]), length=fmt(shape.size[1]))
    else:
        ET.SubElement(geom, "sphere", radius=fmt(shape.size[0]))


def _urdf_origin(parent: ET.Element, origin: Origin) -> None:
    ET.SubElement(parent, "origin", xyz=fmt_vec(origin.xyz), rpy=fmt_vec(origin.rpy))


def to_urdf(model: RobotModel, mujoco_compiler: bool = True) -> str:
    """URDF text. `mujoco_compiler` adds the <mujoco> block that keeps visuals and fixed links when
    MuJoCo loads the file (ROS and sdformat ignore it)."""
    model.check()
    robot = ET.Element("robot", name=model.name)
    if mujoco_compiler:
        mj = ET.SubElement(robot, "mujoco")
        ET.SubElement(mj, "compiler", discardvisual="false", fusestatic="false", balanceinertia="true")
    materials = {}
    for link in model.links:
        for shape in link.shapes:
            if shape.material is not None:
                materials[shape.material.name] = shape.material
    for mat in sorted(materials.values(), key=lambda m: m.name):
        el = ET.SubElement(robot, "material", name=mat.name)
        ET.SubElement(el, "color", rgba=fmt_vec(mat.rgba))
    for link in model.links:
        el = ET.SubElement(robot, "link", name=link.name)
        if link.inertial is not None:
            inertial = ET.SubElement(el, "inertial")
            ET.SubElement(inertial, "origin", xyz=fmt_vec(link.inertial.com), rpy="0 0 0")
            ET.SubElement(inertial, "mass", value=fmt(link.inertial.mass))
            ixx, iyy, izz = link.inertial.inertia
            ET.SubElement(
                inertial, "inertia", ixx=fmt(ixx), ixy="0", ixz="0", iyy=fmt(iyy), iyz="0", izz=fmt(izz)
            )
        for shape in link.shapes:
            vis = ET.SubElement(el, "visual", name=f"{shape.name}_visual")
            _urdf_origin(vis, shape.origin)
            _urdf_geometry(vis, shape)
            if shape.material is not None:
                ET.SubElement(vis, "material", name=shape.material.name)
            if shape.collision:
                col = ET.SubElement(el, "collision", name=f"{shape.name}_collision")
                _urdf_origin(col, shape.origin)
                _urdf_geometry(col, shape)
    for joint in model.joints:
        el = ET.SubElement(robot, "joint", name=joint.name, type=joint.kind)
        ET.SubElement(el, "parent", link=joint.parent)
        ET.SubElement(el, "child", link=joint.child)
        _urdf_origin(el, joint.origin)
        if joint.kind != "fixed":
            ET.SubElement(el, "axis", xyz=fmt_vec(joint.axis))
            lim = joint.limit
            assert lim is not None, joint.name
            ET.SubElement(
                el,
                "limit",
                lower=fmt(lim.lower),
                upper=fmt(lim.upper),
                effort=fmt(lim.effort),
                velocity=fmt(lim.velocity),
            )
    for cam in model.cameras:
        gz = ET.SubElement(robot, "gazebo", reference=cam.link)
        gz.append(_sdf_camera_sensor(cam))
    return _pretty(robot)


# ---------------------------------------------------------------------------------------------- SDF


def _sdf_pose(parent: ET.Element, origin: Origin, relative_to: str | None = None) -> None:
    pose = ET.SubElement(parent, "pose")
    if relative_to is not None:
        pose.set("relative_to", relative_to)
    pose.text = f"{fmt_vec(origin.xyz)} {fmt_vec(origin.rpy)}"


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = text
    return el


def _sdf_geometry(parent: ET.Element, shape: Shape) -> None:
    geom = ET.SubElement(parent, "geometry")
    if shape.kind == "box":
        _text(ET.SubElement(geom, "box"), "size", fmt_vec(shape.size))
    elif shape.kind == "cylinder":
        cyl = ET.SubElement(geom, "cylinder")
        _text(cyl, "radius", fmt(shape.size[0]))
        _text(cyl, "length", fmt(shape.size[1]))
    else:
        _text(ET.SubElement(geom, "sphere"), "radius", fmt(shape.size[0]))


def _sdf_camera_sensor(cam: CameraSensor) -> ET.Element:
    sensor = ET.Element("sensor", name=cam.name, type="camera")
    _text(sensor, "always_on", "true")
    _text(sensor, "update_rate", fmt(cam.rate_hz))
    _text(sensor, "topic", cam.name)
    camera = ET.SubElement(sensor, "camera", name=cam.name)
    _text(camera, "horizontal_fov", fmt(cam.horizontal_fov))
    image = ET.SubElement(camera, "image")
    _text(image, "width", str(cam.width))
    _text(image, "height", str(cam.height))
    _text(image, "format", "L8")
    clip = ET.SubElement(camera, "clip")
    _text(clip, "near", fmt(cam.near))
    _text(clip, "far", fmt(cam.far))
    return sensor


def _sdf_light(light: SpotLight) -> ET.Element:
    el = ET.Element("light", name=light.name, type="spot")
    _sdf_pose(el, light.origin)
    _text(el, "cast_shadows", "false")
    _text(el, "diffuse", fmt_vec(light.rgba))
    _text(el, "specular", fmt_vec(light.rgba))
    att = ET.SubElement(el, "attenuation")
    _text(att, "range", fmt(light.range_m))
    _text(att, "constant", "0.5")
    _text(att, "linear", "0.01")
    _text(att, "quadratic", "0.001")
    _text(el, "direction", "1 0 0")
    spot = ET.SubElement(el, "spot")
    _text(spot, "inner_angle", fmt(0.5 * light.spot_angle))
    _text(spot, "outer_angle", fmt(light.spot_angle))
    _text(spot, "falloff", "1")
    return el


def to_sdf_model(model: RobotModel, pose: Origin, static: bool = False) -> ET.Element:
    """An SDF 1.9 <model>: link poses relative to their parent joints, exactly as the URDF chains them.
    The root link is welded to the world unless the model is static."""
    model.check()
    el = ET.Element("model", name=model.name)
    _text(el, "static", "true" if static else "false")
    _sdf_pose(el, pose)
    parent_joint = {j.child: j.name for j in model.joints}
    for link in model.links:
        link_el = ET.SubElement(el, "link", name=link.name)
        joint_name = parent_joint.get(link.name)
        _sdf_pose(link_el, Origin(), relative_to=joint_name if joint_name else "__model__")
        if link.inertial is not None:
            inertial = ET.SubElement(link_el, "inertial")
            _sdf_pose(inertial, Origin(link.inertial.com))
            _text(inertial, "mass", fmt(link.inertial.mass))
            inertia = ET.SubElement(inertial, "inertia")
            for tag, value in zip(("ixx", "iyy", "izz"), link.inertial.inertia, strict=True):
                _text(inertia, tag, fmt(value))
            for tag in ("ixy", "ixz", "iyz"):
                _text(inertia, tag, "0")
        for shape in link.shapes:
            if shape.collision:
                col = ET.SubElement(link_el, "collision", name=f"{shape.name}_collision")
                _sdf_pose(col, shape.origin)
                _sdf_geometry(col, shape)
            vis = ET.SubElement(link_el, "visual", name=f"{shape.name}_visual")
            _sdf_pose(vis, shape.origin)
            _sdf_geometry(vis, shape)
            if shape.material is not None:
                mat = ET.SubElement(vis, "material")
                rgba = fmt_vec(shape.material.rgba)
                _text(mat, "ambient", rgba)
                _text(mat, "diffuse", rgba)
        for cam in model.cameras:
            if cam.link == link.name:
                link_el.append(_sdf_camera_sensor(cam))
        for light in model.lights:
            if light.link == link.name:
                link_el.append(_sdf_light(light))
    for joint in model.joints:
        j = ET.SubElement(el, "joint", name=joint.name, type=joint.kind)
        _sdf_pose(j, joint.origin, relative_to=joint.parent)
        _text(j, "parent", joint.parent)
        _text(j, "child", joint.child)
        if joint.kind != "fixed":
            axis = ET.SubElement(j, "axis")
            _text(axis, "xyz", fmt_vec(joint.axis))
            lim = joint.limit
            assert lim is not None, joint.name
            limit = ET.SubElement(axis, "limit")
            _text(limit, "lower", fmt(lim.lower))
            _text(limit, "upper", fmt(lim.upper))
            _text(limit, "effort", fmt(lim.effort))
            _text(limit, "velocity", fmt(lim.velocity))
    if not static:
        weld = ET.SubElement(el, "joint", name=f"{model.name}_to_world", type="fixed")
        _text(weld, "parent", "world")
        _text(weld, "child", model.root)
    return el


def _pretty(root: ET.Element) -> str:
    ET.indent(root, space="  ")
    return '<?xml version="1.0"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def to_sdf_world(name: str, children: list[ET.Element], header_comment: str) -> str:
    """A complete SDF 1.9 document holding one <world> with the given children."""
    sdf = ET.Element("sdf", version="1.9")
    world = ET.SubElement(sdf, "world", name=name)
    world.extend(children)
    text = _pretty(sdf)
    head, body = text.split("\n", 1)
    return f"{head}\n<!-- {header_comment} -->\n{body}"


def rpy_of_axis_x_to(direction: Vec3) -> Vec3:
    """Roll-pitch-yaw that turns the +x axis onto `direction` (no roll)."""
    x, y, z = direction
    yaw = math.atan2(y, x)
    pitch = -math.atan2(z, math.hypot(x, y))
    return (0.0, pitch, yaw)
