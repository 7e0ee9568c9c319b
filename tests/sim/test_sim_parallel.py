"""The simulator's chunked worker threads: every chunk exactly once, errors re-raised, bad settings
refused; a seeded frame does not depend on the number of workers."""

from __future__ import annotations

import numpy as np
import pytest

from platform_control.params import load_camera_params
from platform_control.sim.optics import load_optics
from platform_control.sim.parallel import for_chunks, worker_count
from platform_control.sim.sensor import SensorModel


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_every_chunk_runs_once(monkeypatch, threads: str) -> None:
    monkeypatch.setenv("BLADECELL_SIM_THREADS", threads)
    seen = np.zeros(1000, int)

    def work(s: int, e: int) -> None:
        assert e - s <= 64
        seen[s:e] += 1

    for_chunks(work, 1000, 64)
    assert (seen == 1).all()


def test_errors_are_re_raised_and_bad_settings_refused(monkeypatch) -> None:
    monkeypatch.setenv("BLADECELL_SIM_THREADS", "2")

    def work(s: int, e: int) -> None:
        if s == 0:
            raise RuntimeError("chunk 0 failed")

    with pytest.raises(RuntimeError, match="chunk 0 failed"):
        for_chunks(work, 100, 10)
    with pytest.raises(ValueError, match="chunk must be positive"):
        for_chunks(work, 100, 0)
    monkeypatch.setenv("BLADECELL_SIM_THREADS", "zero")
    with pytest.raises(ValueError, match="BLADECELL_SIM_THREADS"):
        worker_count()


def test_a_seeded_frame_is_the_same_with_any_number_of_workers(monkeypatch) -> None:
    cam = load_camera_params()
    sensor = SensorModel(load_optics().with_resolution(300, 200).sensor, cam)
    radiance = np.random.default_rng(0).random((200, 300), dtype=np.float32)
    frames = []
    for threads in ("1", "2", "4"):
        monkeypatch.setenv("BLADECELL_SIM_THREADS", threads)
        frames.append(sensor.expose(radiance, 5.0, 0.0, 800.0, np.random.default_rng(3)))
    np.testing.assert_array_equal(frames[0], frames[1])
    np.testing.assert_array_equal(frames[0], frames[2])
