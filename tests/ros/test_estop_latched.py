"""The e-stop topic is latched: a node that starts after the e-stop was pressed still learns of it."""

from __future__ import annotations

import pytest
from cell_helpers import write_params

pytestmark = pytest.mark.ros


def test_nodes_started_after_the_estop_was_pressed_learn_of_it(
    ros_processes, ros_probe, cell_home, tmp_path
) -> None:
    from bladecell_ros.transport.client import CellClient
    from bladecell_ros.transport.node_utils import ESTOP_QOS, ESTOP_TOPIC
    from ros_support import DISCOVERY_TIMEOUT_S, wait_until
    from std_msgs.msg import Bool
    from std_srvs.srv import Trigger

    with CellClient() as client:
        client.press_estop(True)  # nobody listens yet
        assert client.estop_pub.get_subscription_count() == 0

        # a subscriber created afterwards gets the last state at once
        received: list[Bool] = []
        ros_probe.node.create_subscription(Bool, ESTOP_TOPIC, received.append, ESTOP_QOS)
        wait_until(lambda: bool(received), DISCOVERY_TIMEOUT_S, ros_probe.spin_once, "the latched e-stop")
        assert [m.data for m in received] == [True]

        # the simulated cell's drivers, started now, halt and refuse to reset while it is pressed
        params = write_params(tmp_path / "sim.yaml", {"sim_cell": {"resolution": 32}})
        sim = ros_processes.start(
            ["-m", "bladecell_ros.nodes.sim_cell", "--ros-args", "--params-file", str(params)], name="sim"
        )

        def spin() -> None:
            assert sim.poll() is None, ros_processes.log_of(sim)
            ros_probe.spin_once()

        reset = ros_probe.node.create_client(Trigger, "stage/reset")
        wait_until(reset.service_is_ready, 120, spin, "the stage driver's reset service")
        answers: list[Trigger.Response] = []

        def call_reset() -> Trigger.Response:
            future = reset.call_async(Trigger.Request())
            wait_until(future.done, 30, spin, "an answer of stage/reset")
            answers.append(future.result())
            return answers[-1]

        wait_until(
            lambda: not call_reset().success,
            DISCOVERY_TIMEOUT_S,
            spin,
            "the stage driver to learn of the e-stop",
        )
        assert "e-stop is still pressed" in answers[-1].message
        assert "E-STOP: stage halted" in ros_processes.log_of(sim)

        # released (the probe, the arm and the stage drivers acknowledge it): the reset is accepted
        client.press_estop(False, subscribers=3)
        wait_until(lambda: call_reset().success, 30, spin, "the stage driver to accept the reset")
