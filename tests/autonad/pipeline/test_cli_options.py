"""The `autonad` command's shared options: declared once, present on every command, resolved in order."""

from __future__ import annotations

import typer.main

from autonad_core.cli import ConfigArgs, app

SHARED = {"preset", "config", "set_", "device"}


def test_every_command_gets_the_shared_options_once() -> None:
    group = typer.main.get_group(app)
    seen = {}
    for name, command in group.commands.items():
        params = [p.name for p in command.params]
        assert len(params) == len(set(params)), name
        seen[name] = SHARED & set(params)
    assert set(seen) == {"design", "train-supernet", "search", "retrain", "evaluate", "predict", "export"}
    assert all(found == SHARED for name, found in seen.items() if name != "export")
    assert seen["export"] == SHARED - {"device"}  # export runs on CPU only


def test_config_args_turn_device_and_extras_into_overrides() -> None:
    args = ConfigArgs(preset="cpu-small", sets=("search.population=20",), device="cpu")
    assert args.items(target_device="cpu", unused=None) == [
        "search.population=20",
        "device=cpu",
        "target_device=cpu",
    ]
    cfg = args.load()
    assert cfg.search.population == 20
    assert cfg.device == "cpu"
