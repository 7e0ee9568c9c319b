"""Arm driver node (`MotionDriverNode` for the 6-DOF arm + its gripper).

Run alone with `driver:=real` on a plant (needs the vendor driver, see bladecell_ros.nodes.hardware); the
simulated arm runs inside `bladecell_ros.nodes.sim_cell`, which composes it with the stage and imaging.
"""

from __future__ import annotations

from typing import Any

from bladecell_ros.nodes.hardware import run_standalone_driver
from bladecell_ros.nodes.motion_driver import MotionDriverNode
from platform_control.hardware import ArmDriver, Gripper


class ArmDriverNode(MotionDriverNode):
    def __init__(self, driver: ArmDriver, gripper: Gripper, **kwargs: Any) -> None:
        super().__init__("arm_driver", "arm", driver, gripper, **kwargs)


def main(args: list[str] | None = None) -> None:
    run_standalone_driver("arm", args)


if __name__ == "__main__":
    main()
