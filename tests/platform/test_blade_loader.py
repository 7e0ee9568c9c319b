"""Loading STL/OBJ blades: closed solids pass, broken meshes are repaired only when safe, else refused
with the problem, the count and the face indices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from platform_control.blade import BladeMeshError, blade_preset, face_labels, generate_blade, load_blade_mesh
from platform_control.blade.loader import validate_blade_mesh


def _write(mesh: trimesh.Trimesh, path: Path) -> Path:
    mesh.export(path)
    return path


def _box_mm() -> trimesh.Trimesh:
    return trimesh.creation.box(extents=(30.0, 20.0, 60.0))


def test_generated_blade_round_trips_through_stl_in_millimetres(tmp_path: Path) -> None:
    blade = generate_blade(blade_preset("small"), seed=3)
    mm = blade.copy()
    mm.apply_scale(1000.0)
    loaded = load_blade_mesh(_write(mm, tmp_path / "blade.stl"), units="mm", clamp_height=0.014)
    assert loaded.is_watertight and loaded.volume > 0
    assert loaded.volume == pytest.approx(blade.volume, rel=1e-6)
    np.testing.assert_allclose(loaded.bounds, blade.bounds, atol=1e-7)
    labels = face_labels(loaded)
    assert set(labels) == {"root", "surface"}
    assert np.all(loaded.triangles_center[labels == "root", 2] < 0.014)


def test_flat_shaded_obj_with_split_normals_loads_closed(tmp_path: Path) -> None:
    """CAD exports often repeat each vertex per face with its own normal; seams must still close."""
    box = _box_mm()
    lines = []
    for i, face in enumerate(box.faces):
        lines += ["v {:.6f} {:.6f} {:.6f}".format(*box.vertices[v]) for v in face]
        lines.append("vn {:.6f} {:.6f} {:.6f}".format(*box.face_normals[i]))
        lines.append(f"f {3 * i + 1}//{i + 1} {3 * i + 2}//{i + 1} {3 * i + 3}//{i + 1}")
    path = tmp_path / "flat.obj"
    path.write_text("\n".join(lines))
    loaded = load_blade_mesh(path, units="mm")
    assert loaded.is_watertight
    assert loaded.volume == pytest.approx(30 * 20 * 60 * 1e-9, rel=1e-9)
    assert set(face_labels(loaded)) == {"surface"}
    assert any("merged" in r for r in loaded.metadata["repairs"])


def test_large_hole_is_refused_with_the_faces_around_it(tmp_path: Path) -> None:
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=20.0)
    ring = np.flatnonzero(np.any(sphere.faces == 0, axis=1))  # the 5 faces around vertex 0
    keep = np.setdiff1d(np.arange(len(sphere.faces)), ring)
    holed = trimesh.Trimesh(sphere.vertices, sphere.faces[keep], process=False)
    with pytest.raises(BladeMeshError, match="not watertight: 5 open") as info:
        load_blade_mesh(_write(holed, tmp_path / "holed.stl"), units="mm")
    err = info.value
    assert err.problem == "not_watertight"
    # the faces touching the hole are exactly the neighbours of the removed fan
    touching = {
        i for i, f in enumerate(holed.faces) if len(set(f) & set(np.unique(sphere.faces[ring])) - {0}) >= 1
    }
    boundary = set(err.faces.tolist())
    assert boundary and boundary <= touching
    assert str(sorted(boundary)[0]) in str(err)


def test_pin_hole_is_closed_and_reported(tmp_path: Path) -> None:
    box = _box_mm()
    holed = trimesh.Trimesh(box.vertices, box.faces[1:], process=False)  # one triangle missing
    loaded = load_blade_mesh(_write(holed, tmp_path / "pin.stl"), units="mm")
    assert loaded.is_watertight
    assert any("pin holes" in r for r in loaded.metadata["repairs"])
    with pytest.raises(BladeMeshError, match="not watertight"):
        load_blade_mesh(tmp_path / "pin.stl", units="mm", repair=False)


def test_collapsed_faces_are_removed_when_that_is_safe() -> None:
    box = _box_mm()
    faces = np.vstack([box.faces, [[0, 0, 1]], box.faces[3:4]])  # a collapsed face and a duplicate
    loaded = validate_blade_mesh(trimesh.Trimesh(box.vertices, faces, process=False), source="test")
    assert loaded.is_watertight and len(loaded.faces) == 12
    assert any("removed 2 degenerate/duplicate faces [12, 13]" in r for r in loaded.metadata["repairs"])


def _box_with_sliver() -> tuple[trimesh.Trimesh, int]:
    """A closed box whose edge v0-v1 is split on one side and bridged by a zero-area sliver face."""
    box = _box_mm()
    faces = box.faces.tolist()
    edge_face = next(i for i, f in enumerate(faces) if f[0] != f[1])
    a, b, x = faces[edge_face]
    mid = len(box.vertices)
    verts = np.vstack([box.vertices, (box.vertices[a] + box.vertices[b]) / 2])
    faces[edge_face] = [a, mid, x]
    faces.append([mid, b, x])
    faces.append([b, a, mid])  # collinear: zero area, closes the split edge
    return trimesh.Trimesh(verts, np.array(faces), process=False), len(faces) - 1


def test_sliver_that_holds_the_surface_closed_is_refused() -> None:
    mesh, sliver = _box_with_sliver()
    assert mesh.is_watertight
    with pytest.raises(
        BladeMeshError, match=r"1 degenerate faces .*\[" + str(sliver) + r"\].*open the surface"
    ) as info:
        validate_blade_mesh(mesh, source="sliver.stl")
    assert info.value.problem == "degenerate_faces"
    assert info.value.faces.tolist() == [sliver]
    assert "sliver.stl" in str(info.value)


def test_non_manifold_edges_are_refused() -> None:
    a = trimesh.creation.box(extents=(10.0, 10.0, 10.0))
    b = a.copy()
    b.apply_translation([10.0, 10.0, 0.0])  # touches a along one vertical edge only
    both = trimesh.util.concatenate([a, b])
    with pytest.raises(BladeMeshError, match="non-manifold") as info:
        validate_blade_mesh(both, source="pair")
    assert info.value.problem == "non_manifold"
    assert info.value.count >= 4


def test_wrong_units_and_bad_files(tmp_path: Path) -> None:
    path = _write(_box_mm(), tmp_path / "box.stl")
    with pytest.raises(BladeMeshError, match="wrong units"):
        load_blade_mesh(path, units="m")
    with pytest.raises(ValueError, match="unknown units"):
        load_blade_mesh(path, units="furlong")
    with pytest.raises(FileNotFoundError, match=r"missing\.stl"):
        load_blade_mesh(tmp_path / "missing.stl")
    with pytest.raises(BladeMeshError, match="unsupported format"):
        load_blade_mesh(tmp_path / "box.ply")
    garbage = tmp_path / "garbage.stl"
    garbage.write_bytes(b"\x00\x01 not a mesh")
    with pytest.raises(BladeMeshError) as info:
        load_blade_mesh(garbage)
    assert info.value.problem in {"unreadable", "empty"}


def test_inside_out_mesh_is_turned_outwards() -> None:
    box = _box_mm()
    loaded = validate_blade_mesh(trimesh.Trimesh(box.vertices, box.faces[:, ::-1], process=False))
    assert loaded.volume > 0
    assert "turned the normals outwards" in loaded.metadata["repairs"]


def test_units_are_guessed_from_the_part_size_and_the_guess_is_stated(tmp_path: Path, caplog) -> None:
    box = _box_mm()  # 30 x 20 x 60 mm
    loaded = load_blade_mesh(_write(box, tmp_path / "mm.stl"))
    assert loaded.metadata["units"]["unit"] == "mm"
    assert loaded.extents.max() == pytest.approx(0.060)
    assert "guessed as 'mm'" in caplog.text and "60.0 mm across" in caplog.text
    inches = box.copy()
    inches.apply_scale(1 / 25.4)  # 2.36 units across: inches (cm would make it 24 mm: also plausible)
    loaded = load_blade_mesh(_write(inches, tmp_path / "in.stl"))
    assert loaded.metadata["units"]["unit"] == "in"
    assert "also plausible: 'cm'" in loaded.metadata["units"]["note"]
    assert loaded.extents.max() == pytest.approx(0.060, rel=1e-6)
    metres = box.copy()
    metres.apply_scale(1e-3)
    assert load_blade_mesh(_write(metres, tmp_path / "m.stl")).metadata["units"]["unit"] == "m"
    given = load_blade_mesh(tmp_path / "m.stl", units="m")
    assert given.metadata["units"] == {"unit": "m", "note": "units 'm' as given"}
    huge = box.copy()
    huge.apply_scale(1e5)
    with pytest.raises(BladeMeshError, match="cannot guess the units") as info:
        load_blade_mesh(_write(huge, tmp_path / "huge.stl"))
    assert info.value.problem == "units"


def _open_blade() -> trimesh.Trimesh:
    from platform_control.blade.cad_like import cad_like_blade

    mesh = cad_like_blade(blade_preset("small"), seed=1, open_ends=True)
    mesh.apply_scale(1000.0)
    return mesh


def test_open_shell_is_refused_with_its_rim_or_kept_for_outer_surface_planning(tmp_path: Path) -> None:
    path = _write(_open_blade(), tmp_path / "open.stl")
    with pytest.raises(BladeMeshError, match=r"not watertight.*outer_surface=True") as info:
        load_blade_mesh(path)
    assert info.value.problem == "not_watertight" and info.value.count > 50  # the uncapped tip and root rims
    kept = load_blade_mesh(path, outer_surface=True)
    assert not kept.is_watertight  # the tip rim (an airfoil outline) stays open: capping it would add shape
    assert any("closed pin holes" in r for r in kept.metadata["repairs"])  # the root's flat quad bottom
    added = kept.area - _open_blade().area * 1e-6
    assert added == pytest.approx(0.0064 * 0.0352, rel=1e-6)  # the root bottom: 6.4 x 35.2 mm


def test_body_exported_twice_is_reduced_to_one() -> None:
    box = _box_mm()
    twice = trimesh.util.concatenate([box, box.copy()])
    loaded = validate_blade_mesh(twice, source="twice")
    assert loaded.is_watertight and len(loaded.faces) == 12
    assert loaded.volume == pytest.approx(box.volume)


def test_internal_sheet_is_removed_and_reported() -> None:
    box = _box_mm()
    sheet = trimesh.Trimesh([[-5, -5, 0], [5, -5, 0], [5, 5, 0], [-5, 5, 0]], [[0, 1, 2], [0, 2, 3]])
    loaded = validate_blade_mesh(trimesh.util.concatenate([box, sheet]), source="sheet")
    assert loaded.is_watertight and len(loaded.faces) == 12
    assert any(
        "removed 1 open sheet(s) inside the part, 2 faces [12, 13]" in r for r in loaded.metadata["repairs"]
    )


def test_separate_and_nested_bodies_are_refused_with_their_faces() -> None:
    box = _box_mm()
    stray = trimesh.creation.box(extents=(5.0, 5.0, 5.0))
    stray.apply_translation([100.0, 0.0, 0.0])
    with pytest.raises(BladeMeshError, match=r"2 separate bodies.*12 faces \[12, 13") as info:
        validate_blade_mesh(trimesh.util.concatenate([box, stray]), source="two")
    assert info.value.problem == "several_bodies"
    assert info.value.faces.tolist() == list(range(12, 24))
    # the same part once more in metres next to it: the size ratio points at mixed units
    in_metres = box.copy()
    in_metres.apply_scale(1e-3)
    in_metres.apply_translation([100.0, 0.0, 0.0])
    with pytest.raises(BladeMeshError, match="mixed units mm/m"):
        validate_blade_mesh(trimesh.util.concatenate([box, in_metres]), source="mixed")
    inner = trimesh.creation.box(extents=(5.0, 5.0, 5.0))
    with pytest.raises(BladeMeshError, match="inside the main body") as info:
        validate_blade_mesh(trimesh.util.concatenate([box, inner]), source="nested")
    assert info.value.problem == "internal_body"
    kept = validate_blade_mesh(trimesh.util.concatenate([box, inner]), source="nested", outer_surface=True)
    assert len(kept.faces) == 24


def test_face_labels_follow_their_faces_through_repairs() -> None:
    from platform_control.blade.cad_like import cad_like_blade

    mesh = cad_like_blade(blade_preset("small"), seed=2, internal_sheet=True)
    n_sheet = 32
    repaired = validate_blade_mesh(mesh, source="sheet")
    assert len(repaired.faces) == len(mesh.faces) - n_sheet and repaired.is_watertight
    np.testing.assert_array_equal(face_labels(repaired), face_labels(mesh)[:-n_sheet])
