"""Shared fixtures: ROS 2 child processes with discovery waits, a fresh PostgreSQL database, and
paths to the real datasets.

ROS settings are fixed here, before anything imports rclpy: discovery stays on localhost and each
test process gets its own ROS_DOMAIN_ID so parallel runs (xdist workers, CI beside a developer) never
see each other's nodes.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from exit_guard import pytest_sessionfinish, pytest_unconfigure  # noqa: F401  (hooks: leave once reported)

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
if "BLADECELL_TEST_ROS_DOMAIN_ID" not in os.environ:
    # 1..100: valid on Linux for any participant count; xdist workers each derive their own.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    os.environ["BLADECELL_TEST_ROS_DOMAIN_ID"] = str(1 + (os.getpid() + int(worker or 0) * 7) % 100)
os.environ["ROS_DOMAIN_ID"] = os.environ["BLADECELL_TEST_ROS_DOMAIN_ID"]
# Tests never touch a user's real data directory or database.
os.environ["BLADECELL_HOME"] = tempfile.mkdtemp(prefix="bladecell-test-home-")
os.environ.pop("BLADECELL_DATABASE_URL", None)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
PG_ADMIN_URL = os.environ.get("BLADECELL_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def mt320_dir() -> Path:
    """The real magnetic-tile dataset (../shared/datasets/mt320); skipped only if absent."""
    path = SHARED / "datasets" / "mt320"
    if not (path / "images").is_dir():
        pytest.skip(f"real dataset not found at {path}")
    return path


@pytest.fixture
def ros_domain_id() -> int:
    return int(os.environ["ROS_DOMAIN_ID"])


@pytest.fixture
def ros_processes(ros_domain_id: int, tmp_path: Path) -> Iterator:
    """Factory for ROS 2 child processes; all are stopped at teardown."""
    from ros_support import RosProcesses

    procs = RosProcesses(ros_domain_id, tmp_path)
    yield procs
    procs.stop_all()


@pytest.fixture
def ros_probe() -> Iterator:
    """An rclpy node + executor in this test process, for discovery waits and talking to child nodes."""
    pytest.importorskip("rclpy", reason="ROS 2 wheels not installed (run scripts/setup.sh)")
    from ros_support import RosProbe

    probe = RosProbe(f"test_probe_{uuid.uuid4().hex[:8]}")
    try:
        yield probe
    finally:
        probe.close()


def _pg_admin_connection():
    psycopg = pytest.importorskip("psycopg")
    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server answers at {PG_ADMIN_URL}: {exc}")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a brand-new, empty PostgreSQL database, dropped after the test."""
    admin = _pg_admin_connection()
    name = f"bladecell_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        try:
            yield f"{base}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
