"""What `bladecell up / inspect / demo` do, as functions (the CLI only parses options).

* `prepare_environment`: the cell's ROS settings in this process too (localhost discovery, the Fast DDS
  profile), before anything starts rclpy; ROS_DOMAIN_ID is respected.
* `start_cell`: migrate the database, start the graph, wait until every node is discovered.
* `inspect_with_progress`: send InspectBlade and draw the cycle's progress with rich.
* `summary_lines`: the human summary of a finished cycle (verdict, defects, timing, where things went).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bladecell_ros.bringup.cell_graph import CellGraph, GraphError
from bladecell_ros.bringup.graph import SIM_PARAMS, cell_environment
from bladecell_ros.bringup.supervisor import RestartPolicy, Supervisor
from bladecell_ros.transport.node_utils import data_home

if TYPE_CHECKING:
    from platform_control.cycle.detections import DetectionsFile


def prepare_environment() -> None:
    os.environ.update(cell_environment())


def database_url() -> str:
    from database.settings import load_settings

    return load_settings().url


def migrate_database() -> str:
    from database import migrate

    url = database_url()
    migrate.upgrade(url)
    return url


def start_cell(
    console: Console,
    params: Sequence[Path] = (),
    log_dir: Path | None = None,
    timeout: float = 120.0,
    policy: RestartPolicy | None = None,
) -> tuple[CellGraph, Any, Supervisor]:
    """Migrate, start the simulated graph, wait for every node; returns (graph, CellClient, supervisor).

    The supervisor watches from the first process on: a node that crashes while the cell is still
    coming up (a native crash in its DDS start-up was seen under load) is restarted within `policy`'s
    budget, as later, instead of failing the whole bring-up."""
    from bladecell_ros.transport.client import CellClient

    prepare_environment()
    url = migrate_database()
    log_dir = log_dir or data_home() / "logs" / time.strftime("%Y%m%dT%H%M%S")
    graph = CellGraph([SIM_PARAMS, *params], log_dir)
    supervisor = Supervisor(
        graph,
        policy or RestartPolicy(),
        log=lambda line: console.print(line, style="yellow", markup=False, soft_wrap=True),
    )
    console.print(
        f"records: {_redact(url)}   logs: {log_dir}   ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', '0')}"
    )
    client = None
    try:
        graph.start()
        client = CellClient()
        with console.status("starting the cell...") as status:

            def show(seen: set[str], expected: set[str]) -> None:
                status.update(f"discovered {len(seen)}/{len(expected)} nodes: {', '.join(sorted(seen))}")

            took = graph.wait_discovered(client.node_names, timeout, progress=show, watch=supervisor.poll)
            status.update("waiting for the coordinator's inspect_blade action")
            deadline = time.monotonic() + timeout
            while not client.inspect_action.ready():
                supervisor.poll()
                if time.monotonic() > deadline:
                    raise GraphError(f"inspect_blade action not available within {timeout:.0f} s")
                time.sleep(0.1)
    except BaseException:  # also Ctrl-C at any moment of the start-up: nothing is left running
        if client is not None:
            client.close()
        graph.stop()
        raise
    console.print(f"[green]cell up[/]: {len(graph.expected_nodes)} nodes discovered in {took:.1f} s")
    return graph, client, supervisor


def inspect_with_progress(
    client: Any,
    console: Console,
    serial: str,
    family: str,
    *,
    force_redesign: bool = False,
    resume: bool = False,
    operator: str = "",
) -> Any:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"{serial}: starting", total=1.0)

        def feedback(fb) -> None:
            where = f" {fb.viewpoint_index}/{fb.viewpoint_count}" if fb.state == "SCANNING" else ""
            progress.update(
                task, completed=fb.progress, description=f"{fb.state:<10}{where} {fb.message[:70]}"
            )

        result = client.inspect(
            serial, family, force_redesign=force_redesign, resume=resume, operator=operator, feedback=feedback
        )
        progress.update(
            task, completed=1.0 if result.final_state == "DONE" else None, description=result.final_state
        )
    return result


def next_step(serial: str) -> str:
    """What the technician does after a cycle stopped half-way."""
    return f"Next: run `bladecell inspect --serial {serial} --resume` once the cell is back."


def lost_cell_line(exc: BaseException, serial: str) -> str:
    """One line for an inspect whose goal was lost (the coordinator went away, the call failed)."""
    from platform_control.hardware import DeviceUnreachable

    if isinstance(exc, DeviceUnreachable):
        what = f"{exc}"
        if "went away" in what:
            what = f"the {exc.device} went away during the cycle (its process stopped)"
    elif isinstance(exc, TimeoutError):
        what = f"no answer from the cell: {exc}"
    else:
        what = f"the inspection stopped: {type(exc).__name__}: {exc}"
    line = " ".join(what.split())
    return f"{line}. {next_step(serial)}"


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cycle_family(home: Path, cycle_id: str) -> str:
    """The part family of a cycle, from its journal ("" if unreadable): `inspect --resume` is given
    only the serial."""
    from platform_control.cycle.journal import CycleJournal, JournalError
    from platform_control.cycle.refs import RefError, safe_name
    from platform_control.cycle.services import CycleJob

    try:
        state = CycleJournal(home / "cycles" / f"{safe_name(cycle_id)}.json").load()
        return CycleJob.from_dict(state.metadata["job"]).part_family
    except (JournalError, RefError, KeyError, TypeError, ValueError):
        return ""


def detections_of(home: Path, family: str, cycle_id: str) -> DetectionsFile | None:
    from platform_control.cycle.detections import DetectionsFile

    return DetectionsFile.of_cycle(home, family, cycle_id)


def _ground_truth_iou(home: Path, family: str, cycle_id: str) -> str | None:
    """Simulated cell: how well the detections match the simulator's pixel-exact ground truth."""
    from bladecell_ros.services.capture_store import CaptureStore
    from bladecell_ros.services.evaluation import cycle_scores
    from platform_control.cycle.detections import DetectionsFile

    try:
        detections = DetectionsFile.of_cycle(home, family, cycle_id)
        if detections is None:
            return None
        iou = cycle_scores(CaptureStore(home), detections)
    except (ValueError, OSError):
        return None  # real captures carry no ground truth
    if iou["defect_iou"] is None:
        return None
    from platform_control.defect_scoring import format_scores

    return f"defect IoU {iou['defect_iou']:.2f} over {iou['captures']} captures; {format_scores(iou)}"


def model_line(version: str) -> str:
    """The cycle's model and, for one that reuses another family's architecture, where it came from
    (the registry's lineage); the version alone when the registry cannot say."""
    if not version:
        return "-"
    from sqlalchemy.exc import SQLAlchemyError

    from bladecell_ros.services.designer import untrained_note
    from database.errors import RecordsError
    from database.services import ModelRegistry, untrained_classes

    try:
        info = ModelRegistry().get(version)
    except (RecordsError, SQLAlchemyError):  # not registered, or the database is away: the version
        return version
    source = f" (architecture of {info.source()}, no search)" if info.architecture_from else ""
    return f"{version}{source}{untrained_note(untrained_classes(info.metrics, info.class_names))}"


def summary_table(result: Any, family: str, serial: str) -> Table:
    home = data_home()
    family = family or (cycle_family(home, result.cycle_id) if result.cycle_id else "")
    table = Table(title=f"inspection of blade {serial} ({family or '?'})", show_header=False)
    table.add_row("cycle", result.cycle_id or "-")
    table.add_row("final state", result.final_state)
    style = {"pass": "green", "fail": "red"}.get(result.verdict, "yellow")
    table.add_row("verdict", f"[{style}]{result.verdict.upper()}[/]")
    table.add_row("model", model_line(result.model_version))
    detections = detections_of(home, family, result.cycle_id) if result.cycle_id and family else None
    if detections is not None:
        counts = Counter(d["defect_class"] for d in detections.defects)
        listed = ", ".join(f"{n} {c}" for c, n in counts.most_common()) or "none"
        reasons = detections.reasons
        table.add_row(
            "defects", f"{len(detections.defects)} regions ({listed}); {len(reasons)} reject the blade"
        )
        for reason in reasons[:5]:
            table.add_row("", f"reject: {reason}")
    else:
        table.add_row("defects", str(result.defect_count))
    if detections is not None:
        iou = _ground_truth_iou(home, family, result.cycle_id)
        if iou is not None:
            table.add_row("vs ground truth", iou)
    timings = json.loads(result.stage_timings_json or "{}")
    table.add_row(
        "time",
        f"{result.duration_s:.1f} s  (" + ", ".join(f"{k.lower()} {v:.1f}" for k, v in timings.items()) + ")",
    )
    table.add_row(
        "record",
        f"#{result.record_id} in {_redact(database_url())}" if result.record_id >= 0 else "not recorded",
    )
    table.add_row(
        "images", f"{home / 'files'} (content-addressed PNG); manifests {home / 'captures' / family}"
    )
    table.add_row(
        "web page",
        "bladecell db create-user qe --role engineer; bladecell db create-key qe; "
        "bladecell db serve  ->  http://127.0.0.1:8000/ui/ (sign in with the key)",
    )
    if result.final_state != "DONE":
        table.add_row("message", result.message)
    return table
