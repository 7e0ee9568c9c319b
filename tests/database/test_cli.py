"""`bladecell db ...` (database.cli.app): migrations, users, keys and demo data from the command line."""

from __future__ import annotations

import re

import sqlalchemy as sa
from typer.testing import CliRunner

from database import migrate
from database.cli import app
from database.engine import create_db_engine
from database.services.accounts import authenticate


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result


def test_cli_migrates_creates_users_keys_and_demo_data(db_url, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BLADECELL_HOME", str(tmp_path))
    assert run("upgrade", "--url", db_url).exit_code == 0
    assert migrate.current_revision(db_url) == migrate.head_revision()
    shown = run("current", "--url", db_url)
    assert f"database: {migrate.head_revision()}" in shown.output

    created = run("create-user", "qe.lead", "--role", "engineer", "--full-name", "Q. Lead", "--url", db_url)
    assert created.exit_code == 0 and "qe.lead (engineer)" in created.output
    duplicate = run("create-user", "qe.lead", "--role", "admin", "--url", db_url)
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    bad_role = run("create-user", "x1", "--role", "boss", "--url", db_url)
    assert bad_role.exit_code == 2

    issued = run("create-key", "qe.lead", "--name", "laptop", "--url", db_url)
    assert issued.exit_code == 0
    key = re.search(r"bc_[0-9a-f]{12}_\S+", issued.output).group(0)
    engine = create_db_engine(db_url)
    try:
        with sa.orm.Session(engine) as session:
            assert authenticate(session, key).username == "qe.lead"
    finally:
        engine.dispose()
    assert run("create-key", "ghost", "--url", db_url).exit_code == 1

    seeded = run("seed-demo", "--blades-per-family", "1", "--cycles-per-blade", "1", "--url", db_url)
    assert seeded.exit_code == 0, seeded.output
    assert "2 part families, 2 blades, 2 cycles" in seeded.output
    assert list((tmp_path / "files").rglob("*.png"))  # demo images really exist under BLADECELL_HOME

    stray = tmp_path / "files" / "00" / "00" / ("0" * 64 + ".png")
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"left by a failed import")
    images = len(list((tmp_path / "files").rglob("*.png")))
    dry = run("gc-files", "--grace-hours", "0", "--dry-run", "--url", db_url)
    assert dry.exit_code == 0 and "would remove 1 unreferenced files" in dry.output and stray.exists()
    swept = run("gc-files", "--grace-hours", "0", "--url", db_url)
    assert swept.exit_code == 0 and f"removed 1 unreferenced files; {images - 1} kept" in swept.output
    assert not stray.exists() and len(list((tmp_path / "files").rglob("*.png"))) == images - 1

    down = run("downgrade", "base", "--url", db_url)
    assert down.exit_code == 0 and migrate.current_revision(db_url) is None


def test_cli_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in ("upgrade", "downgrade", "serve", "create-user", "create-key", "seed-demo", "gc-files"):
        assert command in result.output


def test_commands_against_an_unreachable_database_print_one_clear_line(tmp_path) -> None:
    """A real process (what a technician sees in the terminal): one line naming the database, no
    traceback, exit status 1; the password in the URL is not printed."""
    import os
    import subprocess
    import sys

    dead = "postgresql+psycopg://bladecell:secret@127.0.0.1:1/records"
    env = {**os.environ, "BLADECELL_HOME": str(tmp_path)}
    for args in (["serve", "--port", "0"], ["serve", "--no-migrate"], ["upgrade"], ["current"]):
        result = subprocess.run(
            [sys.executable, "-m", "database.cli", *args, "--url", dead],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        output = (result.stdout + result.stderr).strip()
        assert result.returncode == 1, (args, output)
        assert "Traceback" not in output and len(output.splitlines()) == 1, (args, output)
        assert output.startswith(
            "error: cannot reach the database postgresql+psycopg://bladecell:***@127.0.0.1:1/records"
        )
        assert "secret" not in output
