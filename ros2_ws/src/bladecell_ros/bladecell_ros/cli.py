"""The `bladecell` command: the cell's one entry point for technicians and test engineers.

Sub-commands are thin: each forwards to a library (`platform_control`, `database`, `autonad_core`)
or to the ROS 2 graph in this package.
"""

from __future__ import annotations

import importlib
import os
import sys
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


@app.callback()
def _root() -> None:
    """BladeCell: robotic aero-engine blade inspection with automated defect-network design.

    Data and records live under $BLADECELL_HOME (default ~/.local/share/bladecell); the database is
    the SQLite file there unless BLADECELL_DATABASE_URL points elsewhere (e.g. PostgreSQL).
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
            "ROS_AUTOMATIC_DISCOVERY_RANGE",
            lambda: os.environ.get(
                "ROS_AUTOMATIC_DISCOVERY_RANGE", "unset (set LOCALHOST on shared networks)"
            ),
        ),
        _check("BLADECELL_HOME", lambda: f"{home} ({'exists' if home.exists() else 'created on first run'})"),
    ]
    table = Table("check", "ok", "detail")
    for name, ok, detail in checks:
        table.add_row(name, "[green]yes[/]" if ok else "[red]no[/]", detail)
    console.print(table)
    if not all(ok for _, ok, _ in checks):
        raise typer.Exit(code=1)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
