"""The `bladecell` command: the cell's one entry point for technicians and test engineers.

    bladecell demo                            simulated cell: bring up, inspect one blade, shut down
    bladecell up --sim                        start the simulated cell, keep it running (Ctrl-C stops)
    bladecell inspect --serial S --family F   inspect one blade on the running cell
    bladecell estop [--release]               software e-stop; `bladecell reset-estop` afterwards
    bladecell sim ...                         simulator: datasets, previews, descriptions
    bladecell db ...                          records: migrations, API server + web page, users
    bladecell model ...                       retrain / promote / roll back / check the deployed models
    bladecell status                          deployed models and their retrain/redesign flags
    bladecell doctor                          check this machine

Sub-commands are thin: each forwards to a library or to the ROS 2 graph in this package.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="bladecell",
    help="BladeCell: robotic aero-engine blade inspection with automated defect-network design.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()

try:  # the libraries' own command groups
    from platform_control.cli import sim_app

    app.add_typer(sim_app, name="sim")
except ImportError as exc:  # pragma: no cover - reported by `doctor`
    _SIM_IMPORT_ERROR: Exception | None = exc
else:
    _SIM_IMPORT_ERROR = None
try:
    from database.cli import app as db_app

    app.add_typer(db_app, name="db")
except ImportError as exc:  # pragma: no cover
    _DB_IMPORT_ERROR: Exception | None = exc
else:
    _DB_IMPORT_ERROR = None


from bladecell_ros.model_cli import model_app, status  # noqa: E402  (after the optional groups)

app.add_typer(model_app, name="model")
app.command()(status)


@app.callback()
def _root() -> None:
    """BladeCell: robotic aero-engine blade inspection with automated defect-network design.

    Data and records live under $BLADECELL_HOME (default ~/.local/share/bladecell); the database is
    the SQLite file there unless BLADECELL_DATABASE_URL points elsewhere (e.g. PostgreSQL). The cell's
    ROS 2 graph uses ROS_DOMAIN_ID (default 0) and discovery on this machine only.
    """


def _check(name: str, probe) -> tuple[str, bool, str]:
    try:
        detail = probe()
        return name, True, str(detail)
    except Exception as exc:  # doctor reports every failure instead of stopping at the first
        return name, False, f"{type(exc).__name__}: {exc}"


def _ros_interfaces() -> str:
    module = importlib.import_module("bladecell_interfaces.action")
    return f"InspectBlade from {Path(module.__file__).parent.parent}"


@app.command()
def doctor() -> None:
    """Check this machine: Python, torch, ROS 2 wheels, interfaces, data directory."""
    home = Path(os.environ.get("BLADECELL_HOME", Path.home() / ".local/share/bladecell"))
    checks = [
        _check("python", lambda: sys.version.split()[0]),
        _check("torch", lambda: importlib.import_module("torch").__version__),
        _check("rclpy", lambda: importlib.import_module("rclpy").__name__),
        _check("bladecell_interfaces", _ros_interfaces),
        _check(
            "MultispectralCapture",
            lambda: importlib.import_module("bladecell_interfaces.msg").MultispectralCapture,
        ),
        _check(
            "ROS_AUTOMATIC_DISCOVERY_RANGE",
            lambda: os.environ.get(
                "ROS_AUTOMATIC_DISCOVERY_RANGE", "unset (bladecell up/demo set LOCALHOST for the cell)"
            ),
        ),
        _check("BLADECELL_HOME", lambda: f"{home} ({'exists' if home.exists() else 'created on first run'})"),
        _check("bladecell sim", lambda: "ok" if _SIM_IMPORT_ERROR is None else _raise(_SIM_IMPORT_ERROR)),
        _check("bladecell db", lambda: "ok" if _DB_IMPORT_ERROR is None else _raise(_DB_IMPORT_ERROR)),
    ]
    table = Table("check", "ok", "detail")
    for name, ok, detail in checks:
        table.add_row(name, "[green]yes[/]" if ok else "[red]no[/]", detail)
    console.print(table)
    if not all(ok for _, ok, _ in checks):
        raise typer.Exit(code=1)


def _raise(exc: Exception):
    raise exc


def _interrupt_on_signals() -> None:
    """Ctrl-C and SIGTERM stop `up`/`demo` cleanly, even when started from a shell that ignores SIGINT
    for background jobs (the stop then reaches every node as SIGINT)."""
    import signal

    def interrupt(*_args) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


@app.command()
def up(
    sim: bool = typer.Option(
        False, "--sim", help="run the simulated cell (the only bring-up this version has)"
    ),
    params: list[Path] = typer.Option(
        [], "--params", help="extra ROS parameter files (override the defaults)"
    ),
    log_dir: Path | None = typer.Option(
        None, "--log-dir", help="node logs (default $BLADECELL_HOME/logs/<time>)"
    ),
    timeout: float = typer.Option(120.0, help="seconds to wait for every node to be discovered"),
    max_restarts: int = typer.Option(
        3, "--max-restarts", help="restarts of one crashed node allowed within --restart-window"
    ),
    restart_window: float = typer.Option(60.0, "--restart-window", help="seconds (restart budget)"),
    serve: int = typer.Option(
        0, "--serve", help="also serve the records API and the station page on this port, linked to the cell"
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="address the web server (--serve) listens on"),
) -> None:
    """Start the cell's whole ROS 2 graph, wait until every node is up, run until Ctrl-C.

    A node process that crashes is restarted (back-off 1, 2, 4 s ...); one that crashes more than
    --max-restarts times within --restart-window seconds stops the cell."""
    from bladecell_ros.bringup.cell_graph import GraphError
    from bladecell_ros.bringup.session import start_cell
    from bladecell_ros.bringup.supervisor import RestartPolicy

    try:
        policy = RestartPolicy(max_restarts=max_restarts, window_s=restart_window)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from None

    if not sim:
        console.print(
            "[red]error:[/] only the simulated cell can be brought up (`--sim`): a plant runs the driver "
            "nodes with driver:=real, which need the vendor drivers (see bladecell_ros.nodes.hardware)"
        )
        raise typer.Exit(code=2)
    _interrupt_on_signals()
    try:
        graph, client, supervisor = start_cell(console, params, log_dir, timeout, policy)
    except GraphError as exc:
        console.print(f"[red]bring-up failed:[/] {exc}")
        raise typer.Exit(code=1) from None
    except KeyboardInterrupt:  # start_cell stopped what it had started
        console.print("start-up interrupted; the cell is stopped")
        raise typer.Exit(code=130) from None
    web = None
    if serve:
        from bladecell_ros.bringup.web_server import CellWebServer

        web = CellWebServer(client, host, serve)
        try:
            web.start()
        except RuntimeError as exc:
            console.print(f"[red]web server:[/] {exc}")
            client.close()
            graph.stop()
            raise typer.Exit(code=1) from None
        console.print(
            f"technician's station on {web.url}/ui/station.html (API {web.url}/docs)", soft_wrap=True
        )
    console.print(
        "the cell is running; `bladecell inspect --serial S --family F` in another shell. Ctrl-C stops."
    )
    code = 0
    try:
        while True:
            supervisor.poll()
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("stopping the cell...")
    except GraphError as exc:  # a node over its restart budget: one line
        console.print(str(exc), style="red", markup=False, soft_wrap=True)
        code = 1
    finally:
        if web is not None:
            web.stop()
        client.close()
        codes = graph.stop()
        console.print("stopped: " + ", ".join(f"{n} ({rc})" for n, rc in codes.items()), soft_wrap=True)
    raise typer.Exit(code=code)


@app.command()
def inspect(
    serial: str = typer.Option(..., "--serial", help="blade serial number"),
    family: str = typer.Option("", "--family", help="part family (not needed with --resume)"),
    force_redesign: bool = typer.Option(False, "--force-redesign", help="design a new model first"),
    resume: bool = typer.Option(False, "--resume", help="resume this blade's faulted cycle"),
    operator: str = typer.Option(os.environ.get("USER", ""), "--operator"),
    timeout: float = typer.Option(30.0, help="seconds to wait for the cell's coordinator"),
) -> None:
    """Inspect one blade on the running cell (`bladecell up --sim` in another shell) with live progress."""
    from bladecell_ros.bringup.session import (
        inspect_with_progress,
        lost_cell_line,
        next_step,
        prepare_environment,
        summary_table,
    )

    if not family and not resume:
        console.print("[red]error:[/] --family is required (or --resume)")
        raise typer.Exit(code=2)
    prepare_environment()
    from bladecell_ros.transport.client import CellClient

    with CellClient() as client:
        try:
            client.wait_for_coordinator(timeout)
        except Exception as exc:
            console.print(
                f"[red]no cell:[/] {exc} (is `bladecell up --sim` running on ROS_DOMAIN_ID "
                f"{os.environ.get('ROS_DOMAIN_ID', '0')}?)"
            )
            raise typer.Exit(code=1) from None
        try:
            result = inspect_with_progress(
                client,
                console,
                serial,
                family,
                force_redesign=force_redesign,
                resume=resume,
                operator=operator,
            )
        except KeyboardInterrupt:
            console.print(
                f"interrupted: the cycle carries on in the cell; if it faults, run `bladecell inspect "
                f"--serial {serial} --resume`.",
                markup=False,
                soft_wrap=True,
            )
            raise typer.Exit(code=130) from None
        except Exception as exc:  # the cell went away under the goal: one line and what to do
            console.print(lost_cell_line(exc, serial), style="red", markup=False, soft_wrap=True)
            raise typer.Exit(code=1) from None
    console.print(summary_table(result, family, serial))
    if result.final_state == "FAULTED":
        console.print(next_step(serial), markup=False, soft_wrap=True)
    raise typer.Exit(code=0 if result.final_state == "DONE" else 1)


@app.command()
def demo(
    serial: str = typer.Option("DEMO-0001", "--serial"),
    family: str = typer.Option("HPT-SMALL", "--family"),
    force_redesign: bool = typer.Option(False, "--force-redesign"),
    params: list[Path] = typer.Option([], "--params", help="extra ROS parameter files"),
) -> None:
    """The simulated cell end to end: bring up, inspect one blade, print the summary, shut down.

    The first run for a part family designs its model (AutoNAD on the scanned blade); later runs reuse it.
    """
    from bladecell_ros.bringup.cell_graph import GraphError
    from bladecell_ros.bringup.session import inspect_with_progress, start_cell, summary_table

    start = time.monotonic()
    _interrupt_on_signals()
    try:
        graph, client, _supervisor = start_cell(console, params)
    except GraphError as exc:
        console.print(f"[red]bring-up failed:[/] {exc}")
        raise typer.Exit(code=1) from None
    except KeyboardInterrupt:
        console.print("start-up interrupted; the cell is stopped")
        raise typer.Exit(code=130) from None
    try:
        result = inspect_with_progress(client, console, serial, family, force_redesign=force_redesign)
    except KeyboardInterrupt:
        console.print("interrupted")
        result = None
    finally:
        client.close()
        graph.stop()
    if result is None:
        raise typer.Exit(code=130)
    console.print(summary_table(result, family, serial))
    console.print(f"demo finished in {time.monotonic() - start:.0f} s; node logs in {graph.log_dir}")
    raise typer.Exit(code=0 if result.final_state == "DONE" else 1)


@app.command()
def estop(release: bool = typer.Option(False, "--release", help="release instead of press")) -> None:
    """Press (or release) the software e-stop: arm and stage halt at once, the cycle faults."""
    from bladecell_ros.bringup.session import prepare_environment

    prepare_environment()
    from bladecell_ros.transport.client import CellClient

    with CellClient() as client:
        try:
            client.wait_for_coordinator(30.0)
            client.press_estop(not release, subscribers=3)  # coordinator, arm driver, stage driver
            status = client.wait_status(
                lambda s: s.estop_active == (not release) or release, 10.0, "the cell's e-stop state"
            )
        except Exception as exc:  # no cell, or not every motion node listening: one line
            console.print(f"e-stop not confirmed: {exc}", style="red", markup=False, soft_wrap=True)
            raise typer.Exit(code=1) from None
        console.print(f"e-stop {'released' if release else 'PRESSED'}; cell state {status.state}")


@app.command("reset-estop")
def reset_estop() -> None:
    """After the e-stop is released: reset the drivers; then `inspect --serial S --resume` continues."""
    from bladecell_ros.bringup.session import prepare_environment

    prepare_environment()
    from bladecell_ros.transport.client import CellClient

    with CellClient() as client:
        try:
            client.wait_for_coordinator(30.0)
            response = client.reset_estop()
        except Exception as exc:  # no cell: one line
            console.print(f"reset not done: {exc}", style="red", markup=False, soft_wrap=True)
            raise typer.Exit(code=1) from None
    console.print(response.message)
    raise typer.Exit(code=0 if response.success else 1)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
