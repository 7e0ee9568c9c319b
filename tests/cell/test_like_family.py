"""A new part family's first model from another family's architecture (issue 18 item 3), in the
in-process cell with real AutoNAD at tiny budgets (64 px frames, 3 viewpoints): family A's first cycle
designs (searches) its model; family B, configured `like: A`, gets A's architecture fine-tuned on B's
scan (origin like_family, A's model as parent, no search) in its own first cycle; a family like one
without a deployed model faults with one line and records nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bladecell_ros.services.designer import ModelDesigner
from bladecell_ros.services.like_family import LikeFamilyError
from bladecell_ros.services.local_cell import LocalCellServices
from local_cell import make_context, make_world
from tiny_design import tiny_design

from platform_control.cycle.runner import CycleRunner, new_cycle_id
from platform_control.cycle.services import CycleJob
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
from platform_control.part_families import PartFamilyCatalog, load_part_families

A, B, ORPHAN = "HPT-LA", "HPT-LB", "HPT-LORPHAN"
FAMILIES = f"""
families:
  {A}: {{preset: small, seed: 3}}
  {B}: {{preset: small, seed: 3, like: {A}}}
  {ORPHAN}: {{preset: small, seed: 3, like: HPT-NOMODEL}}
"""
TINY = tiny_design(retrain_epochs=2)
SEARCH_TRACES = ("supernet", "search", "latency_table.json", "result.json")


@pytest.fixture
def cell(home: Path, worlds):
    """A runner on `LocalCellServices` whose designer reads `like` from the part-family config."""
    from database.services import ModelRegistry

    config = load_part_families(FAMILIES)
    catalog = PartFamilyCatalog(
        config, load_camera_params(), load_stage_params(), load_cell_layout(), max_viewpoints=3
    )
    world = make_world(home)
    worlds.append(world)
    registry = ModelRegistry()
    designer = ModelDesigner(
        home,
        registry,
        overrides=TINY,
        likes=config.likes(),
        like_overrides={"retrain": {"epochs": 2, "batch_size": 2}},
    )
    services = LocalCellServices(world, home, registry=registry, designer=designer)
    context = make_context(home)
    lines: list[str] = []
    context.notify = lines.append
    return CycleRunner(services, context, catalog.scan_axes), registry, lines


def _job(family: str, serial: str) -> CycleJob:
    return CycleJob(new_cycle_id(), serial, family, operator="tester")


def test_config_says_like_once_and_never_like_itself() -> None:
    config = load_part_families(FAMILIES)
    assert config.likes() == {B: A, ORPHAN: "HPT-NOMODEL"}
    with pytest.raises(ValueError, match=r"families\.X\.like: a family cannot be like itself"):
        load_part_families("families:\n  X: {preset: small, like: X}")
    with pytest.raises(ValueError, match=r"default\.like"):  # the fallback blade is no family to copy
        load_part_families("default: {preset: small, like: X}")


def test_designer_refuses_like_itself_before_any_work(home: Path, tmp_path: Path) -> None:
    from database.services import ModelRegistry

    dataset = tmp_path / "ds"
    dataset.mkdir()
    (dataset / "dataset.yaml").write_text("name: ds\n")
    designer = ModelDesigner(home, ModelRegistry(), likes={"X": "X"})
    with pytest.raises(LikeFamilyError, match="'X' is configured like itself"):
        designer.run("X", dataset)
    assert not (home / "models").exists()


@pytest.mark.slow
def test_family_like_another_takes_its_architecture_without_a_search(cell, home: Path) -> None:
    from bladecell_ros.bringup.session import model_line
    from bladecell_ros.services.designer import untrained_note

    from database.services import untrained_classes

    runner, registry, lines = cell
    first = runner.run_new(_job(A, "SN-A-1"))
    assert first.final_state == "DONE", first.message
    a_model = registry.deployed_for(A)
    assert a_model.version == first.model_version and a_model.origin == "designed"
    a_dir = home / a_model.weights_path
    assert all((a_dir.parent.parent / t).exists() for t in SEARCH_TRACES)  # A was searched

    lines.clear()
    second = runner.run_new(_job(B, "SN-B-1"))
    assert second.final_state == "DONE", second.message
    b_model = registry.deployed_for(B)
    assert b_model.version == second.model_version != a_model.version
    assert b_model.origin == "like_family" and b_model.parent_version == a_model.version
    assert b_model.architecture_from == A and b_model.architecture == a_model.architecture
    b_dir = home / b_model.weights_path
    assert json.loads((b_dir / "arch.json").read_text()) == json.loads((a_dir / "arch.json").read_text())
    b_out = b_dir.parent.parent
    assert (b_out / "finetune").is_dir() and not [t for t in SEARCH_TRACES if (b_out / t).exists()]
    # B's own training statistics are the input-shift baseline, not A's
    assert set(b_model.input_stats) == set(b_model.channels) and b_model.input_stats != a_model.input_stats
    assert b_model.latency_ms is not None and b_model.latency_ms > 0
    assert any(f"architecture of {A} ({a_model.version}), no search" in line for line in lines), lines
    # the tiny data sets hold few defect classes: the line names those without a training pixel
    untrained = untrained_classes(b_model.metrics, b_model.class_names)
    assert all(f"train_pixels.{c}" in b_model.metrics for c in b_model.class_names)
    assert model_line(b_model.version) == (
        f"{b_model.version} (architecture of {A}: {a_model.version}, no search){untrained_note(untrained)}"
    )
    a_untrained = untrained_classes(a_model.metrics, a_model.class_names)
    assert model_line(a_model.version) == f"{a_model.version}{untrained_note(a_untrained)}"
    print(
        f"DESIGNING: {A} (search) {first.stage_timings['DESIGNING']:.1f} s, "
        f"{B} (like {A}) {second.stage_timings['DESIGNING']:.1f} s"
    )


def test_like_a_family_without_a_model_faults_with_one_line_and_records_nothing(cell, home: Path) -> None:
    runner, registry, _ = cell
    before = len(registry.list())
    out = runner.run_new(_job(ORPHAN, "SN-O-1"))
    assert out.final_state == "FAULTED"
    assert (
        f"part family {ORPHAN!r} is configured like 'HPT-NOMODEL', which has no deployed model: "
        "design HPT-NOMODEL first" in out.message
    ), out.message
    assert "\n" not in out.message and out.record_id is None
    assert len(registry.list()) == before and registry.deployed_for(ORPHAN) is None
    assert not (home / "models" / ORPHAN).exists()
