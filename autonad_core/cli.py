"""The `autonad` command: AutoNAD's verbs (design, train-supernet, search, retrain, evaluate, predict,
export) over the library. Sub-commands forward to library functions and hold no logic."""

from __future__ import annotations

import typer

from autonad_core import __version__

app = typer.Typer(
    name="autonad",
    help="AutoNAD: automated neural architecture design for pixel-level defect segmentation.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"autonad {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """AutoNAD command line."""


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
