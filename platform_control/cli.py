"""Command-line verbs of the simulated cell (`sim_app`, mounted by the lead as `bladecell sim`).

bladecell sim dataset --blades 4 --seed 1 --out data/sim      labelled multispectral dataset
bladecell sim preview --seed 1 --out sheet.png                contact sheet of one capture
bladecell sim descriptions [--check]                          regenerate / check URDF + SDF
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

sim_app = typer.Typer(
    name="sim",
    help="Simulated cell: labelled multispectral datasets, capture previews, robot descriptions.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


def _square(resolution: int | None, binning: int | None) -> tuple[int, int] | None:
    """The square frame size of --resolution; the 1024 default only when --binning is not given."""
    if binning is not None:
        return None if resolution is None else (resolution, resolution)
    return (resolution or 1024,) * 2


@sim_app.command()
def dataset(
    blades: int = typer.Option(..., "--blades", min=1, help="number of generated blades"),
    seed: int = typer.Option(
        ..., "--seed", help="seed of blades, defects and noise (same seed = same files)"
    ),
    out: Path = typer.Option(..., "--out", help="output directory (must be empty or absent)"),
    views: int = typer.Option(6, "--views-per-blade", min=1, help="scan-plan stops rendered per blade"),
    defect_views: bool = typer.Option(
        True, "--defect-views/--no-defect-views", help="add a view on each defect"
    ),
    resolution: int | None = typer.Option(
        None, "--resolution", min=64, max=4096, help="square frame size, pixels (default 1024)"
    ),
    binning: int | None = typer.Option(
        None, "--binning", min=1, help="instead: the whole sensor binned N x N (1 = native, 2, 4)"
    ),
    presets: str = typer.Option("small,medium", "--presets", help="comma-separated blade presets"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace a non-empty output directory"),
) -> None:
    """Render a labelled multispectral dataset in autonad's generic folder format."""
    from platform_control.sim.dataset import generate_dataset

    try:
        summary = generate_dataset(
            blades,
            seed,
            out,
            presets=tuple(p.strip() for p in presets.split(",") if p.strip()),
            views_per_blade=views,
            defect_views=defect_views,
            resolution=_square(resolution, binning),
            binning=binning,
            overwrite=overwrite,
        )
    except (FileExistsError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    table = Table(
        "class", "pixels", title=f"{summary.samples} samples ({summary.train} train / {summary.val} val)"
    )
    for name, count in summary.class_pixels.items():
        table.add_row(name, str(count))
    console.print(table)
    console.print(f"dataset written to {summary.root}")


@sim_app.command()
def preview(
    out: Path = typer.Option(..., "--out", help="PNG file for the contact sheet"),
    seed: int = typer.Option(0, "--seed"),
    preset: str = typer.Option("small", "--preset", help="blade preset"),
    defect: int = typer.Option(0, "--defect", min=0, help="which defect to centre the view on"),
    resolution: int | None = typer.Option(None, "--resolution", min=64, max=4096, help="default 1024"),
    binning: int | None = typer.Option(None, "--binning", min=1, help="instead: whole sensor binned N x N"),
) -> None:
    """Render one capture centred on a defect and save its channels + mask overlay as a contact sheet."""
    import cv2
    import numpy as np

    from platform_control.blade import blade_preset, generate_blade, label_mask
    from platform_control.sim.cell import SimCell
    from platform_control.sim.defects import load_defects_config
    from platform_control.sim.optics import load_optics
    from platform_control.sim.placement import BladeSurface, sample_defects
    from platform_control.sim.preview import contact_sheet
    from platform_control.sim.render import SimBlade
    from platform_control.stage import StageKinematics

    rng = np.random.default_rng(seed)
    mesh = generate_blade(blade_preset(preset), seed=seed)
    defects = sample_defects(BladeSurface(mesh, label_mask(mesh, ["airfoil"])), rng, (6, 6))
    if defect >= len(defects):
        console.print(f"[red]error:[/] --defect {defect}: the blade has {len(defects)} defects")
        raise typer.Exit(code=2)
    from platform_control.params import load_camera_params

    size = _square(resolution, binning)
    try:
        if size is not None and binning is not None:
            raise ValueError("give --resolution or --binning, not both")
        optics = load_optics()
        optics = optics.with_resolution(*size) if size else optics.with_binning(load_camera_params(), binning)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    with SimCell(SimBlade(mesh, defects, seed), optics=optics) as cell:
        stage = StageKinematics(cell.stage_params, cell.layout, cell.camera_params)
        target = defects[defect]
        cell.place_blade("fixture")
        cell.set_stage_axes(stage.viewpoint_to_axes(target.frame.center, target.frame.normal))
        cap = cell.renderer().capture(cell.data, np.random.default_rng(seed))
    sheet = contact_sheet(cap.frames, cap.channels, cap.mask, load_defects_config().classes)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), sheet)
    console.print(f"{target.kind} view written to {out}")


@sim_app.command()
def descriptions(
    check: bool = typer.Option(False, "--check", help="only check that the committed files are current"),
) -> None:
    """Regenerate the URDF/SDF files of ros2_ws/src/bladecell_description from the parameter files."""
    from platform_control.sim.description import (
        DESCRIPTION_PACKAGE,
        generate_descriptions,
        write_descriptions,
    )

    if check:
        stale = [
            rel
            for rel, text in generate_descriptions().items()
            if not (DESCRIPTION_PACKAGE / rel).is_file() or (DESCRIPTION_PACKAGE / rel).read_text() != text
        ]
        if stale:
            console.print(f"[red]out of date:[/] {', '.join(stale)} (run without --check)")
            raise typer.Exit(code=1)
        console.print("descriptions are current")
        return
    for path in write_descriptions():
        console.print(str(path))
