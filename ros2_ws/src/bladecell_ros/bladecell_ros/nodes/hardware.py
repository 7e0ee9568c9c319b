"""Which driver a hardware node runs: the simulator's, or a vendor's ("driver" parameter: sim | real).

Vendor drivers are not part of this repository yet; asking for one fails with the protocol to
implement and the vendor interface it should wrap, instead of pretending to move hardware.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

VENDOR_DRIVERS = {
    "arm": ("ArmDriver + Gripper", "the UR10e's RTDE interface (ur_rtde) and the gripper's I/O"),
    "stage": ("StageDriver", "the 5-axis stage's motion controller (e.g. Aerotech A3200 / ACS SPiiPlus API)"),
    "imaging": (
        "Camera + LightController",
        "the GigE Vision camera (Aravis / vendor SDK) and the "
        "light-ring controller (e.g. Gardasoft serial/Ethernet protocol)",
    ),
}


def check_driver_kind(kind: str, device: str) -> str:
    if kind not in ("sim", "real"):
        raise ValueError(f"parameter 'driver' of the {device} node must be 'sim' or 'real', got {kind!r}")
    return kind


def real_driver(device: str) -> NoReturn:
    protocols, vendor = VENDOR_DRIVERS[device]
    raise NotImplementedError(
        f"no real {device} driver is installed: implement platform_control.hardware.{protocols} over "
        f"{vendor} and construct it in bladecell_ros.nodes.hardware; until then run the {device} "
        "with driver:=sim"
    )


def run_standalone_driver(device: str, args: Sequence[str] | None = None) -> None:
    """`python -m bladecell_ros.nodes.<device>` on its own: reads the node's `driver` parameter.

    `real` needs a vendor driver (see `real_driver`); `sim` is refused here because the simulated arm,
    stage and camera share one physics world, run by `bladecell_ros.nodes.sim_cell`.
    """
    import rclpy

    from bladecell_ros.transport.node_utils import param

    rclpy.init(args=list(args) if args is not None else None)
    try:
        node = rclpy.create_node({"arm": "arm_driver", "stage": "stage_driver"}.get(device, device))
        kind = check_driver_kind(param(node, "driver", "real", "sim | real"), device)
        node.destroy_node()
    finally:
        rclpy.try_shutdown()
    if kind == "real":
        real_driver(device)
    raise SystemExit(
        f"the simulated {device} shares one world with the other simulated devices: run "
        "`python -m bladecell_ros.nodes.sim_cell` (or `bladecell up --sim`)"
    )
