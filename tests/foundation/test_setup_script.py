"""scripts/setup.sh refuses bad environments with a clear message and never leaves a venv that looks
complete; on a set-up machine a second run is a fast no-op."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

STAMP = ".bladecell-setup-complete"


def _run(
    repo_root: Path, env_update: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update(env_update)
    return subprocess.run(
        ["bash", str(repo_root / "scripts" / "setup.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def test_python_older_than_311_is_refused(repo_root: Path, tmp_path: Path) -> None:
    fake = tmp_path / "python3.10"
    fake.write_text("#!/bin/sh\ncase \"$1\" in -V) echo 'Python 3.10.12';; *) exit 1;; esac\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    venv = tmp_path / "venv"
    result = _run(repo_root, {"PYTHON": str(fake), "BLADECELL_VENV": str(venv)})
    assert result.returncode != 0
    assert "Python 3.11+ is required" in result.stderr
    assert "Python 3.10.12" in result.stderr
    assert not venv.exists()


def test_full_disk_is_refused_before_anything_is_written(repo_root: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    result = _run(repo_root, {"BLADECELL_MIN_FREE_MB": str(10**12), "BLADECELL_VENV": str(venv)})
    assert result.returncode != 0
    assert "MB free on the disk" in result.stderr
    assert not venv.exists()


def test_unreachable_registry_leaves_no_venv_that_looks_complete(repo_root: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    unreachable = {
        "BLADECELL_VENV": str(venv),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_EXTRA_INDEX_URL": "",
        "PIP_FIND_LINKS": "",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "3",
    }
    result = _run(repo_root, unreachable)
    assert result.returncode != 0
    assert "cannot download from the Python package registry" in result.stderr
    assert "marked incomplete" in result.stderr
    assert not (venv / STAMP).exists()


def test_check_mode_reports_a_missing_venv_and_changes_nothing(repo_root: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    result = _run(repo_root, {"BLADECELL_VENV": str(venv)}, "--check")
    assert result.returncode == 1
    assert "missing, incomplete or outdated" in result.stdout
    assert not venv.exists()


def test_second_run_on_a_complete_venv_is_a_fast_no_op(repo_root: Path) -> None:
    venv = repo_root / ".venv"
    # Only when the venv is current: otherwise a real run would rebuild the venv these tests run in.
    if _run(repo_root, {}, "--check").returncode != 0:
        pytest.skip("the project venv is not current with pyproject.toml (run scripts/setup.sh)")
    before = (venv / STAMP).stat().st_mtime_ns
    started = time.monotonic()
    result = _run(repo_root, {})
    assert result.returncode == 0, result.stderr
    assert "already set up" in result.stdout
    assert time.monotonic() - started < 30
    assert (venv / STAMP).stat().st_mtime_ns == before
