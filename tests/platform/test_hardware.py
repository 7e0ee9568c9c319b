"""Driver protocols: the fakes conform, trajectory validation names what is wrong, errors carry the device."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from platform_fakes import FakeCamera, FakeGripper, FakeLights, FakeMotionDriver

from platform_control.hardware import (
    ArmDriver,
    Camera,
    DeviceUnreachable,
    EStopActive,
    Gripper,
    HardwareError,
    HardwareFault,
    LightController,
    LimitViolation,
    StageDriver,
    validate_trajectory,
)
from platform_control.params import load_stage_params
from platform_control.trajectory import time_parameterize

STAGE = load_stage_params()


def _stage(time_scale: float = 0.0) -> FakeMotionDriver:
    return FakeMotionDriver(
        "stage",
        STAGE.axis_names,
        STAGE.limits,
        STAGE.max_velocity,
        STAGE.max_acceleration,
        np.zeros(5),
        time_scale,
    )


def test_fakes_satisfy_the_protocols() -> None:
    lights = FakeLights(("white",))
    assert isinstance(_stage(), StageDriver) and isinstance(_stage(), ArmDriver)
    assert isinstance(lights, LightController)
    assert isinstance(FakeCamera(lights), Camera)
    assert isinstance(FakeGripper(), Gripper)
    assert not isinstance(object(), Camera)


def test_exceptions_name_the_device_and_share_a_base() -> None:
    err = DeviceUnreachable("stage", "no answer on 10.0.0.5")
    assert str(err) == "stage: no answer on 10.0.0.5" and err.device == "stage"
    assert isinstance(err, HardwareFault) and isinstance(err, HardwareError)
    assert isinstance(LimitViolation("arm", "x"), ValueError)
    assert isinstance(EStopActive("arm", "x"), HardwareError)


def test_validate_trajectory_catches_each_kind_of_problem() -> None:
    vmax, amax = np.array(STAGE.max_velocity), np.array(STAGE.max_acceleration)
    good = time_parameterize([np.zeros(5), [0.1, 0, 0.2, 0.5, 3.0]], vmax, amax, STAGE.axis_names)
    args = (STAGE.axis_names, STAGE.limits, vmax, amax)
    validate_trajectory("stage", good, *args, current=np.zeros(5))
    with pytest.raises(LimitViolation, match="stage: trajectory joints"):
        validate_trajectory("stage", good, STAGE.axis_names[::-1], STAGE.limits, vmax, amax)
    with pytest.raises(LimitViolation, match="away from the current position of stage_z"):
        validate_trajectory("stage", good, *args, current=[0, 0, 0.05, 0, 0])
    x_lo, x_hi = STAGE.limits[0]
    too_far = time_parameterize([np.zeros(5), [x_hi + 0.05, 0, 0, 0, 0]], vmax, amax, STAGE.axis_names)
    with pytest.raises(LimitViolation, match=rf"stage_x .* outside \[{x_lo:.6g}, {x_hi:.6g}\]"):
        validate_trajectory("stage", too_far, *args)
    too_fast = time_parameterize([[x_lo, 0, 0, 0, 0], [x_hi, 0, 0, 0, 0]], vmax * 2, amax, STAGE.axis_names)
    with pytest.raises(LimitViolation, match=r"stage_x velocity 0\.4 .* exceeds the limit 0\.2"):
        validate_trajectory("stage", too_fast, *args)


def test_stop_from_another_thread_halts_follow_and_latches() -> None:
    stage = _stage(time_scale=5.0)  # 5x slower than planned: plenty of time to stop it
    traj = time_parameterize(
        [np.zeros(5), [0.1, 0.1, 0.1, 0.5, 1.0]], STAGE.max_velocity, STAGE.max_acceleration, STAGE.axis_names
    )
    started = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            stage.follow(traj, lambda f: started.set())
        except EStopActive as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(10)
    stage.stop()
    worker.join(10)
    assert len(errors) == 1 and "stopped while moving" in str(errors[0])
    stopped_at = stage.position.copy()
    assert not np.allclose(stopped_at, traj.goal)
    with pytest.raises(EStopActive, match="latch"):
        stage.follow(traj)
    stage.reset()
    back = time_parameterize(
        [stopped_at, np.zeros(5)], STAGE.max_velocity, STAGE.max_acceleration, STAGE.axis_names
    )
    stage.time_scale = 0.0
    stage.follow(back)
    assert np.allclose(stage.position, 0.0)
