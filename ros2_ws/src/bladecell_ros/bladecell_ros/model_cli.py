"""`bladecell model ...` and `bladecell status`: the model's life after its first design (thin: each
command forwards to `services.retrainer`, `database.services.registry` or `.model_life`).

    bladecell model retrain --family F [--like OTHER] [--auto-promote]   fine-tune on the newest labels
    bladecell model promote VERSION --family F                           candidate -> deployed
    bladecell model rollback --family F                                  previous model -> deployed
    bladecell model list --family F                                      versions with lineage
    bladecell model check --family F [--measure-latency]                 evaluate the redesign triggers
    bladecell status [--family F]                                        deployed models and their flags
"""

from __future__ import annotations

import getpass
import os
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

model_app = typer.Typer(
    help="The deployed models' life: retrain, promote, roll back, check.", no_args_is_help=True
)
console = Console()
FamilyOption = Annotated[str, typer.Option("--family", help="part family code")]
OperatorOption = Annotated[str, typer.Option("--operator", help="who does it (kept in the records)")]


def _operator(name: str) -> str:
    return name or os.environ.get("USER") or getpass.getuser() or "operator"


def _context():
    from database.engine import create_db_engine, make_session_factory
    from database.settings import load_settings

    settings = load_settings()
    return settings, make_session_factory(create_db_engine(settings.url, pool_size=settings.pool_size))


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]error:[/] {exc}", highlight=False)
    return typer.Exit(code=1)


@model_app.command()
def retrain(
    family: FamilyOption,
    like: Annotated[str | None, typer.Option("--like", help="start from this family's architecture")] = None,
    auto_promote: Annotated[
        bool, typer.Option("--auto-promote", help="deploy if not worse on any class")
    ] = False,
    tolerance: Annotated[
        float | None, typer.Option(help="IoU a class may lose (default: the family's)")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="fine-tuning epochs (default 8)")] = None,
    threads: Annotated[int, typer.Option(help="torch threads (0: torch's default)")] = 0,
    device: str = "cpu",
    operator: OperatorOption = "",
) -> None:
    """Fine-tune the family's deployed model (or OTHER's with --like) on a snapshot of its labels."""
    from bladecell_ros.services.detection import NoModelError
    from bladecell_ros.services.retrainer import ModelRetrainer, RetrainError
    from database.errors import RecordsError

    settings, factory = _context()
    overrides = {"retrain": {"epochs": epochs}} if epochs else {}
    retrainer = ModelRetrainer(settings.home, factory, device=device, threads=threads, overrides=overrides)
    try:
        out = retrainer.retrain(
            family,
            like=like,
            actor=_operator(operator),
            auto_promote=auto_promote,
            tolerance=tolerance,
            progress=lambda message: console.print(message, highlight=False),
        )
    except (RetrainError, NoModelError, RecordsError) as exc:
        raise _fail(exc) from exc
    table = Table(title=f"{out.version} vs {out.parent_version} on {out.heldout_samples} held-out captures")
    for col in ("class", "deployed IoU", "candidate IoU", "change"):
        table.add_column(col)
    for name, new in out.candidate_iou.items():
        old = out.deployed_iou.get(name, float("nan"))
        change = out.deltas.get(name)
        table.add_row(name, f"{old:.3f}", f"{new:.3f}", "" if change is None else f"{change:+.3f}")
    console.print(table)
    state = (
        "promoted (deployed)" if out.promoted else ("promotable" if out.promotable else "kept as candidate")
    )
    console.print(
        f"snapshot {out.snapshot_id} ({out.snapshot_sha256[:12]}), {out.train_samples} train captures, "
        f"{out.seconds:.1f} s; {out.version}: {state}",
        highlight=False,
    )


@model_app.command()
def promote(
    version: str,
    family: FamilyOption,
    reason: str = "",
    operator: OperatorOption = "",
) -> None:
    """Deploy a candidate of FAMILY (the detector takes it at its next cycle)."""
    from database.errors import RecordsError
    from database.services.registry import Actor, ModelRegistry

    _, factory = _context()
    try:
        info = ModelRegistry(factory).promote(family, version, Actor(name=_operator(operator)), reason=reason)
    except RecordsError as exc:
        raise _fail(exc) from exc
    console.print(f"{info.version} deployed for {family}", highlight=False)


@model_app.command()
def rollback(family: FamilyOption, reason: str = "", operator: OperatorOption = "") -> None:
    """Re-deploy the model deployed before the current one."""
    from database.errors import RecordsError
    from database.services.registry import Actor, ModelRegistry

    _, factory = _context()
    try:
        info = ModelRegistry(factory).rollback(family, Actor(name=_operator(operator)), reason)
    except RecordsError as exc:
        raise _fail(exc) from exc
    console.print(f"rolled back: {info.version} deployed for {family}", highlight=False)


@model_app.command("list")
def list_models(family: FamilyOption) -> None:
    """The family's models, newest first, with where each came from."""
    from database.services.registry import ModelRegistry

    _, factory = _context()
    table = Table(title=f"models of {family}")
    for col in ("version", "status", "origin", "from", "snapshot", "mIoU"):
        table.add_column(col)
    for m in ModelRegistry(factory).list(family):
        table.add_row(
            m.version,
            m.status.value,
            m.origin.value if m.origin else "-",
            m.source(),
            f"{m.snapshot_id} {m.snapshot_sha256[:10]}" if m.snapshot_id else "",
            f"{m.metrics['miou']:.3f}" if "miou" in m.metrics else "",
        )
    console.print(table)


@model_app.command()
def check(
    family: FamilyOption,
    measure_latency: Annotated[bool, typer.Option(help="time the deployed model on --device")] = False,
    device: str = "cpu",
) -> None:
    """Evaluate the retrain/redesign triggers now and record the result (never starts a design)."""
    from pathlib import Path

    from database.errors import RecordsError
    from database.services import model_life
    from database.services.registry import ModelRegistry
    from database.services.transactions import unit_of_work
    from database.storage import ContentStore

    settings, factory = _context()
    latency = None
    if measure_latency:
        from autonad_core.pipeline import measure_latency as timer

        info = ModelRegistry(factory).deployed_for(family)
        if info is None:
            raise _fail(ValueError(f"no deployed model for {family!r}"))
        path = Path(info.weights_path)
        latency = timer(path if path.is_absolute() else settings.home / path, device)
    try:
        with unit_of_work(factory, immediate=True) as session:
            row = model_life.assess(
                session,
                ContentStore(settings.home),
                family,
                measured_latency_ms=latency,
                latency_device=device,
            )
            out = model_life.health_out(session, row, family)
    except RecordsError as exc:
        raise _fail(exc) from exc
    _print_health(out)


def _print_health(out: dict) -> None:
    colour = {"ok": "green", "retrain_recommended": "yellow", "redesign_recommended": "red"}[out["level"]]
    console.print(
        f"{out['part_family']} {out['model_version']}: [{colour}]{out['level']}[/]", highlight=False
    )
    for reason in out["reasons"]:
        console.print(f"  - {reason}", highlight=False)


def status(family: Annotated[str | None, typer.Option("--family")] = None) -> None:
    """Deployed model of every family (or one) and its latest 'retrain / redesign recommended' flag."""
    from sqlalchemy import select

    from database.orm import PartFamily
    from database.services import model_life
    from database.services.registry import ModelRegistry

    _, factory = _context()
    registry = ModelRegistry(factory)
    with factory() as session:
        codes = (
            [family] if family else list(session.scalars(select(PartFamily.code).order_by(PartFamily.code)))
        )
        checks = {}
        for code in codes:
            row = model_life.latest_health(session, code)
            checks[code] = model_life.health_out(session, row, code) if row else None
    if not codes:
        console.print("no part families recorded yet")
    for code in codes:
        info = registry.deployed_for(code)
        origin = (
            f" ({info.origin.value}{' from ' + info.parent_version if info.parent_version else ''})"
            if (info and info.origin)
            else ""
        )
        console.print(f"{code}: deployed {info.version if info else 'none'}{origin}", highlight=False)
        if checks[code]:
            _print_health(checks[code])
        else:
            console.print("  no health check yet (`bladecell model check --family ...`)", highlight=False)
