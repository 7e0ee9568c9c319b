"""Parametric blades: closed solids of the specified size, labelled faces, seeded variation."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from platform_control.blade import (
    CLAMPED_LABELS,
    PRESETS,
    BladeSpec,
    blade_preset,
    face_labels,
    generate_blade,
    label_mask,
    root_profile,
)
from platform_control.blade.airfoil import naca4_section, polygon_area
from platform_control.blade.generator import _section


@pytest.fixture(scope="module")
def blades() -> dict[str, trimesh.Trimesh]:
    return {name: generate_blade(spec, seed=11) for name, spec in PRESETS.items()}


@pytest.mark.parametrize(("name", "span_mm"), [("small", 60), ("medium", 120), ("large", 220)])
def test_presets_are_closed_solids_of_the_specified_size(blades, name: str, span_mm: int) -> None:
    mesh, spec = blades[name], blade_preset(name)
    assert spec.span == pytest.approx(span_mm / 1000)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume > 0
    lo, hi = mesh.bounds
    assert lo[2] == pytest.approx(0.0, abs=1e-9)  # root bottom on the blade-frame origin
    assert hi[2] == pytest.approx(spec.tip_z, abs=1e-9)
    tip = mesh.vertices[:, 2] > spec.tip_z - 1e-9
    airfoil_height = mesh.vertices[tip, 2].max() - spec.platform_top
    assert airfoil_height == pytest.approx(spec.span, abs=1e-9)
    # the platform is the widest part; the root fits under it
    np.testing.assert_allclose(hi[:2] - lo[:2], [spec.platform_length, spec.platform_width], atol=1e-9)
    # volume between the bare airfoil and airfoil + platform + a full root block
    assert mesh.volume < spec.span * spec.root_chord**2 * 0.2 + spec.platform_length * spec.platform_width * (
        spec.platform_thickness + spec.root_height
    )


def test_face_labels_match_the_geometry(blades) -> None:
    spec = blade_preset("medium")
    mesh = blades["medium"]
    labels = face_labels(mesh)
    areas = {name: mesh.area_faces[labels == name].sum() for name in set(labels)}
    assert set(areas) == {"airfoil", "tip", "platform_top", "platform_side", "platform_underside", "root"}
    # tip cap = the (scattered) tip section's area; platform top = platform minus the root section
    used = BladeSpec(**mesh.metadata["blade_spec"])
    assert areas["tip"] == pytest.approx(abs(polygon_area(_section(used, 1.0))), rel=1e-6)
    plat = spec.platform_length * spec.platform_width
    assert areas["platform_top"] == pytest.approx(plat - abs(polygon_area(_section(used, 0.0))), rel=1e-6)
    side = 2 * (spec.platform_length + spec.platform_width) * spec.platform_thickness
    assert areas["platform_side"] == pytest.approx(side, rel=1e-9)
    # root faces all lie below the platform; airfoil faces all above it
    assert mesh.triangles_center[labels == "root", 2].max() < spec.root_height
    assert mesh.triangles[labels == "airfoil"][:, :, 2].min() >= spec.platform_top - 1e-9
    clamped = label_mask(mesh, CLAMPED_LABELS)
    assert clamped.sum() == np.isin(labels, ["root", "platform_underside"]).sum() > 0


def test_root_has_the_specified_number_of_lobes() -> None:
    for name in PRESETS:
        spec = blade_preset(name)
        outline = root_profile(spec)
        right = outline[outline[:, 0] > 0]
        right = right[np.argsort(-right[:, 1])]
        widths = right[:, 0]
        peaks = sum(
            1 for i in range(1, len(widths) - 1) if widths[i] >= widths[i - 1] and widths[i] > widths[i + 1]
        )
        assert peaks == spec.root_lobes
        assert outline[:, 0].max() == pytest.approx(spec.root_width / 2)


def test_seed_reproduces_and_varies_the_part() -> None:
    spec = blade_preset("small")
    a, b, c = generate_blade(spec, seed=1), generate_blade(spec, seed=1), generate_blade(spec, seed=2)
    np.testing.assert_array_equal(a.vertices, b.vertices)
    assert abs(a.volume - c.volume) > 1e-12
    assert abs(a.volume - c.volume) / a.volume < 0.1  # variation stays within manufacturing scatter
    nominal = generate_blade(spec, seed=None)
    assert nominal.metadata["blade_spec"]["root_chord"] == spec.root_chord


def test_naca_section_shape() -> None:
    outline = naca4_section(0.0, 0.4, 0.12, 80)
    # NACA 0012: area ~ 0.0822 c^2, max thickness 12 % at ~30 % chord, symmetric
    assert polygon_area(outline) == pytest.approx(0.0822, rel=0.01)
    upper = outline[outline[:, 1] > 0]
    assert 2 * upper[:, 1].max() == pytest.approx(0.12, rel=0.01)
    cambered = naca4_section(0.05, 0.4, 0.10, 80)
    assert cambered[:, 1].max() > -cambered[:, 1].min()  # camber lifts the section
    with pytest.raises(ValueError, match="thickness"):
        naca4_section(0.02, 0.4, 0.6)


def test_spec_rejects_an_airfoil_wider_than_its_platform() -> None:
    data = blade_preset("small").model_dump()
    data["platform_length"] = 0.01
    with pytest.raises(ValueError, match="overhangs the platform"):
        BladeSpec(**data)
    with pytest.raises(ValueError, match="unknown blade preset"):
        blade_preset("huge")


def test_unlabelled_mesh_has_no_labels() -> None:
    with pytest.raises(ValueError, match="no face labels"):
        face_labels(trimesh.creation.box())
