"""The simulated cell's process: ONE MuJoCo world shared by the arm, stage and imaging nodes.

Nodes composed here on one MultiThreadedExecutor: `sim_cell` (owns the `SimWorld`; service
`sim/state` returns the world snapshot as JSON), `arm_driver`, `stage_driver` and `imaging`, each the
same node class a plant runs with real drivers. Killing this process is what "the imaging node died"
looks like in simulation; the world's state file brings the blade and the stage back where they were.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rclpy.node import Node
from std_srvs.srv import Trigger

from bladecell_ros.nodes.arm_driver import ArmDriverNode
from bladecell_ros.nodes.imaging import ImagingNode
from bladecell_ros.nodes.stage_driver import StageDriverNode
from bladecell_ros.transport.node_utils import data_home, param, run_nodes
from platform_control.sim.cell import SimConfig
from platform_control.sim.world import SimBladeSpec, SimWorld


class SimCellNode(Node):
    """Builds the simulated world from its parameters."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("sim_cell", **kwargs)
        spec = SimBladeSpec(
            preset=param(self, "blade.preset", "small", "blade generator preset"),
            seed=param(self, "blade.seed", 3, "blade geometry + defect seed"),
            defects_min=param(self, "blade.defects_min", 4, "fewest synthetic defects"),
            defects_max=param(self, "blade.defects_max", 8, "most synthetic defects"),
            defect_classes=tuple(
                c.strip()
                for c in param(
                    self, "blade.defect_classes", "", "comma-separated classes (empty: random)"
                ).split(",")
                if c.strip()
            ),
            texture_seed=param(self, "blade.texture_seed", 5, "surface texture seed"),
        )
        config = SimConfig(
            timing=param(self, "timing", "deterministic", "deterministic | realtime"),
            speed=param(self, "speed", 1.0, "real-time factor in realtime mode"),
            seed=param(self, "seed", 0, "camera noise seed"),
        )
        state = param(self, "state_file", "", "world state file (empty: $BLADECELL_HOME/sim/world.json)")
        self.world = SimWorld(
            spec,
            config,
            resolution=param(self, "resolution", 1024, "square frame size in pixels (binning 0)"),
            binning=param(self, "binning", 0, "whole sensor binned N x N (0: use resolution)"),
            state_file=Path(state) if state else data_home() / "sim" / "world.json",
            restore=param(self, "restore", True, "restore the saved world on start"),
        )
        self.create_service(Trigger, "sim/state", self._on_state)
        self.get_logger().info(
            f"simulated cell: {spec.preset} blade seed {self.world.blade_spec.seed} in the "
            f"{self.world.blade_holder}, {config.timing} timing"
        )

    def _on_state(self, _request, response: Trigger.Response) -> Trigger.Response:
        response.success = True
        response.message = json.dumps(self.world.snapshot())
        return response

    def close(self) -> None:
        self.world.save()
        self.world.close()


def make_nodes() -> list[Node]:
    sim = SimCellNode()
    world = sim.world
    return [
        sim,
        ArmDriverNode(world.arm, world.gripper),
        StageDriverNode(world.stage),
        ImagingNode(
            world.lights,
            world.camera,
            label_source=world.camera.last_label,
            label_classes=tuple(world.label_classes),
            wait=world.camera.wait,
            clock=world.camera.clock,
        ),
    ]


def main(args: list[str] | None = None) -> None:
    run_nodes(make_nodes, args, threads=6)


if __name__ == "__main__":
    main()
