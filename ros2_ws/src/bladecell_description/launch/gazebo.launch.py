"""Launch the BladeCell world in Gazebo (gz-sim) with robot_state_publisher and the ROS-Gazebo bridge.

For sites that have Gazebo (Harmonic or newer) and `ros_gz` installed; it cannot run on the project's
development machines, where the MuJoCo simulator (`platform_control.sim`) is used instead. Usage:

    ros2 launch bladecell_description gazebo.launch.py [headless:=true]

What it starts:
- gz-sim with worlds/cell.sdf (arm, stage with fixture, camera with light rings, tray, reject bin);
- robot_state_publisher with urdf/cell.urdf (TF of the whole cell);
- ros_gz_bridge: the camera image, the arm's and the stage's joint states, and one position command
  topic per joint (the world's JointPositionController systems listen on them).
"""

import os
import xml.etree.ElementTree as ET

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node


def _movable_joints(sdf_path: str) -> dict[str, list[str]]:
    """Model name -> its movable joints, read from the world file (one source: the generated SDF)."""
    out: dict[str, list[str]] = {}
    for model in ET.parse(sdf_path).getroot().iter("model"):
        joints = [j.get("name") for j in model.findall("joint") if j.get("type") in ("revolute", "prismatic")]
        if joints:
            out[model.get("name")] = joints
    return out


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("bladecell_description")
    world = os.path.join(share, "worlds", "cell.sdf")
    with open(os.path.join(share, "urdf", "cell.urdf")) as f:
        robot_description = f.read()
    headless = LaunchConfiguration("headless")
    gz_sim = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            os.path.join(get_package_share_directory("ros_gz_sim"), "launch", "gz_sim.launch.py")
        ),
        launch_arguments={
            "gz_args": PythonExpression(
                ["'-r -s ", world, "' if '", headless, "' == 'true' else '-r ", world, "'"]
            )
        }.items(),
    )
    bridges = ["/inspection_camera@sensor_msgs/msg/Image[gz.msgs.Image"]
    for model, joints in _movable_joints(world).items():
        bridges.append(f"/{model}/joint_states@sensor_msgs/msg/JointState[gz.msgs.Model")
        bridges += [f"/{model}/{joint}/cmd_pos@std_msgs/msg/Float64]gz.msgs.Double" for joint in joints]
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "headless", default_value="false", description="run gz-sim without its GUI"
            ),
            gz_sim,
            Node(
                package="robot_state_publisher",
                executable="robot_state_publisher",
                parameters=[{"robot_description": robot_description, "use_sim_time": True}],
            ),
            Node(package="ros_gz_bridge", executable="parameter_bridge", arguments=bridges, output="screen"),
        ]
    )
