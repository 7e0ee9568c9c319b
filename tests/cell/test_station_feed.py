"""The cell side of the station, without ROS: progress events from cycle events (throttled, with the
latest capture's preview and an ETA), the rejecting defects at the end, the blade model's scan cameras
and the display decimation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bladecell_ros.services.progress_feed import ProgressFeed, eta_s

from platform_control.blade.decimate import decimate
from platform_control.cycle.acceptance import AcceptanceRules, judge, rejecting
from platform_control.cycle.records import CycleEvent, CycleProgress
from platform_control.cycle.runner import CycleOutcome
from platform_control.cycle.services import CycleJob
from platform_control.cycle.states import CycleState

JOB = CycleJob(cycle_id="c" * 32, blade_serial="SN-1", part_family="HPT1", request_uuid=None)


class ListLog:
    def __init__(self) -> None:
        self.events = []

    def append(self, event) -> int:
        self.events.append(event)
        return len(self.events)


def progress(state: CycleState, captured: int, refs: dict | None = None) -> CycleProgress:
    if refs is None:
        refs = {i: f"captures/HPT1/c/v{i:03d}.json" for i in range(captured)}
    return CycleProgress(
        cycle_id=JOB.cycle_id, state=state, viewpoint_count=4, capture_refs=refs,
        force_design=False, needs_design=False, model_ref=None, detection=None, record_ref=None, fault=None,
        resume_state=None, estop_latched=False,
    )  # fmt: skip


def manifest(home: Path, viewpoint: int, sha: str) -> str:
    ref = f"captures/HPT1/c/v{viewpoint:03d}.json"
    (home / ref).parent.mkdir(parents=True, exist_ok=True)
    (home / ref).write_text(json.dumps({"version": 1, "channels": [{"channel": "uv", "sha256": sha}]}))
    return ref


def test_eta_from_the_pace_so_far() -> None:
    assert eta_s(30.0, 0.25) == 90.0
    assert eta_s(1.0, 0.01) is None  # too early to tell
    assert eta_s(80.0, 1.0) == 0.0


def test_feed_writes_states_throttles_captures_and_names_the_preview(tmp_path: Path) -> None:
    now = [1000.0]
    log = ListLog()
    feed = ProgressFeed(log, "cell-1", tmp_path, AcceptanceRules(), min_interval_s=0.25, clock=lambda: now[0])
    feed.on_event(
        CycleEvent("state", progress(CycleState.LOADING, 0), CycleState.IDLE, "loading"), JOB, 990.0
    )
    refs = {}
    for i, dt in enumerate((0.0, 0.1, 0.1, 0.1)):  # four captures within 0.3 s
        now[0] += dt
        refs[i] = manifest(tmp_path, i, f"{i:x}" * 64)
        feed.on_event(
            CycleEvent("progress", progress(CycleState.SCANNING, 0, dict(refs)), None, ""), JOB, 990.0
        )
    feed.flush()
    kinds = [(e.kind, e.state, e.viewpoint_index) for e in log.events]
    # the first capture and the last one of the scan; the two within 0.25 s of the first are dropped
    assert kinds == [("state", "LOADING", 0), ("progress", "SCANNING", 1), ("progress", "SCANNING", 4)]
    last = log.events[-1]
    assert (last.preview_channel, last.preview_sha256) == ("uv", "3" * 64)
    assert last.elapsed_s == pytest.approx(10.3) and last.viewpoint_count == 4
    assert last.eta_s is not None and last.fraction > 0.5


def test_feed_end_lists_the_rejecting_defects_and_a_dead_database_costs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bladecell_ros.services import progress_feed

    from platform_control.cycle.refs import detections_ref

    log = ListLog()
    feed = ProgressFeed(log, "cell-1", tmp_path, AcceptanceRules())
    defects = [
        {"defect_class": "burn", "area_mm2": 6.5, "confidence": 0.9, "viewpoint_index": 2},
        {"defect_class": "burn", "area_mm2": 1.0, "confidence": 0.9, "viewpoint_index": 1},  # under the limit
    ]
    read: list[str] = []

    def fake_read(home, ref):  # the detector's file, as the cell wrote it
        read.append(ref)
        return type("Detections", (), {"defects": defects})()

    monkeypatch.setattr(progress_feed.DetectionsFile, "read", staticmethod(fake_read))
    out = CycleOutcome(JOB.cycle_id, JOB, "DONE", "fail", 2, 7, "m1", "2 defects, blade fail", 80.0,
                       viewpoint_count=4, captures=4)  # fmt: skip
    feed.on_end(out)
    feed.flush()
    assert read == [detections_ref("HPT1", JOB.cycle_id)]
    end = log.events[-1]
    assert (end.kind, end.state, end.verdict, end.record_id, end.fraction) == ("end", "DONE", "fail", 7, 1.0)
    assert [(r.defect_class, r.area_mm2) for r in end.rejecting] == [("burn", 6.5)]
    assert end.rejecting[0].reason == "burn 6.50 mm² >= 4.0 mm² at viewpoint 2"

    class DeadLog:
        def append(self, _event):
            raise ConnectionError("database down")

    dead = ProgressFeed(DeadLog(), "cell-1", tmp_path, AcceptanceRules())
    dead.on_cell("estop", True, "pressed")  # returns at once: the writer thread meets the dead database
    dead.on_cell("reset", False, "reset")
    dead.flush()
    assert dead.dropped == 2  # not an outage to wait out: noticed (and logged once), not raised
    dead.close()


def test_rejecting_is_the_rule_judge_applies() -> None:
    rules = AcceptanceRules()
    defects = [
        {"defect_class": "crack", "area_mm2": 0.01, "confidence": 0.9, "viewpoint_index": 0},
        {"defect_class": "dent", "area_mm2": 1.0, "confidence": 0.9},
        {"defect_class": "alien", "area_mm2": 1.0, "confidence": 0.9},
        {"defect_class": "crack", "area_mm2": 3.0, "confidence": 0.2},  # not confident enough
    ]
    found = rejecting(defects, rules)
    assert [d["defect_class"] for d, _ in found] == ["crack", "alien"]
    assert judge(defects, rules).reasons == tuple(reason for _, reason in found)


def test_decimate_keeps_small_meshes_and_fits_big_ones_to_the_budget() -> None:
    import trimesh

    small = trimesh.creation.box()
    v, f = decimate(small.vertices, small.faces, 100)
    assert len(f) == len(small.faces)
    big = trimesh.creation.icosphere(6)  # 81,920 faces
    v, f = decimate(big.vertices, big.faces, 20_000)
    assert 5_000 < len(f) <= 20_000
    assert f.max() < len(v)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=0.05)  # still the sphere


def test_scan_cameras_look_at_the_blade_from_the_working_distance() -> None:
    from bladecell_ros.services.blade_models import blade_mesh_mm, camera_frustum, viewpoint_poses

    from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
    from platform_control.part_families import PartFamilyCatalog, load_part_families

    catalog = PartFamilyCatalog(
        load_part_families("default: {preset: small, seed: 3}\n"), load_camera_params(), load_stage_params(),
        load_cell_layout(), max_viewpoints=5,
    )  # fmt: skip
    vertices, _ = blade_mesh_mm(catalog, "ANY")
    camera = camera_frustum(catalog)
    poses = viewpoint_poses(catalog, "ANY")
    assert len(poses) == 5
    lo, hi = vertices.min(axis=0) - 10, vertices.max(axis=0) + 10
    for pose in poses:
        forward, up = np.array(pose.forward), np.array(pose.up)
        assert np.linalg.norm(forward) == pytest.approx(1, abs=1e-5) and abs(forward @ up) < 1e-5
        focus = np.array(pose.position) + forward * camera.distance_mm
        assert np.all(focus >= lo) and np.all(focus <= hi), (pose, focus)
