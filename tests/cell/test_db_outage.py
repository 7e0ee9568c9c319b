"""`db_outage.OutageGuard` (issue 16) without a database server: which errors are waited out, the lines
it says, the fault past the tolerance; the designer's registration repeated after a lost commit; the
detector's model lookup with nothing cached."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from bladecell_ros.services.db_outage import WAITING, DatabaseOutageError, OutageGuard, is_outage
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from database.errors import ConflictError, DatabaseUnavailableError, InvalidInputError
from platform_control.cycle.retry import RetryCancelled

FAST = {"initial_s": 0.001, "max_delay_s": 0.004}


def _lost_connection() -> OperationalError:
    return OperationalError(
        "SELECT 1", {}, ConnectionResetError("server closed the connection\nunexpectedly")
    )


def test_only_connection_level_errors_count_as_an_outage() -> None:
    assert is_outage(_lost_connection())
    assert is_outage(DatabaseUnavailableError("database unavailable, nothing was written"))
    assert is_outage(PoolTimeoutError("QueuePool limit of size 5 overflow 5 reached"))
    assert is_outage(OperationalError("BEGIN", {}, Exception("database is locked")))  # SQLite's write lock
    assert not is_outage(IntegrityError("INSERT", {}, Exception("duplicate key value")))
    assert not is_outage(ProgrammingError("SELECT", {}, Exception("column x does not exist")))
    assert not is_outage(OperationalError("SELECT", {}, Exception("no such table: models")))  # set-up error
    assert not is_outage(InvalidInputError("bbox", "outside the frame"))
    assert not is_outage(ValueError("bad record"))


def test_an_outage_is_waited_out_with_one_line_per_attempt_and_one_when_back() -> None:
    calls, lines = [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise _lost_connection()
        return "deployed-1"

    assert OutageGuard(30.0, **FAST).call("looking up", flaky, notify=lines.append) == "deployed-1"
    assert len(calls) == 4 and len(lines) == 4
    assert all(line.startswith(WAITING) and "\n" not in line for line in lines[:3])
    assert "while looking up" in lines[0] and "ConnectionResetError" in lines[0]
    assert lines[3].startswith("records database back after")


@pytest.mark.parametrize(
    "error",
    [
        IntegrityError("INSERT", {}, Exception("duplicate key")),
        ProgrammingError("SELECT", {}, Exception("syntax error")),
        ConflictError("model version 'v' is already registered"),
    ],
)
def test_errors_that_are_not_an_outage_propagate_at_the_first_attempt(error: Exception) -> None:
    calls = []

    def fails() -> None:
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        OutageGuard(30.0, **FAST).call("recording", fails)
    assert calls == [1]


def test_past_the_tolerance_the_call_fails_with_one_line_naming_the_database_and_what_to_do() -> None:
    def down() -> None:
        raise _lost_connection()

    with pytest.raises(DatabaseOutageError) as caught:
        OutageGuard(0.05, **FAST).call("recording cycle c1", down)
    message = str(caught.value)
    assert message.startswith("records database unreachable for") and "\n" not in message
    assert "while recording cycle c1" in message and "db_outage_tolerance_s = 0.05 s" in message
    assert "resume" in message and "BLADECELL_DATABASE_URL" in message
    with pytest.raises(DatabaseOutageError, match="tolerance db_outage_tolerance_s = 0 s"):
        OutageGuard(0.0).call("recording", down)  # 0: no waiting, the same clear fault


def test_a_cancelled_cycle_stops_waiting() -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(RetryCancelled):
        OutageGuard(30.0, **FAST).call(
            "recording", lambda: (_ for _ in ()).throw(_lost_connection()), cancel=cancel
        )
    with pytest.raises(ValueError, match="db_outage_tolerance_s"):
        OutageGuard(-1.0)


class LostAckRegistry:
    """A registry whose first registration commits and then loses the connection (the answer never
    arrives), as a server dropping between COMMIT and its reply."""

    def __init__(self, real) -> None:
        self.real, self.register_calls, self.deploy_calls = real, 0, 0

    def register_candidate(self, candidate):
        self.register_calls += 1
        done = self.real.register_candidate(candidate)
        if self.register_calls == 1:
            raise DatabaseUnavailableError("database unavailable, nothing was written: connection reset")
        return done

    def deploy(self, version):
        self.deploy_calls += 1
        return self.real.deploy(version)

    def get(self, version):
        return self.real.get(version)


def test_registration_repeated_after_a_lost_commit_finds_its_own_model_instead_of_a_conflict(
    home: Path,
) -> None:
    from bladecell_ros.services.designer import ModelDesigner
    from local_cell import fake_design

    from database.services import ModelRegistry

    registry = LostAckRegistry(ModelRegistry())
    dataset = home / "datasets" / "d1"
    dataset.mkdir(parents=True)
    (dataset / "dataset.yaml").write_text("name: d1\n")
    lines: list[str] = []
    designer = ModelDesigner(home, registry, design_fn=fake_design, outage=OutageGuard(30.0, **FAST))
    outcome = designer.run("FAM", dataset, progress=lambda stage, f, o, message: lines.append(message))
    assert registry.register_calls == 2 and registry.deploy_calls == 1
    models = registry.real.list("FAM")
    assert [m.version for m in models] == [outcome.version] and models[0].status.value == "deployed"
    assert any(line.startswith(WAITING) and "registering" in line for line in lines)


def test_the_detector_waits_for_the_registry_only_when_it_has_no_model_loaded(tmp_path: Path) -> None:
    from bladecell_ros.services.detection import CaptureDetector, ModelRef

    answers: list[object] = [_lost_connection(), _lost_connection(), ModelRef("v1", tmp_path)]
    calls = []

    def resolve(family: str, version: str | None) -> ModelRef:
        calls.append(version)
        answer = answers.pop(0) if answers else _lost_connection()
        if isinstance(answer, Exception):
            raise answer
        return answer

    detector = CaptureDetector(
        None,
        resolve,
        lambda path: "predictor",
        None,
        None,
        outage=OutageGuard(30.0, **FAST),  # type: ignore[arg-type]
    )
    assert detector.model("FAM", None) == ("v1", "predictor") and len(calls) == 3
    # loaded once: a later outage falls back on it at once, without waiting
    assert detector.model("FAM", None) == ("v1", "predictor") and len(calls) == 4


class DownRegistry:
    """A registry that is unreachable while ``down`` (every call raises what `unit_of_work` raises)."""

    def __init__(self, real) -> None:
        self.real, self.down = real, True

    def __getattr__(self, name: str):
        method = getattr(self.real, name)

        def call(*args, **kwargs):
            if self.down:
                raise DatabaseUnavailableError("database unavailable, nothing was written: refused")
            return method(*args, **kwargs)

        return call


def test_a_model_whose_registration_failed_is_registered_by_the_next_design_of_the_same_data(
    home: Path,
) -> None:
    from bladecell_ros.services.designer import UNREGISTERED, ModelDesigner
    from local_cell import fake_design

    from database.services import ModelRegistry

    designs = []

    def counted(*args, **kwargs):
        designs.append(1)
        return fake_design(*args, **kwargs)

    registry = DownRegistry(ModelRegistry())
    dataset = home / "datasets" / "d1"
    dataset.mkdir(parents=True)
    (dataset / "dataset.yaml").write_text("name: d1\n")
    (dataset / "train.txt").write_text("c1_v000\n")
    designer = ModelDesigner(home, registry, design_fn=counted, outage=OutageGuard(0.05, **FAST))
    with pytest.raises(DatabaseOutageError, match="while registering"):
        designer.run("FAM", dataset)
    assert len(designs) == 1 and len(list(home.glob(f"models/FAM/*/{UNREGISTERED}"))) == 1
    registry.down = False
    again = home / "datasets" / "d2"  # the resumed cycle exports the same captures again
    again.mkdir()
    for name in ("dataset.yaml", "train.txt"):
        (again / name).write_bytes((dataset / name).read_bytes())
    outcome = designer.run("FAM", again)
    assert len(designs) == 1 and outcome.deployed  # not designed again
    assert [m.version for m in registry.real.list("FAM")] == [outcome.version]
    assert not list(home.glob(f"models/FAM/*/{UNREGISTERED}"))
    (again / "train.txt").write_text("c1_v000\nc2_v000\n")  # new captures: a new design
    designer.run("FAM", again)
    assert len(designs) == 2
