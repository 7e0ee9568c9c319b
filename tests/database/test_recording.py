"""Recording a whole cycle in one transaction, idempotent on retry, nothing half-written on faults."""

from __future__ import annotations

import threading
import uuid

import pytest
from db_helpers import connection_dies_on
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from database.errors import ConflictError, DatabaseUnavailableError, InvalidInputError
from database.orm import Blade, Capture, CaptureFrame, Defect, InspectionCycle, PartFamily
from database.services import CycleRecorder, ModelCandidate, ModelRegistry

TABLES = (PartFamily, Blade, InspectionCycle, Capture, CaptureFrame, Defect)


def counts(factory) -> dict[str, int]:
    with factory() as session:
        return {t.__tablename__: session.scalar(select(func.count()).select_from(t)) for t in TABLES}


EMPTY = {t.__tablename__: 0 for t in TABLES}


def test_record_writes_cycle_captures_frames_and_defects(factory, builder) -> None:
    record = builder.record(
        "SN-7",
        "HPT1",
        viewpoints=3,
        defects=[
            {},
            {"viewpoint_index": 2, "defect_class": "pit", "area_mm2": 0.2, "location_mm": (1.0, 2.0, 3.0)},
        ],
    )
    result = CycleRecorder(factory).record(record)
    assert result.created and result.capture_count == 3 and result.defect_count == 2
    assert counts(factory) == {
        "part_families": 1,
        "blades": 1,
        "inspection_cycles": 1,
        "captures": 3,
        "capture_frames": 6,
        "defects": 2,
    }
    with factory() as session:
        cycle = session.get(InspectionCycle, result.cycle_id)
        assert cycle.cycle_uuid == record.cycle_uuid and cycle.duration_s == pytest.approx(90.0)
        assert cycle.started_at == record.started_at  # timezone-aware round trip on both backends
        pit = session.scalar(select(Defect).where(Defect.defect_class == "pit"))
        capture = session.get(Capture, pit.capture_id)
        assert capture.viewpoint_index == 2
        assert (pit.location_x_mm, pit.location_y_mm, pit.location_z_mm) == (1.0, 2.0, 3.0)
        assert (
            pit.blade_id == cycle.blade_id and pit.detected_at == record.started_at and pit.cell == "cell-1"
        )


def test_retry_of_the_same_cycle_writes_nothing(factory, builder) -> None:
    recorder = CycleRecorder(factory)
    record = builder.record(defects=[{}, {}])
    first = recorder.record(record)
    before = counts(factory)
    second = recorder.record(record)
    assert first.created and not second.created
    assert second.cycle_id == first.cycle_id and second.defect_count == 2
    assert counts(factory) == before


def test_a_later_attempt_of_the_same_cycle_is_a_retry_and_keeps_the_first_timings(factory, builder) -> None:
    """The coordinator died after the recorder committed; its resume records the cycle again, a minute
    later with longer stage timings: nothing new is written, no conflict."""
    from datetime import timedelta

    recorder = CycleRecorder(factory)
    record = builder.record(defects=[{}, {}])
    first = recorder.record(record)
    before = counts(factory)
    later = record.model_copy(
        update={
            "finished_at": record.finished_at + timedelta(seconds=60),
            "stage_timings": {**record.stage_timings, "recording": 61.0},
        }
    )
    again = recorder.record(later)
    assert not again.created and again.cycle_id == first.cycle_id
    assert counts(factory) == before
    with factory() as session:
        cycle = session.get(InspectionCycle, first.cycle_id)
        assert cycle.finished_at == record.finished_at  # the first attempt's


def test_same_uuid_with_different_content_is_a_conflict(factory, builder) -> None:
    recorder = CycleRecorder(factory)
    record = builder.record(defects=[{}])
    recorder.record(record)
    changed = record.model_copy(update={"defects": ()})
    with pytest.raises(ConflictError, match="already recorded with different content"):
        recorder.record(changed)


def test_lost_acknowledgement_then_retry_does_not_duplicate(factory, builder, monkeypatch) -> None:
    """The COMMIT lands but the caller hears an error (connection lost after COMMIT); it retries."""
    recorder = CycleRecorder(factory)
    record = builder.record(defects=[{}, {}, {}])
    original_commit = Session.commit

    def commit_then_lose_the_answer(session: Session) -> None:
        original_commit(session)
        monkeypatch.setattr(Session, "commit", original_commit)
        raise OperationalError("COMMIT", {}, ConnectionResetError("connection reset by peer"))

    monkeypatch.setattr(Session, "commit", commit_then_lose_the_answer)
    with pytest.raises(DatabaseUnavailableError):
        recorder.record(record)
    assert counts(factory)["inspection_cycles"] == 1  # it did land
    retry = recorder.record(record)
    assert not retry.created
    assert counts(factory)["inspection_cycles"] == 1 and counts(factory)["defects"] == 3


def test_connection_killed_mid_transaction_leaves_nothing_then_retry_records_once(
    engine, factory, builder
) -> None:
    recorder = CycleRecorder(factory)
    record = builder.record("SN-9", "NEWFAM", defects=[{}, {}])
    with (
        connection_dies_on(engine, "INSERT INTO defects") as fired,
        pytest.raises(DatabaseUnavailableError, match="nothing was written"),
    ):
        recorder.record(record)
    assert fired, "the fault was never injected"
    assert counts(factory) == EMPTY  # family, blade, cycle, captures all rolled back with the defects
    assert recorder.record(record).created
    assert not recorder.record(record).created
    assert counts(factory)["defects"] == 2 and counts(factory)["inspection_cycles"] == 1


def test_concurrent_duplicate_records_create_one_cycle(factory, builder) -> None:
    recorder = CycleRecorder(factory)
    record = builder.record(defects=[{}])
    results, errors = [], []
    barrier = threading.Barrier(4)

    def run() -> None:
        try:
            barrier.wait()
            results.append(recorder.record(record))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(r.created for r in results) == [False, False, False, True]
    assert len({r.cycle_id for r in results}) == 1
    assert counts(factory)["inspection_cycles"] == 1 and counts(factory)["defects"] == 1


def test_invalid_records_are_refused_before_any_write(factory, builder) -> None:
    record = builder.record(defects=[{}])
    with pytest.raises(ValidationError, match="viewpoint 5, which has no capture"):
        record.model_validate(
            {**record.model_dump(), "defects": [{**record.defects[0].model_dump(), "viewpoint_index": 5}]}
        )
    with pytest.raises(ValidationError, match="lies outside the 64x64 capture"):
        record.model_validate(
            {**record.model_dump(), "defects": [{**record.defects[0].model_dump(), "bbox": (60, 60, 10, 10)}]}
        )
    with pytest.raises(ValidationError, match=r"finished_at .* is before started_at"):
        record.model_validate({**record.model_dump(), "finished_at": record.started_at.replace(year=2020)})
    with pytest.raises(ValidationError, match="defect_class"):
        record.model_validate(
            {**record.model_dump(), "defects": [{**record.defects[0].model_dump(), "defect_class": "Crack!"}]}
        )
    assert counts(factory) == EMPTY


def test_unknown_or_foreign_model_version_is_refused_with_nothing_written(factory, builder) -> None:
    recorder = CycleRecorder(factory)
    with pytest.raises(InvalidInputError, match="model 'nope' is not in the registry"):
        recorder.record(builder.record(model_version="nope", defects=[{}]))
    assert counts(factory) == EMPTY
    registry = ModelRegistry(factory)
    registry.register_candidate(
        ModelCandidate(version="lpt-v1", part_family="LPT2", architecture={}, weights_path="w")
    )
    with pytest.raises(InvalidInputError, match="is not a 'HPT1' model"):
        recorder.record(builder.record(family="HPT1", model_version="lpt-v1"))
    registry.register_candidate(
        ModelCandidate(version="hpt-v1", part_family="HPT1", architecture={}, weights_path="w")
    )
    result = recorder.record(builder.record(family="HPT1", model_version="hpt-v1", defects=[{}]))
    with factory() as session:
        assert (
            session.scalar(select(Defect.model_id)) == session.get(InspectionCycle, result.cycle_id).model_id
        )


def test_blade_serial_recorded_under_another_family_is_a_conflict(factory, builder) -> None:
    recorder = CycleRecorder(factory)
    recorder.record(builder.record("SN-1", "HPT1"))
    with pytest.raises(ConflictError, match="registered as part family 'HPT1', not 'LPT2'"):
        recorder.record(builder.record("SN-1", "LPT2", cycle_uuid=uuid.uuid4()))
    assert counts(factory)["inspection_cycles"] == 1
