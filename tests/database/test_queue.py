"""The cycle request queue the coordinator polls: FIFO claims, exactly-once under concurrency, checked
transitions, and only the claiming cell may move a request on."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from database.errors import ConflictError, InvalidTransitionError, NotFoundError
from database.orm import Blade, CycleRequest, CycleState, RequestState, utcnow
from database.services import CycleQueue, CycleRecorder


def test_submit_registers_blade_and_claims_are_fifo(factory) -> None:
    q = CycleQueue(factory)
    first = q.submit("SN-1", "HPT1")
    second = q.submit("SN-2", "HPT1", options={"force_redesign": True})
    assert first.state == RequestState.QUEUED and first.part_family == "HPT1"
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Blade)) == 2

    claimed = q.claim_next("cell-1")
    assert claimed is not None and claimed.request_uuid == first.request_uuid
    assert claimed.state == RequestState.CLAIMED and claimed.claimed_by == "cell-1"
    assert q.claim_next("cell-1").request_uuid == second.request_uuid
    assert q.claim_next("cell-1") is None


def test_requests_for_a_named_cell_go_only_to_that_cell(factory) -> None:
    q = CycleQueue(factory)
    q.submit("SN-1", "HPT1", cell="cell-2")
    assert q.claim_next("cell-1") is None
    claimed = q.claim_next("cell-2")
    assert claimed is not None and claimed.blade_serial == "SN-1"


def test_full_lifecycle_and_illegal_transitions(factory) -> None:
    q = CycleQueue(factory)
    request = q.submit("SN-1", "HPT1")
    with pytest.raises(InvalidTransitionError, match="cannot go from queued to running"):
        q.mark_running(request.request_uuid, "cell-1")
    q.claim_next("cell-1")
    with pytest.raises(ConflictError, match="claimed by cell 'cell-1', not 'cell-9'"):
        q.mark_running(request.request_uuid, "cell-9")
    running = q.mark_running(request.request_uuid, "cell-1")
    assert running.state == RequestState.RUNNING and running.started_at is not None
    assert q.report_progress(request.request_uuid, "cell-1", "SCANNING 3/40").progress == "SCANNING 3/40"
    done = q.mark_done(request.request_uuid, "cell-1")
    assert done.state == RequestState.DONE and done.finished_at >= done.started_at
    with pytest.raises(InvalidTransitionError):
        q.mark_failed(request.request_uuid, "cell-1", "late failure")
    assert q.status(request.request_uuid).state == RequestState.DONE


def test_failed_and_cancelled_and_released(factory) -> None:
    q = CycleQueue(factory)
    a, b, c = (q.submit(f"SN-{i}", "HPT1") for i in range(3))
    q.claim_next("cell-1")
    failed = q.mark_failed(a.request_uuid, "cell-1", "imaging node died")
    assert failed.state == RequestState.FAILED and failed.error == "imaging node died"
    assert q.cancel(c.request_uuid).state == RequestState.CANCELLED
    q.claim_next("cell-1")  # b
    released = q.release(b.request_uuid, "cell-1")
    assert released.state == RequestState.QUEUED and released.claimed_by is None
    assert q.claim_next("cell-2").request_uuid == b.request_uuid


def test_one_active_request_per_blade_and_unknown_ids(factory) -> None:
    q = CycleQueue(factory)
    q.submit("SN-1", "HPT1")
    with pytest.raises(ConflictError, match="already has an active cycle request"):
        q.submit("SN-1", "HPT1")
    with pytest.raises(ConflictError, match="registered as part family 'HPT1', not 'LPT2'"):
        q.submit("SN-1", "LPT2")
    with pytest.raises(NotFoundError):
        q.status(uuid.uuid4())
    with pytest.raises(NotFoundError):
        q.submit("SN-9", "HPT1", requested_by="nobody")


def test_requeue_stale_claims(factory) -> None:
    q = CycleQueue(factory)
    request = q.submit("SN-1", "HPT1")
    q.claim_next("cell-1")
    with factory.begin() as session:
        session.execute(update(CycleRequest).values(claimed_at=utcnow() - timedelta(hours=1)))
    assert q.requeue_stale(timedelta(minutes=30)) == 1
    assert q.status(request.request_uuid).state == RequestState.QUEUED
    assert q.requeue_stale(timedelta(minutes=30)) == 0


def test_a_claim_that_never_started_is_taken_by_the_next_poll(factory) -> None:
    """cell-1 claims, then dies before marking the request running; after `stale_claim_after` the next
    poll of any cell (here cell-2) gets it, and cell-1 can no longer move it on."""
    q = CycleQueue(factory, stale_claim_after=timedelta(minutes=5))
    request = q.submit("SN-1", "HPT1")
    assert q.claim_next("cell-1").claimed_by == "cell-1"
    assert q.claim_next("cell-2") is None  # a fresh claim is not stale
    with factory.begin() as session:
        session.execute(update(CycleRequest).values(claimed_at=utcnow() - timedelta(minutes=6)))
    taken = q.claim_next("cell-2")
    assert taken is not None and taken.request_uuid == request.request_uuid and taken.claimed_by == "cell-2"
    with pytest.raises(ConflictError):
        q.mark_running(request.request_uuid, "cell-1")
    assert q.mark_running(request.request_uuid, "cell-2").state == RequestState.RUNNING
    # a running request is never requeued, however old its claim
    with factory.begin() as session:
        session.execute(update(CycleRequest).values(claimed_at=utcnow() - timedelta(hours=2)))
    assert q.claim_next("cell-1") is None
    assert q.status(request.request_uuid).state == RequestState.RUNNING


def test_concurrent_pollers_claim_each_request_exactly_once(factory) -> None:
    """Four cells poll at once; 12 requests are each claimed by exactly one of them."""
    q = CycleQueue(factory)
    submitted = {q.submit(f"SN-{i}", "HPT1").request_uuid for i in range(12)}
    claims: dict[str, list[uuid.UUID]] = {f"cell-{i}": [] for i in range(4)}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def poll(cell: str) -> None:
        try:
            barrier.wait()
            while (claimed := q.claim_next(cell)) is not None:
                claims[cell].append(claimed.request_uuid)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=poll, args=(cell,)) for cell in claims]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    all_claims = [u for got in claims.values() for u in got]
    assert sorted(all_claims) == sorted(submitted)  # every request once, none twice
    with factory() as session:
        states = session.execute(select(CycleRequest.state, CycleRequest.claimed_by)).all()
    assert all(state == RequestState.CLAIMED for state, _ in states)
    by_cell = {}
    for _, cell in states:
        by_cell[cell] = by_cell.get(cell, 0) + 1
    assert by_cell == {cell: len(got) for cell, got in claims.items() if got}


def test_recording_a_cycle_completes_its_request(factory, builder) -> None:
    q = CycleQueue(factory)
    request = q.submit("SN-1", "HPT1")
    q.claim_next("cell-1")
    q.mark_running(request.request_uuid, "cell-1")
    record = builder.record("SN-1", "HPT1", request_uuid=request.request_uuid, defects=[{}])
    result = CycleRecorder(factory).record(record)
    status = q.status(request.request_uuid)
    assert status.state == RequestState.DONE
    assert status.cycle_id == result.cycle_id and status.verdict == "fail" and status.defect_count == 1


def test_faulted_cycle_then_resumed_completion_answer_one_request(factory, builder) -> None:
    q, recorder = CycleQueue(factory), CycleRecorder(factory)
    request = q.submit("SN-1", "HPT1")
    q.claim_next("cell-1")
    q.mark_running(request.request_uuid, "cell-1")
    faulted = builder.record("SN-1", "HPT1", request_uuid=request.request_uuid, state=CycleState.FAULTED)
    recorder.record(faulted)
    status = q.status(request.request_uuid)
    assert status.state == RequestState.FAILED and status.error == "cycle faulted"
    resumed = recorder.record(builder.record("SN-1", "HPT1", request_uuid=request.request_uuid, defects=[{}]))
    status = q.status(request.request_uuid)
    assert status.state == RequestState.DONE and status.error is None
    assert status.cycle_id == resumed.cycle_id and status.verdict == "fail"  # the latest cycle is shown
