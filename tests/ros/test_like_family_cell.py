"""Over real ROS 2: a new part family configured `like: OTHER` in the cell's shared
`part_families_yaml` gets OTHER's architecture in its first cycle: the model designer node fine-tunes
OTHER's deployed model on the scan (no search) and registers it as like_family with OTHER's model as
parent; the cycle's design result says so."""

from __future__ import annotations

import pytest
from cell_helpers import FAMILY, collect_feedback, deploy_model

pytestmark = [pytest.mark.ros, pytest.mark.slow]

SOURCE = "HPT-LIKE-SRC"
SEARCH_TRACES = ("supernet", "search", "latency_table.json", "result.json")


def test_first_cycle_of_a_like_family_fine_tunes_the_other_familys_model(
    start_cell, cell_home, tiny_model_dir
) -> None:
    from database.services import ModelRegistry

    parent = deploy_model(tiny_model_dir, family=SOURCE, version="tiny-like-1")
    shared = f"families:\n  {FAMILY}: {{preset: small, seed: 3, like: {SOURCE}}}\n"
    cell = start_cell({"/**": {"part_families_yaml": shared}})
    seen, feedback = collect_feedback()
    out = cell.client.inspect("SN-LIKE-1", FAMILY, operator="tester", feedback=feedback, timeout=600)
    assert out.final_state == "DONE", out.message
    assert "DESIGNING" in [s for s, *_ in seen]
    model = ModelRegistry().deployed_for(FAMILY)
    assert model.version == out.model_version
    assert model.origin == "like_family" and model.parent_version == parent
    assert model.architecture_from == SOURCE
    assert model.architecture == ModelRegistry().get(parent).architecture
    design_dir = (cell_home / model.weights_path).parent.parent
    assert (design_dir / "finetune").is_dir()
    assert not [t for t in SEARCH_TRACES if (design_dir / t).exists()]
    messages = [m for *_, m in seen]
    assert any(f"architecture of {SOURCE} ({parent}), no search" in m for m in messages), messages[-5:]
