"""Cell coordinator node: runs the inspection cycle state machine for the technician.

Interfaces:
    inspect_blade                     action InspectBlade (goal: serial, family, force_redesign, resume;
                                      feedback: state, viewpoint i/N, progress, message); cancel = abort
    estop                             topic std_msgs/Bool, latched QoS (true: halt arm + stage, fault, latch)
    cell_coordinator/reset_estop      service Trigger (after the e-stop is released: reset drivers + latch)
    cell_coordinator/abort            service Trigger (abort the running or faulted cycle)
    cell_status                       topic CellStatus, on every event and at `status_rate_hz`
    diagnostics                       topic diagnostic_msgs/DiagnosticArray, 1 Hz (cell + every dependency)
    defects                           topic DefectArray, once a cycle's detection is done
It also polls the database's cycle request queue (`queue_poll_s`; requests made through the web API,
`services.request_queue`) and runs claimed requests like action goals.

The runner (`platform_control.cycle.runner.CycleRunner`) owns the one worker thread that runs cycles;
goals and queued requests are submitted to it and answered from its futures. A goal's cancel callback
aborts the cycle. Callbacks only translate.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future
from typing import Any

import numpy as np
import yaml
from bladecell_interfaces.action import InspectBlade
from bladecell_interfaces.msg import CellStatus, DefectArray
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from bladecell_ros.services.blade_models import BladeModelPublisher
from bladecell_ros.services.progress_feed import ProgressFeed
from bladecell_ros.services.request_queue import QueuedRequests
from bladecell_ros.transport.cell_messages import cell_status, diagnostics
from bladecell_ros.transport.conversions import region_to_msg
from bladecell_ros.transport.node_utils import (
    ESTOP_QOS,
    ESTOP_TOPIC,
    data_home,
    outage_guard,
    param,
    run_nodes,
)
from bladecell_ros.transport.ros_services import RosCellServices, Timeouts
from platform_control.cycle import CycleEvent, CycleState
from platform_control.cycle.acceptance import AcceptanceRules
from platform_control.cycle.cell_steps import StepsContext
from platform_control.cycle.detections import DetectionsError, DetectionsFile
from platform_control.cycle.runner import CycleOutcome, CycleRunner, new_cycle_id
from platform_control.cycle.services import CycleJob, Notify
from platform_control.cycle.status import cycle_fraction
from platform_control.params import load_arm_params, load_camera_params, load_cell_layout, load_stage_params
from platform_control.part_families import PartFamilyCatalog, load_part_families
from platform_control.pick_place import PickPlacePlanner, load_pick_place_config

S = CycleState


class CellCoordinatorNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("cell_coordinator", **kwargs)
        self.cell_id = param(self, "cell_id", "cell-1", "this cell's name (records, queue)")
        families = load_part_families(
            param(self, "part_families_yaml", "", "part family -> blade model (YAML)")
        )
        acceptance = AcceptanceRules.model_validate(
            yaml.safe_load(param(self, "acceptance_yaml", "", "acceptance rules (YAML)")) or {}
        )
        self.queue_poll_s = param(self, "queue_poll_s", 2.0, "poll the database request queue (0: off)")
        status_rate = param(self, "status_rate_hz", 2.0, "CellStatus publishing rate")
        timeouts = Timeouts(
            connect=param(self, "connect_timeout_s", 10.0, "wait this long for a node's server"),
            capture=param(self, "capture_timeout_s", 60.0, "one multispectral capture"),
            detect=param(self, "detect_timeout_s", 120.0, "one detection"),
            design=param(self, "design_timeout_s", 0.0, "a whole design (0: no limit)"),
            record=param(self, "record_timeout_s", 0.0, "recording incl. database retries (0: no limit)"),
            motion_margin=param(self, "motion_timeout_margin_s", 30.0, "added to a trajectory's duration"),
            lost_grace=param(self, "lost_server_grace_s", 1.0, "a server gone this long = node dead"),
        )
        home = data_home()
        camera, stage, layout = load_camera_params(), load_stage_params(), load_cell_layout()
        arm = load_arm_params()
        pick_place = load_pick_place_config()
        self.catalog = PartFamilyCatalog(
            families,
            camera,
            stage,
            layout,
            max_viewpoints=param(self, "max_viewpoints", 0, "0: the full plan"),
        )
        from database.services import CycleQueue, ModelRegistry
        from database.services.blade_models import BladeModelStore
        from database.services.progress import ProgressLog
        from database.storage import ContentStore

        registry = ModelRegistry()
        self.queue = CycleQueue()
        outage = outage_guard(self)
        # The technician's station: progress rows it streams, and the blade model its map draws; both
        # wait out a short database outage off the cycle's thread (the cycle's own tolerance).
        self.feed = ProgressFeed(ProgressLog(), self.cell_id, home, acceptance, guard=outage)
        self.blade_models = BladeModelPublisher(
            self.catalog, BladeModelStore(ContentStore(home)), guard=outage
        )

        def deployed(family: str, notify: Notify, cancel: threading.Event) -> str | None:
            """needs_design's registry lookup, waiting out a short database outage (a read)."""
            info = outage.call(
                f"looking up the deployed model of {family}",
                lambda: registry.deployed_for(family),
                notify=notify,
                cancel=cancel,
            )
            return info.version if info else None

        self.cell_services = RosCellServices(self, arm.joint_names, stage.axis_names, timeouts, deployed)
        self.steps_context = StepsContext(
            planner=PickPlacePlanner.for_cell(arm, stage, layout, pick_place),
            stage_params=stage,
            stage_load_axes=np.array(pick_place.stage_load_axes),
            acceptance=acceptance,
            home=home,
            notify=self._on_notify,
        )
        self.runner = CycleRunner(
            self.cell_services, self.steps_context, self.catalog.scan_axes, on_event=self._on_event
        )
        self.estop_pressed = False
        self._message = "idle"
        self._goal_handle = None
        self._goal_lock = threading.Lock()
        self.requests = QueuedRequests(
            self.queue,
            self.runner,
            self.cell_id,
            blocked=lambda: self.estop_pressed,
            submit=lambda job: self.submit(job, resume=False),
        )

        control = MutuallyExclusiveCallbackGroup()
        self.status_pub = self.create_publisher(CellStatus, "cell_status", 10)
        self.diag_pub = self.create_publisher(DiagnosticArray, "diagnostics", 10)
        self.defects_pub = self.create_publisher(DefectArray, "defects", 10)
        self.create_subscription(Bool, ESTOP_TOPIC, self._on_estop, ESTOP_QOS, callback_group=control)
        self.create_service(
            Trigger, "cell_coordinator/reset_estop", self._on_reset_estop, callback_group=control
        )
        self.create_service(Trigger, "cell_coordinator/abort", self._on_abort, callback_group=control)
        ActionServer(
            self,
            InspectBlade,
            "inspect_blade",
            execute_callback=self._execute,
            goal_callback=self._on_goal,
            cancel_callback=self._on_cancel,
            callback_group=ReentrantCallbackGroup(),
        )
        timers = MutuallyExclusiveCallbackGroup()
        self.create_timer(1.0 / status_rate, self.publish_status, callback_group=timers)
        self.create_timer(1.0, self._publish_diagnostics, callback_group=timers)
        if self.queue_poll_s > 0:
            self.create_timer(
                self.queue_poll_s, self._poll_queue, callback_group=MutuallyExclusiveCallbackGroup()
            )
        self.get_logger().info(f"cell coordinator {self.cell_id} ready (data root {home})")

    # ----------------------------------------------------------------------------- cycles
    def submit(self, job: CycleJob, *, resume: bool) -> Future[CycleOutcome]:
        """A cycle on the runner's worker; its end is logged and published from the future."""
        future = self.runner.submit(job, resume=resume, prepare=self._reset_drivers)
        future.add_done_callback(lambda f: self._on_cycle_done(f, job))
        return future

    def _on_cycle_done(self, future: Future[CycleOutcome], job: CycleJob) -> None:
        error = future.exception()
        if error is None:
            out = future.result()
            self.get_logger().info(f"cycle {out.cycle_id} {out.final_state}: {out.message}")
            self.feed.on_end(out)
        else:
            self._message = f"{type(error).__name__}: {error}"
            self.get_logger().error(f"cycle for {job.blade_serial} not run: {self._message}")
        self.publish_status()

    def _reset_drivers(self) -> None:
        """Release the drivers' stop latch left by an earlier abort/fault (never while the e-stop is held)."""
        if self.estop_pressed:
            raise RuntimeError("the e-stop is pressed")
        for driver in (self.cell_services.arm, self.cell_services.stage):
            driver.reset()

    def close(self) -> None:
        cycle = self.runner.cycle
        if cycle is not None and cycle.state in (S.LOADING, S.SCANNING, S.UNLOADING, S.DESIGNING):
            try:
                self.runner.abort("coordinator shutting down")
            except Exception as exc:
                self.get_logger().warning(f"abort on shutdown: {exc}")
        self.runner.close()
        self.feed.close()
        self.blade_models.close()

    # ------------------------------------------------------------------------------ action
    def _on_goal(self, goal) -> GoalResponse:
        if self.runner.busy or self.runner.pending:
            self.get_logger().warning(f"refusing inspection of {goal.blade_serial}: the cell is busy")
            return GoalResponse.REJECT
        if not goal.blade_serial or not (goal.part_family or goal.resume):
            self.get_logger().warning("refusing inspection: blade_serial and part_family are required")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _on_cancel(self, _goal) -> CancelResponse:
        try:
            self.runner.abort("cancelled by the technician")
        except Exception as exc:
            self.get_logger().warning(f"cancel: {exc}")
        return CancelResponse.ACCEPT

    def _execute(self, goal_handle) -> InspectBlade.Result:
        goal = goal_handle.request
        job = CycleJob(
            cycle_id=new_cycle_id(),
            blade_serial=goal.blade_serial,
            part_family=goal.part_family,
            operator=goal.operator_name,
            force_redesign=goal.force_redesign,
        )
        with self._goal_lock:
            self._goal_handle = goal_handle
        try:
            out = self.submit(job, resume=goal.resume).result()
        except Exception as exc:
            result = InspectBlade.Result(record_id=-1, final_state="NOT_STARTED", verdict="incomplete")
            result.message = f"{type(exc).__name__}: {exc}"
            goal_handle.abort()
            return result
        finally:
            with self._goal_lock:
                self._goal_handle = None
        result = InspectBlade.Result(record_id=-1)
        result.cycle_id, result.final_state, result.verdict = out.cycle_id, out.final_state, out.verdict
        result.defect_count = out.defect_count
        result.record_id = out.record_id if out.record_id is not None else -1
        result.model_version = out.model_version or ""
        result.message, result.duration_s = out.message, out.duration_s
        result.stage_timings_json = json.dumps(out.stage_timings)
        if out.final_state == "DONE":
            goal_handle.succeed()
        elif goal_handle.is_cancel_requested:
            goal_handle.canceled()
        else:
            goal_handle.abort()
        return result

    # ------------------------------------------------------------------------------ events
    def _on_notify(self, message: str) -> None:
        self._message = message
        self.publish_status()
        self._send_feedback()

    def _on_event(self, event: CycleEvent, job: CycleJob) -> None:
        self._message = event.message
        self.publish_status()
        self._send_feedback()
        if event.kind == "state" and event.progress.state == S.LOADING:
            self.blade_models.ensure(job.part_family)
        self.feed.on_event(event, job, self._started_at())
        if event.kind == "state" and event.progress.state == S.RECORDING and event.progress.detection:
            self._publish_defects(job, event.progress.detection.ref)

    def _started_at(self) -> float:
        cycle = self.runner.cycle
        history = cycle.history if cycle is not None else []
        return float(history[0]["time"]) if history else time.time()

    def _feed_cell(self, kind: str, estop: bool, message: str) -> None:
        cycle, job = self.runner.cycle, self.runner.job
        progress = cycle.progress if cycle is not None else None
        self.feed.on_cell(kind, estop, message, job, progress, self._started_at())

    def _send_feedback(self) -> None:
        with self._goal_lock:
            handle = self._goal_handle
        cycle = self.runner.cycle
        if handle is None or cycle is None:
            return
        progress = cycle.progress
        handle.publish_feedback(
            InspectBlade.Feedback(
                state=str(progress.state),
                viewpoint_index=len(progress.capture_refs),
                viewpoint_count=progress.viewpoint_count,
                progress=cycle_fraction(progress),
                message=self._message,
            )
        )

    def _publish_defects(self, job: CycleJob, ref: str) -> None:
        try:
            detections = DetectionsFile.read(self.steps_context.home, ref)
        except DetectionsError as exc:
            self.get_logger().warning(f"cannot read detections: {exc}")
            return
        msg = DefectArray(cycle_id=job.cycle_id, blade_serial=job.blade_serial, part_family=job.part_family)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.model_version = detections.model_version or ""
        msg.defects = [region_to_msg(d, d["viewpoint_index"]) for d in detections.defects]
        self.defects_pub.publish(msg)

    def publish_status(self) -> None:
        estop = self.estop_pressed or self.runner.estop_latched
        msg = cell_status(self.cell_id, self.runner.cycle, self.runner.job, estop, self._message)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.status_pub.publish(msg)

    def _publish_diagnostics(self) -> None:
        estop = self.estop_pressed or self.runner.estop_latched
        deps = self.cell_services.dependencies()
        array = diagnostics(self.cell_id, self.runner.cycle, estop, self._message, deps)
        array.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(array)

    # ------------------------------------------------------------------------------ e-stop
    def _on_estop(self, msg: Bool) -> None:
        pressed = bool(msg.data)
        if pressed and not self.estop_pressed:
            self.get_logger().error("E-STOP pressed: halting arm and stage")
            self.estop_pressed = True
            running = self.runner.busy
            self.runner.estop("e-stop pressed")
            self._message = "e-stop pressed" if running else "e-stop pressed while no cycle ran"
            self.publish_status()
            self._feed_cell("estop", True, self._message)
        elif not pressed and self.estop_pressed:
            self.estop_pressed = False
            self._message = "e-stop released: reset it (cell_coordinator/reset_estop) to continue"
            self.publish_status()
            self._feed_cell("estop", True, self._message)

    def _on_reset_estop(self, _request, response: Trigger.Response) -> Trigger.Response:
        if self.estop_pressed:
            response.success, response.message = False, "the e-stop is still pressed"
            return response
        try:
            self._reset_drivers()
            self.runner.reset_estop()
            response.success, response.message = True, "e-stop reset; resume the faulted cycle to continue"
        except Exception as exc:
            response.success, response.message = False, f"reset failed: {exc}"
        self._message = response.message
        self.publish_status()
        if response.success:
            self._feed_cell("reset", False, response.message)
        return response

    def _on_abort(self, _request, response: Trigger.Response) -> Trigger.Response:
        try:
            self.runner.abort("aborted by the technician")
            response.success, response.message = True, "cycle aborted"
        except Exception as exc:
            response.success, response.message = False, f"abort refused: {exc}"
        return response

    # ------------------------------------------------------------------------------ queue
    def _poll_queue(self) -> None:
        self.requests.poll()


def main(args: list[str] | None = None) -> None:
    run_nodes(lambda: [CellCoordinatorNode()], args, threads=6)


if __name__ == "__main__":
    main()
