"""The runner's one worker thread (`CycleRunner.submit`) and the database request queue on top of it
(`services.request_queue.QueuedRequests`): cycles run one after another on one thread, results and
errors come back through futures, a queued request that ends without a record is marked failed."""

from __future__ import annotations

import threading
import uuid
from types import SimpleNamespace

import pytest
from bladecell_ros.services.request_queue import QueuedRequests, job_of_request

from platform_control.cycle.runner import CycleOutcome, CycleRunner
from platform_control.cycle.services import CycleJob

WAIT_S = 10.0


def _outcome(job: CycleJob, state: str = "DONE", record_id: int | None = 7) -> CycleOutcome:
    return CycleOutcome(job.cycle_id, job, state, "pass", 0, record_id, "m-1", "ok", 0.1)


@pytest.fixture
def runner(tmp_path) -> CycleRunner:
    """A runner whose cycles are scripted: `run_new` records the thread and waits for `gate`."""
    runner = CycleRunner(services=None, context=SimpleNamespace(home=tmp_path), scan_axes=None)  # type: ignore[arg-type]
    runner.gate = threading.Event()  # type: ignore[attr-defined]
    runner.threads = []  # type: ignore[attr-defined]

    def run_new(job: CycleJob) -> CycleOutcome:
        runner.threads.append(threading.current_thread().name)  # type: ignore[attr-defined]
        assert runner.gate.wait(WAIT_S)  # type: ignore[attr-defined]
        if job.blade_serial == "BROKEN":
            raise RuntimeError("scan plan failed")
        return _outcome(job)

    runner.run_new = run_new  # type: ignore[method-assign]
    yield runner
    runner.gate.set()  # type: ignore[attr-defined]
    runner.close()


def test_cycles_run_one_after_another_on_one_worker_thread(runner) -> None:
    jobs = [CycleJob(f"c{i}", f"SN-{i}", "F") for i in range(3)]
    futures = [runner.submit(job) for job in jobs]
    assert runner.pending == 3
    runner.gate.set()
    outcomes = [f.result(WAIT_S) for f in futures]
    assert [o.cycle_id for o in outcomes] == ["c0", "c1", "c2"]
    assert runner.threads == ["cycle-worker"] * 3 and runner.pending == 0
    assert threading.active_count() < 10  # no thread per request


def test_an_error_before_or_in_the_cycle_is_the_futures_exception(runner) -> None:
    def prepare() -> None:
        raise RuntimeError("the e-stop is pressed")

    refused = runner.submit(CycleJob("c0", "SN-0", "F"), prepare=prepare)
    broken = runner.submit(CycleJob("c1", "BROKEN", "F"))
    runner.gate.set()
    with pytest.raises(RuntimeError, match="e-stop is pressed"):
        refused.result(WAIT_S)
    with pytest.raises(RuntimeError, match="scan plan failed"):
        broken.result(WAIT_S)
    assert runner.threads == ["cycle-worker"]  # prepare failed: that cycle never started
    assert runner.pending == 0


class _Queue:
    def __init__(self, requests) -> None:
        self.requests = list(requests)
        self.running: list = []
        self.failed: list = []
        self.marked_failed = threading.Event()
        self.down = False

    def claim_next(self, cell_id):
        if self.down:
            raise ConnectionError("database unreachable")
        return self.requests.pop(0) if self.requests else None

    def mark_running(self, request_uuid, cell_id, progress=""):
        self.running.append((request_uuid, progress))

    def mark_failed(self, request_uuid, cell_id, message):
        self.failed.append((request_uuid, message))
        self.marked_failed.set()


def _request(serial: str, **options):
    return SimpleNamespace(
        request_uuid=uuid.uuid4(), blade_serial=serial, part_family="F", requested_by="web", options=options
    )


def test_job_of_request_carries_the_request_and_its_options() -> None:
    request = _request("SN-1", force_redesign=True)
    job = job_of_request(request)
    assert (job.blade_serial, job.part_family, job.operator) == ("SN-1", "F", "web")
    assert job.request_uuid == str(request.request_uuid) and job.force_redesign and len(job.cycle_id) == 32


def test_queued_requests_run_when_the_cell_is_free_and_failures_are_marked(runner) -> None:
    ok, broken = _request("SN-1"), _request("BROKEN")
    queue = _Queue([ok, broken])
    pressed = {"estop": True}
    futures: list = []

    def submit(job: CycleJob):
        futures.append(runner.submit(job))
        return futures[-1]

    requests = QueuedRequests(queue, runner, "cell-1", blocked=lambda: pressed["estop"], submit=submit)
    assert requests.poll() is None and queue.requests == [ok, broken]  # e-stop pressed: nothing claimed
    pressed["estop"] = False
    job = requests.poll()
    assert job is not None and job.blade_serial == "SN-1"
    assert queue.running == [(ok.request_uuid, f"cycle {job.cycle_id}")]
    assert requests.poll() is None  # busy with SN-1
    runner.gate.set()
    assert futures[0].result(WAIT_S).record_id == 7
    second = requests.poll()
    assert second is not None and second.blade_serial == "BROKEN"
    assert queue.marked_failed.wait(WAIT_S)
    assert [u for u, _ in queue.failed] == [broken.request_uuid]  # the recorded DONE cycle is not marked
    assert "scan plan failed" in queue.failed[0][1]


def test_a_database_outage_is_survived(runner, caplog) -> None:
    queue = _Queue([_request("SN-1")])
    queue.down = True
    requests = QueuedRequests(queue, runner, "cell-1")
    assert requests.poll() is None and requests.poll() is None
    assert caplog.text.count("request queue unavailable") == 1  # once per outage
    queue.down = False
    runner.gate.set()
    assert requests.poll() is not None
