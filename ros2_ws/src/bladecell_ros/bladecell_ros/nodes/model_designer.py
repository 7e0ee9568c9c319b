"""Model designer node: the `design_model` action (AutoNAD on the labelled store, on the detector's
target device), with per-stage and overall progress as feedback; registers and deploys the model.

Parameters: `preset` (AutoNAD preset), `device` (training), `target_device` (the detector's device:
latency in the search is measured there), `overrides_yaml` (the cell's design budget as AutoNAD config
overrides, e.g. fewer epochs for the simulated cell), `torch_threads`, `part_families_yaml` (the
cell's part families, as the coordinator reads them: a family with `like: OTHER` is fine-tuned from
OTHER's deployed model instead of searched). A goal's non-empty fields override them. The work is
`bladecell_ros.services.designer.ModelDesigner`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import yaml
from bladecell_interfaces.action import DesignModel
from rclpy.action import ActionServer, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from bladecell_ros.services.designer import ModelDesigner
from bladecell_ros.transport.goal_cancel import GoalCancels, end_unsucceeded
from bladecell_ros.transport.node_utils import data_home, outage_guard, param, run_nodes
from platform_control.part_families import load_part_families


def parse_overrides(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a YAML mapping, got {type(data).__name__}")
    return data


class ModelDesignerNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("model_designer", **kwargs)
        from database.services import ModelRegistry

        threads = param(self, "torch_threads", 0, "CPU threads for torch (0: torch default)")
        if threads > 0:
            import torch

            torch.set_num_threads(threads)
        self.designer = ModelDesigner(
            data_home(),
            ModelRegistry(),
            preset=param(self, "preset", "cpu-small", "AutoNAD preset"),
            device=param(self, "device", "cpu", "training device"),
            target_device=param(self, "target_device", "cpu", "the detector's device (latency target)"),
            overrides=parse_overrides(
                param(self, "overrides_yaml", "", "AutoNAD overrides (YAML)"), "overrides_yaml"
            ),
            outage=outage_guard(self),
            likes=load_part_families(
                param(self, "part_families_yaml", "", "part families (YAML): `like` is read here"),
                "model_designer.part_families_yaml",
            ).likes(),
        )
        self._busy = threading.Lock()
        self.cancels = GoalCancels()
        ActionServer(
            self,
            DesignModel,
            "design_model",
            execute_callback=self._execute,
            goal_callback=lambda _g: GoalResponse.REJECT if self._busy.locked() else GoalResponse.ACCEPT,
            cancel_callback=self.cancels.cancel_callback,
            callback_group=ReentrantCallbackGroup(),
        )
        likes = ", ".join(f"{f} like {o}" for f, o in self.designer.likes.items())
        self.get_logger().info(
            f"model designer ready: preset {self.designer.preset}, train on {self.designer.device}, "
            f"latency on {self.designer.target_device}" + (f"; {likes}" if likes else "")
        )

    def _execute(self, goal_handle) -> DesignModel.Result:
        goal = goal_handle.request
        result = DesignModel.Result()
        last = [0.0]

        def progress(stage: str, fraction: float, overall: float, message: str) -> None:
            now = time.monotonic()
            if now - last[0] > 0.2 or fraction >= 1.0:
                last[0] = now
                goal_handle.publish_feedback(
                    DesignModel.Feedback(
                        stage=stage, stage_progress=fraction, progress=overall, message=message
                    )
                )

        with self._busy, self.cancels.track(goal_handle) as cancel:
            try:
                overrides = (
                    parse_overrides(goal.overrides_yaml, "goal.overrides_yaml")
                    if goal.overrides_yaml
                    else None
                )
                self.get_logger().info(f"designing a model for {goal.part_family} on {goal.dataset_dir}")
                outcome = self.designer.run(
                    goal.part_family,
                    goal.dataset_dir,
                    preset=goal.preset or None,
                    target_device=goal.target_device or None,
                    overrides=overrides,
                    deploy=goal.deploy,
                    progress=progress,
                    cancel=cancel,
                )
                result.success = True
                result.model_version, result.model_dir = outcome.version, str(outcome.model_dir)
                result.arch_json, result.miou = outcome.arch_json, outcome.miou
                result.latency_ms, result.latency_device = outcome.latency_ms, outcome.latency_device
                result.message = outcome.summary()
                self.get_logger().info(result.message)
                goal_handle.succeed()
            except Exception as exc:
                result.message = f"design failed: {type(exc).__name__}: {exc}"
                self.get_logger().error(result.message)
                end_unsucceeded(goal_handle, cancel)
        return result


def main(args: list[str] | None = None) -> None:
    run_nodes(lambda: [ModelDesignerNode()], args, threads=3)


if __name__ == "__main__":
    main()
