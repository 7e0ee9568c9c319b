"""Counts the ROS-free lines of the ROS package outside its services, bring-up and CLI (issue 13).

Why: the ROS package should hold adapters only; logic that never touches ROS belongs in a library
(platform_control) or in the package's `services/` folder. A file counts as ROS code when it imports
rclpy or a message package (`*_msgs`, `*_srvs`, `bladecell_interfaces`, `action_msgs`, ...).

    python scripts/count_ros_free_lines.py [--list]
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ros2_ws/src/bladecell_ros/bladecell_ros"
# the parts of the package allowed to be ROS-free: ROS-free services, bring-up and the CLI (the last
# four are their names before issue 13's layout, so the script measures an older tree the same way)
EXEMPT = ("services/", "bringup/", "cli.py", "bringup.py", "cell_session.py", "graph.py", "parent_watch.py")
ROS_ROOTS = {"rclpy", "bladecell_interfaces", "builtin_interfaces", "action_msgs", "unique_identifier_msgs"}


def imported_roots(source: str) -> set[str]:
    """Top-level package names a module imports (anywhere in the file, functions included)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def is_ros_code(source: str) -> bool:
    return any(r in ROS_ROOTS or r.endswith(("_msgs", "_srvs")) for r in imported_roots(source))


def ros_free_files(package: Path = PACKAGE) -> dict[str, int]:
    """Relative path -> line count of every ROS-free, non-exempt module of the package."""
    out: dict[str, int] = {}
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        if rel.startswith(EXEMPT) or (path.name == "__init__.py" and path.stat().st_size < 400):
            continue
        text = path.read_text()
        if not is_ros_code(text):
            out[rel] = len(text.splitlines())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the files counted")
    parser.add_argument("--package", type=Path, default=PACKAGE, help="the bladecell_ros package folder")
    args = parser.parse_args()
    files = ros_free_files(args.package)
    if args.list:
        for rel, n in files.items():
            print(f"{n:6d}  {rel}")
    print(f"ROS-free lines outside services/, bring-up and CLI: {sum(files.values())} in {len(files)} files")


if __name__ == "__main__":
    main()
