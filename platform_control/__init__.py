"""BladeCell's cell logic without ROS: kinematics, coverage planning, imaging plans, the cycle
state machine, hardware interfaces and the simulator."""

__version__ = "0.1.0"
