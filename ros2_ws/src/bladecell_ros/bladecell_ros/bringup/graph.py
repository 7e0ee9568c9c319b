"""The cell's process graph (ROS-free): which processes `bladecell up --sim` starts, the node names
each one must bring up, and the environment every ROS process of the cell gets.

In simulation the arm, stage and imaging nodes are composed in ONE process (`sim_cell`) that owns the
one MuJoCo world they share; every other node is its own process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
SIM_PARAMS = CONFIG_DIR / "cell_sim.yaml"
FASTDDS_PROFILE = CONFIG_DIR / "fastdds_profiles.xml"
NODE_LAUNCHER = "bladecell_ros.bringup.node_process"


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    module: str
    nodes: tuple[str, ...]

    def args(self, params_files: Sequence[Path | str] = (), extra: Sequence[str] = ()) -> list[str]:
        """Arguments after `python`: `-m <launcher> module --ros-args --params-file F ... [extra]`
        (the launcher blocks stop signals before the node's module is imported: `node_process`)."""
        out = ["-m", NODE_LAUNCHER, self.module, "--ros-args"]
        for path in params_files:
            out += ["--params-file", str(path)]
        return out + list(extra)


SIM_GRAPH: tuple[ProcessSpec, ...] = (
    ProcessSpec(
        "sim_cell", "bladecell_ros.nodes.sim_cell", ("sim_cell", "arm_driver", "stage_driver", "imaging")
    ),
    ProcessSpec("dataset_store", "bladecell_ros.nodes.dataset_store", ("dataset_store",)),
    ProcessSpec("detector", "bladecell_ros.nodes.detector", ("detector",)),
    ProcessSpec("model_designer", "bladecell_ros.nodes.model_designer", ("model_designer",)),
    ProcessSpec("recorder", "bladecell_ros.nodes.recorder", ("recorder",)),
    ProcessSpec("cell_coordinator", "bladecell_ros.nodes.coordinator", ("cell_coordinator",)),
)


def all_nodes(graph: Sequence[ProcessSpec] = SIM_GRAPH) -> set[str]:
    return {n for spec in graph for n in spec.nodes}


def cell_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of a cell process: discovery on this machine only (always), the caller's
    ROS_DOMAIN_ID, the cell's Fast DDS profile (shared memory, short lease) unless one is set."""
    env = dict(os.environ if base is None else base)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(FASTDDS_PROFILE))
    env["PYTHONUNBUFFERED"] = "1"
    return env
