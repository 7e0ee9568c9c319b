"""Synthetic defects without rendering: their shapes label exactly the region they claim, placement is
seeded, stays on the inspectable surface, puts nicks on the edges, and bad configuration is reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from platform_control.blade import label_mask
from platform_control.sim.appearance import apply_defects, intact_appearance
from platform_control.sim.defects import DEFECTS_PATH, SurfaceFrame, load_defects_config, make_defect
from platform_control.sim.optics import load_optics
from platform_control.sim.placement import BladeSurface, sample_defects

ALL_CLASSES = load_defects_config().classes[1:]


def _plane(half: float = 0.01, step: float = 2e-5) -> tuple[np.ndarray, np.ndarray]:
    """A flat patch z = 0 (normal +z) sampled on a grid."""
    g = np.arange(-half, half, step)
    x, y = np.meshgrid(g, g)
    points = np.column_stack([x.ravel(), y.ravel(), np.zeros(x.size)])
    return points, np.tile([0.0, 0.0, 1.0], (len(points), 1))


def _frame(rng) -> SurfaceFrame:
    return SurfaceFrame.at(np.zeros(3), np.array([0.0, 0.0, 1.0]), rng)


def test_dent_labels_its_disc_and_tilts_normals_inwards(defects_config) -> None:
    rng = np.random.default_rng(0)
    dent = make_defect("dent", _frame(rng), defects_config, rng)
    points, normals = _plane()
    eff = dent.effect(points, normals)
    p = points[eff.idx]
    r = np.hypot(p[:, 0], p[:, 1])
    np.testing.assert_array_equal(eff.label, r < dent.radius)
    inside = eff.label & (r > 0.2 * dent.radius)
    inward = -np.einsum("ij,ij->i", eff.normal[inside, :2], p[inside, :2]) / r[inside]
    assert np.all(inward > 0)  # a depression: walls face its centre
    expected_area = np.pi * dent.radius**2
    assert eff.label.sum() * 4e-10 == pytest.approx(expected_area, rel=0.02)


def test_crack_is_a_thin_line_of_the_drawn_width(defects_config) -> None:
    rng = np.random.default_rng(1)
    crack = make_defect("crack", _frame(rng), defects_config, rng)
    points, normals = _plane(half=crack.bound, step=2e-5)
    eff = crack.effect(points, normals)
    area = eff.label.sum() * 4e-10
    lengths = sum(np.linalg.norm(np.diff(line, axis=0), axis=1).sum() for line in crack.polylines)
    mean_width = area / lengths
    assert 0.6 * crack.width < mean_width < 1.0 * crack.width  # tapered to the tips
    lo, hi = defects_config.crack.size["width_mm"]
    assert lo * 1e-3 <= crack.width <= hi * 1e-3


def test_defects_only_touch_the_side_they_are_on(defects_config) -> None:
    rng = np.random.default_rng(2)
    blob = make_defect("coating_loss", _frame(rng), defects_config, rng)
    points, normals = _plane()
    assert blob.effect(points, -normals) is None  # the far side of a thin blade is untouched
    assert blob.effect(points + np.array([0, 0, 0.001]), normals) is not None


def test_placement_is_seeded_and_stays_on_the_inspectable_surface(small_blade_mesh) -> None:
    surface = BladeSurface(small_blade_mesh, label_mask(small_blade_mesh, ["airfoil"]))
    a = sample_defects(surface, np.random.default_rng(5), count=12)
    b = sample_defects(surface, np.random.default_rng(5), count=12)
    c = sample_defects(surface, np.random.default_rng(6), count=12)
    assert json.dumps([d.to_json() for d in a]) == json.dumps([d.to_json() for d in b])
    assert json.dumps([d.to_json() for d in a]) != json.dumps([d.to_json() for d in c])
    airfoil = small_blade_mesh.submesh([np.flatnonzero(surface.allowed)], append=True)
    centres = np.array([d.frame.center for d in a])
    _, distance, _ = airfoil.nearest.on_surface(centres)
    assert distance.max() < 2e-5  # on the airfoil (nicks sit on an edge vertex)
    for i, d in enumerate(a):
        for e in a[i + 1 :]:
            assert np.linalg.norm(d.frame.center - e.frame.center) > 0.8 * (d.bound + e.bound)


def test_nicks_sit_on_the_leading_or_trailing_edge(small_blade_mesh) -> None:
    surface = BladeSurface(small_blade_mesh, label_mask(small_blade_mesh, ["airfoil"]))
    rng = np.random.default_rng(7)
    verts = small_blade_mesh.vertices
    for _ in range(8):
        point, out = surface.sample_edge_point(rng)
        slab = verts[np.abs(verts[:, 2] - point[2]) < 1e-3]
        along = (slab[:, :2] - slab[:, :2].mean(axis=0)) @ out[:2]
        assert (point[:2] - slab[:, :2].mean(axis=0)) @ out[:2] >= along.max() - 1e-4  # outermost point


def test_apply_defects_labels_and_changes_the_appearance(defective_blade, defects_config) -> None:
    optics = load_optics()
    channels = optics.channel_names
    defect = next(d for d in defective_blade.defects if d.kind == "coating_loss")
    points, normals = _plane(half=0.012, step=5e-5)
    # move the test patch onto the defect's tangent plane
    rot = np.column_stack([defect.frame.t1, defect.frame.t2, defect.frame.normal])
    points = points @ rot.T + defect.frame.center
    normals = normals @ rot.T
    app = intact_appearance(points, normals, optics.materials["coating"], optics.texture, channels, 0)
    before = app.fluorescence.copy()
    apply_defects(app, points, [defect], defects_config)
    hit = app.labels == defects_config.index("coating_loss")
    assert hit.any() and np.all(app.instances[hit] == 0) and np.all(app.instances[~hit] == -1)
    uv = channels.index("uv365")
    assert np.all(app.fluorescence[uv, hit] < 0.1 * before[uv, hit])  # bare metal does not fluoresce
    np.testing.assert_array_equal(app.fluorescence[:, ~hit], before[:, ~hit])


def test_defect_classes_cover_the_issue_and_config_errors_are_clear(tmp_path: Path, defects_config) -> None:
    assert set(defects_config.classes[1:]) == set(ALL_CLASSES)
    for kind in ALL_CLASSES:
        assert defects_config.of(kind).channel in load_optics().channel_names
    with pytest.raises(ValueError, match="unknown defect class 'scratch'"):
        defects_config.of("scratch")
    data = yaml.safe_load(DEFECTS_PATH.read_text())
    data["classes"] = ["background", "crack"]
    bad = tmp_path / "defects.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=r"(?s)defects\.yaml.*classes must be"):
        load_defects_config(bad)
    with pytest.raises(ValueError, match="no inspectable faces"):
        import trimesh

        BladeSurface(trimesh.creation.box(), np.zeros(12, bool))
