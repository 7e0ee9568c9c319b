"""The cell watches its deployed models itself (issue 18): the detector times each model it loads on its
device, every recorded cycle evaluates the family's triggers, and the flag keeps the latest latency."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from bladecell_ros.services.capture_store import CaptureStore
from bladecell_ros.services.detection import CaptureDetector, registry_resolver
from bladecell_ros.services.model_watch import ModelWatch
from sqlalchemy import select
from test_model_life_cell import CLASSES, FAMILY, _Blank

from platform_control.imaging import MultispectralCapture
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
from platform_control.stage import StageKinematics

DESIGNED_MS = 10.0


def _deploy(registry, version: str = "v1") -> None:
    from database.services import ModelCandidate

    registry.register_candidate(
        ModelCandidate(version=version, part_family=FAMILY, architecture={}, weights_path="models/x",
                       class_names=list(CLASSES), latency_ms=DESIGNED_MS)
    )  # fmt: skip
    registry.deploy(version)


def _checks() -> list:
    from database.orm import ModelHealthCheck
    from database.services.registry import session_factory_for

    with session_factory_for(None)() as session:
        return list(session.scalars(select(ModelHealthCheck).order_by(ModelHealthCheck.id)))


def _detector(home: Path, registry, watch: ModelWatch) -> tuple[CaptureDetector, str]:
    store = CaptureStore(home)
    camera = load_camera_params()
    detector = CaptureDetector(
        store, registry_resolver(registry, home), lambda _dir: _Blank(), camera,
        StageKinematics(load_stage_params(), load_cell_layout(), camera),
        on_model_loaded=watch.model_loaded,
    )  # fmt: skip
    frames = np.full((1, 32, 32), 60, np.uint8)
    capture = MultispectralCapture(0, np.zeros(5), ("white",), (1.0,), (0.0,), (time.time(),), frames)
    ref = store.put(capture, cycle_id="c-1", blade_serial="SN-1", part_family=FAMILY)
    return detector, ref


def test_a_loaded_model_is_timed_once_and_a_slow_device_keeps_the_redesign_flag(home: Path) -> None:
    from database.services import ModelRegistry

    (home / "models" / "x").mkdir(parents=True)
    registry = ModelRegistry()
    _deploy(registry)
    timed: list[tuple[Path, str]] = []
    logs: list[str] = []

    def timer(model_dir: Path, device: str) -> float:
        timed.append((model_dir, device))
        return 3.1 * DESIGNED_MS  # this device runs the model 3.1 x slower than the design measured

    watch = ModelWatch(home, device="cpu", timer=timer, log=logs.append)
    detector, ref = _detector(home, registry, watch)
    detector.detect(FAMILY, None, ref)
    detector.detect(FAMILY, None, ref)  # cached: not timed again
    assert watch.wait_idle(60)
    assert timed == [(home / "models" / "x", "cpu")]
    (first,) = _checks()
    assert first.level == "redesign_recommended"
    assert first.figures["latency_ms_measured"] == 31.0 and first.figures["latency_ratio"] == 3.1
    assert any("latency 31.0 ms on cpu against 10.0 ms designed" in r for r in first.reasons)
    assert any("redesign_recommended" in line for line in logs)

    watch.cycle_recorded(FAMILY)  # a later cycle's check has no new measurement: it keeps this one
    assert watch.wait_idle(60)
    first, second = _checks()
    assert second.id > first.id and second.level == "redesign_recommended"
    assert second.figures["latency_ms_measured"] == 31.0 and second.figures["latency_device"] == "cpu"
    assert second.figures["latency_measured_at"]
    watch.close()


def test_no_deployed_model_records_nothing_and_an_untimeable_model_is_still_assessed(home: Path) -> None:
    from database.services import ModelRegistry

    logs: list[str] = []

    def broken(model_dir: Path, device: str) -> float:
        raise RuntimeError("no such device")

    watch = ModelWatch(home, timer=broken, log=logs.append)
    watch.cycle_recorded(FAMILY)  # the family's first design is still to come
    assert watch.wait_idle(60)
    assert _checks() == [] and logs == []

    (home / "models" / "x").mkdir(parents=True)
    registry = ModelRegistry()
    _deploy(registry)
    detector, ref = _detector(home, registry, watch)
    assert detector.detect(FAMILY, None, ref).model_version == "v1"  # detection goes on regardless
    assert watch.wait_idle(60)
    assert logs == ["model watch: could not time v1 on cpu: no such device"]
    (check,) = _checks()
    assert check.level == "ok" and "latency_ms_measured" not in check.figures
    watch.close()


def test_cycles_recorded_while_a_check_runs_queue_one_more_check_not_one_each(home: Path) -> None:
    from database.services import ModelRegistry

    registry = ModelRegistry()
    _deploy(registry)
    watch = ModelWatch(home)
    entered, release = threading.Event(), threading.Event()
    real = watch._assess

    def slow(family: str, latency: float | None) -> None:
        entered.set()
        assert release.wait(60)
        real(family, latency)

    watch._assess = slow
    watch.cycle_recorded(FAMILY)
    assert entered.wait(60)  # the first check runs (and waits)
    for _ in range(4):
        watch.cycle_recorded(FAMILY)  # one more check queued; the other three see the same cycles
    release.set()
    assert watch.wait_idle(60)
    assert len(_checks()) == 2
    watch.close()
