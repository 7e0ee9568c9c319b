"""autonad_core's layout after the move into models/, search/, training/ and deploy/ (issue 13): no
module left at a pre-move path. Import cycles are checked for every library in
tests/foundation/test_import_cycles.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

MOVED = {
    **{m: "models" for m in ("arch", "search_space", "space_config", "blocks", "supernet", "mfam")},
    **{m: "models" for m in ("subnet", "subnet_mfam", "complexity")},
    "evolution_ops": "search/operators",
    "retrain": "training",
    **{m: "deploy" for m in ("export", "predict", "inference")},
}


@pytest.mark.parametrize(("old", "home"), sorted(MOVED.items()))
def test_no_module_left_at_a_pre_move_path(old: str, home: str, repo_root: Path) -> None:
    """No shim stays behind: the old file is gone and nothing in the package names the old path."""
    package = repo_root / "autonad_core"
    assert not (package / f"{old}.py").exists()
    assert (package / home / f"{old}.py").exists() or (package / f"{home}.py").exists()
    stale = [
        str(path.relative_to(repo_root))
        for path in package.rglob("*.py")
        if f"autonad_core.{old} " in path.read_text() or f"autonad_core.{old}\n" in path.read_text()
    ]
    assert stale == []
