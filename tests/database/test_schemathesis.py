"""Schemathesis against the live OpenAPI schema (every operation, bounded examples, every check).

The schemathesis pytest plugin is disabled in this project (it crashes pytest at session end on this
Python), so its CLI is run against a uvicorn server started by the `live_server` fixture.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from database.services.demo import seed_demo

CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = {"sqlite": 12, "postgres": 8}  # per operation; keeps both runs inside the test budget


@pytest.mark.slow
def test_api_conforms_to_its_openapi_schema(
    live_server, client, users, factory, store, db_url, tmp_path
) -> None:
    seed_demo(factory, store, blades_per_family=2, cycles_per_blade=1, viewpoints=1, image_size=48, seed=1)
    operations = sum(len(ops) for ops in client.get("/openapi.json").json()["paths"].values())
    backend = "postgres" if db_url.startswith("postgresql") else "sqlite"
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(CONFIG),
        "run",
        f"{live_server}/openapi.json",
        "--header",
        f"X-API-Key: {users['admin'].key}",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES[backend]),
        "--seed",
        "20261125",
        "--no-shrink",
        "--workers",
        "1",
        "--warnings",
        "off",
        "--request-timeout",
        "20",
        "--report",
        "junit",
        "--report-junit-path",
        str(tmp_path / "junit.xml"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    cases = suite.findall(".//testcase")
    assert len(cases) >= operations  # every documented operation was exercised
    assert not any(case.find("failure") is not None or case.find("error") is not None for case in cases)
    assert "No issues found" in output


def test_each_relaxation_names_the_operations_it_means() -> None:
    """schemathesis ORs a block's include-path and include-method filters: a block meaning "POST on this
    path" written that way relaxed its checks for every POST. Such a block must use include-name."""
    import tomllib

    blocks = tomllib.loads(CONFIG.read_text())["operations"]
    for block in blocks:
        filters = {key for key in block if key.startswith("include-")}
        assert len(filters) == 1, f"{sorted(filters)}: one include filter per block (they are OR-ed)"
    assert {"include-name": "POST /api/v1/annotations"}.items() <= next(
        b for b in blocks if "annotations" in str(b.get("include-name", ""))
    ).items()
