"""Stage driver node (`MotionDriverNode` for the 5-axis stage).

Run alone with `driver:=real` on a plant (needs the vendor driver, see bladecell_ros.nodes.hardware); the
simulated stage runs inside `bladecell_ros.nodes.sim_cell`.
"""

from __future__ import annotations

from typing import Any

from bladecell_ros.nodes.hardware import run_standalone_driver
from bladecell_ros.nodes.motion_driver import MotionDriverNode
from platform_control.hardware import StageDriver


class StageDriverNode(MotionDriverNode):
    def __init__(self, driver: StageDriver, **kwargs: Any) -> None:
        super().__init__("stage_driver", "stage", driver, **kwargs)


def main(args: list[str] | None = None) -> None:
    run_standalone_driver("stage", args)


if __name__ == "__main__":
    main()
