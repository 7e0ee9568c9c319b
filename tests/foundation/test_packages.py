"""The distribution installs its packages and console scripts, and they say what they do."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGES = ["autonad_core", "platform_control", "database", "bladecell_ros"]


@pytest.mark.parametrize("name", PACKAGES)
def test_package_imports_with_version(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__version__ == "0.1.0"


@pytest.mark.parametrize("name", ["autonad_core", "platform_control", "database"])
def test_libraries_do_not_import_ros_or_each_other(name: str, repo_root: Path) -> None:
    """ARCHITECTURE.md: the three libraries never import each other or rclpy."""
    forbidden = {"rclpy", "bladecell_ros", "bladecell_interfaces", *(set(PACKAGES) - {name})}
    offenders = []
    for path in (repo_root / name).rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] in {"import", "from"}:
                top = words[1].split(".")[0]
                if top in forbidden:
                    offenders.append(f"{path.relative_to(repo_root)}: {line.strip()}")
    assert offenders == []


@pytest.mark.parametrize(("script", "expected"), [("bladecell", "blade inspection"), ("autonad", "AutoNAD")])
def test_console_script_help(script: str, expected: str) -> None:
    exe = Path(sys.executable).parent / script
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    assert "Usage" in result.stdout


def test_autonad_version() -> None:
    exe = Path(sys.executable).parent / "autonad"
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert result.stdout.strip() == "autonad 0.1.0"


def test_unknown_subcommand_fails_clearly() -> None:
    exe = Path(sys.executable).parent / "bladecell"
    result = subprocess.run([str(exe), "no-such-command"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "No such command" in result.stderr
