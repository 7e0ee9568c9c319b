"""The cell's small ROS-free policies: acceptance, progress aggregation, retries, timings, part
families, driver selection and the process graph."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from bladecell_ros.bringup.graph import SIM_GRAPH, all_nodes, cell_environment
from bladecell_ros.nodes.hardware import check_driver_kind, real_driver

from platform_control.cycle import CycleProgress, CycleState, Detection, Fault
from platform_control.cycle.acceptance import AcceptanceRules, judge
from platform_control.cycle.design_progress import DesignProgress
from platform_control.cycle.retry import RetryCancelled, RetryPolicy, retry
from platform_control.cycle.runner import stage_timings
from platform_control.cycle.status import cycle_fraction
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
from platform_control.part_families import PartFamilyCatalog, UnknownPartFamilyError, load_part_families


def _defect(cls: str, area: float, confidence: float = 0.9) -> dict:
    return {"defect_class": cls, "area_mm2": area, "confidence": confidence, "viewpoint_index": 2}


def test_acceptance_rejects_by_class_size_and_confidence() -> None:
    rules = AcceptanceRules()
    assert not judge([], rules).reject
    assert judge([_defect("crack", 0.01)], rules).reject  # any crack
    assert not judge([_defect("burn", 3.9)], rules).reject  # below the 4 mm² burn limit
    verdict = judge([_defect("burn", 4.0), _defect("dent", 10.0, confidence=0.3)], rules)
    assert verdict.reject and verdict.label == "fail" and len(verdict.reasons) == 1
    assert "burn 4.00 mm² >= 4.0 mm² at viewpoint 2" in verdict.reasons[0]
    unknown = judge([_defect("delamination", 0.1)], rules)
    assert unknown.reject and "without an acceptance limit" in unknown.reasons[0]
    with pytest.raises(ValueError):
        AcceptanceRules(min_confidence=1.5)


def test_design_progress_is_weighted_and_never_goes_back() -> None:
    bar = DesignProgress()
    assert bar.update("supernet", 0.5) == pytest.approx(0.25)
    assert bar.update("search", 0.0) == pytest.approx(0.50)  # reaching search completes the supernet
    assert bar.update("supernet", 0.1) == pytest.approx(0.50)  # a restarted count does not move it back
    assert bar.update("retrain", 1.0) == pytest.approx(0.95)
    assert bar.update("export", 1.0) == pytest.approx(1.0)
    assert bar.update("unknown-stage", 0.3) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        DesignProgress({"a": -1.0, "b": 1.0})


def test_retry_backs_off_until_success_and_stops_on_cancel_or_deadline() -> None:
    calls, waits = [], []
    policy = RetryPolicy(initial_s=0.001, factor=2.0, max_delay_s=0.004)

    def flaky():
        calls.append(1)
        if len(calls) < 5:
            raise ConnectionError("down")
        return "ok"

    result, attempts = retry(flaky, (ConnectionError,), policy, on_retry=lambda n, e, d: waits.append(d))
    assert (result, attempts) == ("ok", 5) and waits == [0.001, 0.002, 0.004, 0.004]
    with pytest.raises(KeyError):  # not retryable: propagates at once
        retry(lambda: {}["x"], (ConnectionError,), policy)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(RetryCancelled, match="1 attempt"):
        retry(
            lambda: (_ for _ in ()).throw(ConnectionError("down")), (ConnectionError,), policy, cancel=cancel
        )
    clock = iter(range(100))
    with pytest.raises(ConnectionError):
        retry(
            lambda: (_ for _ in ()).throw(ConnectionError("down")),
            (ConnectionError,),
            RetryPolicy(initial_s=0.001, max_wait_s=3),
            clock=lambda: next(clock),
        )


def _progress(state: CycleState, captures: int = 0, *, design: bool = False, fault: Fault | None = None):
    return CycleProgress(
        cycle_id="c",
        state=state,
        viewpoint_count=4,
        capture_refs={i: f"r{i}" for i in range(captures)},
        force_design=False,
        needs_design=design,
        model_ref=None,
        detection=Detection("d", 0, False) if state == CycleState.DONE else None,
        record_ref=None,
        fault=fault,
        resume_state=None,
        estop_latched=False,
    )


def test_cycle_fraction_follows_the_states_and_the_scan() -> None:
    S = CycleState
    assert cycle_fraction(_progress(S.IDLE)) == 0.0
    values = [cycle_fraction(_progress(S.SCANNING, n)) for n in range(5)]
    assert values == sorted(values) and values[0] == pytest.approx(0.10) and values[-1] == pytest.approx(0.65)
    assert cycle_fraction(_progress(S.DETECTING)) == pytest.approx(0.65)
    assert cycle_fraction(_progress(S.DESIGNING, 4, design=True)) == pytest.approx(0.24)
    assert cycle_fraction(_progress(S.DONE, 4)) == 1.0
    fault = Fault("step_error", S.SCANNING, "imaging gone", 0.0)
    assert cycle_fraction(_progress(S.FAULTED, 2, fault=fault)) == pytest.approx(0.375)


def test_stage_timings_sum_each_state_over_resumes() -> None:
    history = [
        {"time": 0.0, "from": "IDLE", "to": "LOADING", "reason": "start"},
        {"time": 2.0, "from": "LOADING", "to": "SCANNING", "reason": ""},
        {"time": 5.0, "reason": "note without transition"},
        {"time": 7.0, "from": "SCANNING", "to": "FAULTED", "reason": ""},
        {"time": 100.0, "from": "FAULTED", "to": "SCANNING", "reason": "resume"},
        {"time": 103.0, "from": "SCANNING", "to": "DETECTING", "reason": ""},
    ]
    assert stage_timings(history, now=104.5) == {"LOADING": 2.0, "SCANNING": 8.0, "DETECTING": 1.5}


def test_part_families_map_to_blades_and_cache_subsampled_plans() -> None:
    config = load_part_families("default: {preset: small, seed: 3}\nfamilies:\n  CAD: {mesh: /no/such.stl}\n")
    catalog = PartFamilyCatalog(
        config, load_camera_params(), load_stage_params(), load_cell_layout(), max_viewpoints=5
    )
    axes = catalog.scan_axes("ANY-FAMILY")
    assert axes.shape == (5, 5) and np.array_equal(catalog.scan_axes("ANY-FAMILY"), axes)
    with pytest.raises(Exception, match=r"no/such\.stl"):
        catalog.scan_axes("CAD")
    strict = PartFamilyCatalog(
        load_part_families(""), load_camera_params(), load_stage_params(), load_cell_layout()
    )
    with pytest.raises(UnknownPartFamilyError, match="'X' has no blade model"):
        strict.blade_model("X")
    with pytest.raises(ValueError, match="exactly one of 'mesh'"):
        load_part_families("families:\n  F: {seed: 2}\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_part_families("families: [")


def test_real_drivers_are_not_faked() -> None:
    with pytest.raises(
        NotImplementedError, match=r"platform_control\.hardware\.ArmDriver \+ Gripper.*ur_rtde"
    ):
        real_driver("arm")
    with pytest.raises(NotImplementedError, match="GigE Vision"):
        real_driver("imaging")
    with pytest.raises(ValueError, match="'sim' or 'real'"):
        check_driver_kind("fake", "stage")


def test_graph_composes_the_simulated_devices_in_one_process(monkeypatch) -> None:
    sim = [spec for spec in SIM_GRAPH if "imaging" in spec.nodes]
    assert len(sim) == 1 and {"arm_driver", "stage_driver", "imaging"} <= set(sim[0].nodes)
    assert len(all_nodes()) == sum(len(s.nodes) for s in SIM_GRAPH) == 9
    args = sim[0].args(["a.yaml", "b.yaml"], ["-p", "x:=1"])
    assert args == [
        "-m",
        "bladecell_ros.bringup.node_process",  # blocks stop signals before the node's imports
        "bladecell_ros.nodes.sim_cell",
        "--ros-args",
        "--params-file",
        "a.yaml",
        "--params-file",
        "b.yaml",
        "-p",
        "x:=1",
    ]
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET")
    monkeypatch.setenv("ROS_DOMAIN_ID", "42")
    env = cell_environment()
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST" and env["ROS_DOMAIN_ID"] == "42"
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"].endswith("fastdds_profiles.xml")
