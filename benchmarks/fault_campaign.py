"""Fault campaign for the supervised cell (issue 16): kill each node process at a random moment of a
cycle, let `bladecell up`'s supervisor restart it, resume the cycle, and check that nothing was lost.

    .venv/bin/python benchmarks/fault_campaign.py [--runs 10] [--seed 0] [--nodes sim_cell,detector]

In a fresh temporary $BLADECELL_HOME (SQLite) with a tiny deployed model (no design in the cycles), it
starts `bladecell up --sim` as a child process (the real supervisor), times a clean (warm) cycle, then for
each process of the graph and each run: starts a cycle, SIGKILLs the process at a seeded random point
of that cycle's expected duration, waits for the supervisor to restart it and the graph to be whole
again, resumes the cycle (up to 3 times; a kill before the cycle was journaled started nothing, so
the technician's next step, and the campaign's, is a new cycle for the blade) and checks:
* one cycle journal and at most one recorded cycle for the blade (nothing duplicated);
* a completed cycle has every viewpoint's capture once in the store and in the database, and as many
  recorded defects as its detections file (nothing lost);
* the simulated blade was never released in mid-air (`sim/state` holder never "loose", sampled 5 Hz);
* the cycle ends DONE, or FAULTED with a reason.
Then prints a table process x outcome. Too long for the test suite (a minute or more per run); the
fast case (the coordinator killed, restarted, resumed) is tests/ros/test_cell_supervised.py. The host
may be shared: say so when quoting the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tiny_design, for cell_helpers
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ros"))
from cell_helpers import BASE_PARAMS, FAMILY, design_tiny_model, merge, write_params

#: the PostgreSQL server's maintenance database (where a campaign's own database is created and dropped)
ADMIN_URL = os.environ.get("BLADECELL_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
OUTCOMES = ("done", "resumed", "faulted", "lost/dup", "mid-air", "error")

#: the ROS tests' small, fast cell (128 px frames, quick physics), on the simulator's default blade
#: defects and with a longer connect timeout (nodes restart while a cycle waits for them)
PARAMS = merge(BASE_PARAMS, {"cell_coordinator": {"connect_timeout_s": 30.0}})
PARAMS["sim_cell"] = {**BASE_PARAMS["sim_cell"], "blade": {"preset": "small", "seed": 3}}


@dataclass
class Run:
    process: str
    index: int
    kill_at_s: float
    state_at_kill: str = ""
    outcome: str = "error"
    resumes: int = 0
    recover_s: float = 0.0
    detail: str = ""
    holders: set[str] = field(default_factory=set)


def deploy(model_dir: Path) -> None:
    from database.services import ModelCandidate, ModelRegistry

    registry = ModelRegistry()
    registry.register_candidate(
        ModelCandidate(
            version="campaign-1",
            part_family=FAMILY,
            architecture=json.loads((model_dir / "arch.json").read_text()),
            weights_path=str(model_dir),
            notes="fault campaign",
        )
    )
    registry.deploy("campaign-1")


def recorded(cycle_id: str, serial: str) -> tuple[int, int, int, int]:
    """(cycles of this uuid, cycles of this blade, captures, defects) in the database."""
    from sqlalchemy import func, select

    from database.engine import create_db_engine, make_session_factory
    from database.orm import Blade, Capture, Defect, InspectionCycle
    from database.settings import load_settings

    engine = create_db_engine(load_settings().url)
    try:
        with make_session_factory(engine)() as s:
            ids = s.scalars(
                select(InspectionCycle.id).where(InspectionCycle.cycle_uuid == uuid.UUID(cycle_id))
            ).all()
            of_blade = s.scalar(
                select(func.count()).select_from(InspectionCycle).join(Blade).where(Blade.serial == serial)
            )
            captures = s.scalar(select(func.count()).select_from(Capture).where(Capture.cycle_id.in_(ids)))
            defects = s.scalar(select(func.count()).select_from(Defect).where(Defect.cycle_id.in_(ids)))
            return len(ids), int(of_blade or 0), int(captures or 0), int(defects or 0)
    finally:
        engine.dispose()


def journals_of(home: Path, serial: str) -> list[dict]:
    out = []
    for path in (home / "cycles").glob("*.json"):
        data = json.loads(path.read_text())
        if data.get("metadata", {}).get("job", {}).get("blade_serial") == serial:
            out.append({**data, "cycle_id": path.stem})
    return out


class Cell:
    """`bladecell up --sim` as a child process + a client node in this one."""

    def __init__(self, home: Path, params: Path, max_restarts: int) -> None:
        from bladecell_ros.bringup.graph import all_nodes
        from bladecell_ros.transport.client import CellClient
        from bladecell_ros.transport.ros_calls import ServiceProxy
        from std_srvs.srv import Trigger

        self.log = home / "up.log"
        self.up = subprocess.Popen(
            [sys.executable, "-m", "bladecell_ros.cli", "up", "--sim", "--params", str(params),
             "--log-dir", str(home / "logs"), "--max-restarts", str(max_restarts)],
            stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.client = CellClient()
        self.nodes = all_nodes()
        self.sim_state = ServiceProxy(self.client.node, Trigger, "sim/state", "sim_cell")
        self.wait_whole(300)

    def wait_whole(self, timeout: float) -> float:
        """Seconds until every node is discovered and the coordinator's action is ready."""
        start = time.monotonic()
        while not (self.nodes <= set(self.client.node_names()) and self.client.inspect_action.ready()):
            if self.up.poll() is not None:
                raise RuntimeError(
                    f"bladecell up exited ({self.up.returncode}): {self.log.read_text()[-2000:]}"
                )
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"the graph was not whole again within {timeout:.0f} s")
            time.sleep(0.1)
        return time.monotonic() - start

    def process(self, name: str) -> psutil.Process:
        from bladecell_ros.bringup.graph import SIM_GRAPH

        module = next(s.module for s in SIM_GRAPH if s.name == name)
        for child in psutil.Process(self.up.pid).children(recursive=True):
            try:
                if module in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                    return child
            except psutil.Error:  # a killed child `up` has not reaped yet
                continue
        raise RuntimeError(f"{name} is not running")

    def holder(self) -> str | None:
        from std_srvs.srv import Trigger

        try:
            reply = self.sim_state.call(Trigger.Request(), timeout=2.0, connect_timeout=0.2, lost_grace=0.5)
            return str(json.loads(reply.message)["holder"])
        except Exception:
            return None  # sim_cell is down (killed or restarting)

    def inspect(self, serial: str, resume: bool) -> tuple[str, str]:
        """(final state, message); a goal lost with the coordinator is ("LOST", why)."""
        try:
            result = self.client.inspect(serial, "" if resume else FAMILY, resume=resume, timeout=900)
            return result.final_state, result.message
        except Exception as exc:
            return "LOST", f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        self.client.close()
        if self.up.poll() is None:
            self.up.send_signal(signal.SIGINT)
            try:
                self.up.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(self.up.pid, signal.SIGKILL)


def kill_process(cell: Cell, run: Run) -> None:
    """SIGKILL `run.process` now, then wait until the supervisor restarted it and the graph is whole."""
    victim = cell.process(run.process)
    if victim.is_running():
        os.killpg(victim.pid, signal.SIGKILL)
    deadline = time.monotonic() + 120  # the supervisor's back-off is 1 s
    while True:
        try:
            if cell.process(run.process).pid != victim.pid:
                break
        except RuntimeError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{run.process} was not restarted within 120 s")
        time.sleep(0.1)
    cell.wait_whole(300)


def database_outage(seconds: float) -> Callable[[Cell, Run], None]:
    """Take the (PostgreSQL) records database away for `seconds`: new connections refused and every
    open one terminated, as when the database host drops off the network; then give it back."""

    def inject(_cell: Cell, _run: Run) -> None:
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(os.environ["BLADECELL_DATABASE_URL"])
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false')
            try:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (url.database,),
                )
                time.sleep(seconds)  # the outage itself: a stated duration, not a wait for a condition
            finally:
                admin.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true')

    return inject


def run_one(cell: Cell, home: Path, run: Run, viewpoints: int, inject: Callable[[Cell, Run], None]) -> Run:
    """One cycle with one fault injected at `run.kill_at_s`; resume until it ends; check what was kept."""
    from bladecell_ros.services.capture_store import CaptureStore
    from std_srvs.srv import Trigger

    from platform_control.cycle.detections import DetectionsFile

    serial = f"FC-{run.process}-{run.index}"
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            holder = cell.holder()
            if holder is not None:
                run.holders.add(holder)
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out: dict = {}
    first = threading.Thread(target=lambda: out.update(r=cell.inspect(serial, False)), daemon=True)
    first.start()
    time.sleep(run.kill_at_s)
    run.state_at_kill = cell.client.status.state if cell.client.status else "?"
    injected_at = time.monotonic()
    inject(cell, run)
    first.join(900)
    state, message = out.get("r", ("LOST", "no answer"))
    cell.wait_whole(300)
    run.recover_s = time.monotonic() - injected_at
    while state not in ("DONE", "ABORTED") and run.resumes < 3:
        journals = journals_of(home, serial)
        if journals and journals[0]["state"] == "DONE":
            state = "DONE"  # finished before the coordinator's answer was lost
            break
        run.resumes += 1
        # the technician's next step: resume the cycle, or start it again when the kill came before
        # the cycle was journaled (nothing was started, so nothing can be lost)
        state, message = cell.inspect(serial, bool(journals))
        if state == "LOST":
            cell.wait_whole(300)
    stop.set()
    sampler.join(10)
    journals = journals_of(home, serial)
    problems = []
    if len(journals) != 1:
        problems.append(f"{len(journals)} cycle journals")
    if journals:
        cycle_id = journals[0]["cycle_id"]
        n_cycle, n_blade, n_captures, n_defects = recorded(cycle_id, serial)
        if n_cycle > 1 or n_blade > 1:
            problems.append(f"recorded {n_cycle} times ({n_blade} cycles of the blade)")
        if state == "DONE":
            refs = CaptureStore(home).refs(FAMILY, cycle_id=cycle_id)
            detections = DetectionsFile.of_cycle(home, FAMILY, cycle_id)
            expected_defects = len(detections.defects) if detections else -1
            if len(refs) != viewpoints or n_captures != viewpoints:
                problems.append(f"captures: {len(refs)} stored, {n_captures} recorded, {viewpoints} planned")
            if n_cycle != 1 or n_defects != expected_defects:
                problems.append(f"defects: {n_defects} recorded, {expected_defects} detected")
    if "loose" in run.holders:
        run.outcome, run.detail = "mid-air", "blade released where nothing took it"
    elif problems:
        run.outcome, run.detail = "lost/dup", "; ".join(problems)
    elif state == "DONE":
        run.outcome = "done" if run.resumes == 0 else "resumed"
    elif state == "FAULTED" and message:
        run.outcome, run.detail = "faulted", message
        cell.client.abort_srv.call(Trigger.Request(), timeout=30.0)  # clear it for the next run
    else:
        run.outcome, run.detail = "error", f"{state}: {message}"
    return run


def table(runs: list[Run]) -> str:
    processes = list(dict.fromkeys(r.process for r in runs))
    counts = {p: Counter(r.outcome for r in runs if r.process == p) for p in processes}
    width = max(len(p) for p in processes) + 2
    lines = [
        "process".ljust(width)
        + "".join(o.rjust(10) for o in OUTCOMES)
        + "  kill->cell whole again s (max; after the first attempt ended)"
    ]
    for p in processes:
        recover = max(r.recover_s for r in runs if r.process == p)
        lines.append(
            p.ljust(width) + "".join(str(counts[p][o]).rjust(10) for o in OUTCOMES) + f"  {recover:14.1f}"
        )
    return "\n".join(lines)


def _create_database(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')


def _drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    from bladecell_ros.bringup.graph import SIM_GRAPH

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per process")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nodes", default=",".join(s.name for s in SIM_GRAPH), help="processes to kill")
    parser.add_argument("--viewpoints", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write every run here")
    parser.add_argument(
        "--db-outage", type=float, default=0.0, metavar="S",
        help="also take the records database away for S seconds at a random moment of a cycle "
        "(runs on a PostgreSQL database of its own, created and dropped here)",
    )  # fmt: skip
    parser.add_argument("--outage-runs", type=int, default=1, help="runs of the database outage")
    args = parser.parse_args()
    names = [n.strip() for n in args.nodes.split(",") if n.strip()]
    unknown = sorted(set(names) - {s.name for s in SIM_GRAPH})
    if unknown or args.runs < 1 or args.viewpoints < 1 or args.db_outage < 0 or args.outage_runs < 1:
        parser.error(f"unknown processes {unknown}" if unknown else "counts must be >= 1, the outage >= 0 s")

    home = Path(tempfile.mkdtemp(prefix="bladecell-faults-"))
    os.environ["BLADECELL_HOME"] = str(home)
    os.environ.pop("BLADECELL_DATABASE_URL", None)
    database = f"bladecell_faults_{uuid.uuid4().hex[:10]}" if args.db_outage else None
    if database:
        _create_database(database)
        os.environ["BLADECELL_DATABASE_URL"] = ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    from bladecell_ros.bringup.session import migrate_database, prepare_environment

    prepare_environment()
    migrate_database()
    print(f"data root {home}; designing a tiny model ...", flush=True)
    deploy(design_tiny_model(home / "tiny"))
    params = home / "params.yaml"
    write_params(params, merge(PARAMS, {"cell_coordinator": {"max_viewpoints": args.viewpoints}}))
    cell = Cell(home, params, max_restarts=max(3, args.runs))
    runs: list[Run] = []
    try:
        for warm in ("cold", "warm"):  # the first cycle also loads the model: time the second
            start = time.monotonic()
            state, message = cell.inspect(f"FC-baseline-{warm}", False)
            cycle_s = time.monotonic() - start
            if state != "DONE":
                raise RuntimeError(f"the clean {warm} cycle ended {state}: {message}")
            print(f"clean {warm} cycle: {cycle_s:.1f} s", flush=True)
        for name in names:
            for i in range(args.runs):
                rng = random.Random(f"{args.seed}:{name}:{i}")
                run = Run(name, i, kill_at_s=rng.uniform(0.05, 0.95) * cycle_s)
                try:
                    run_one(cell, home, run, args.viewpoints, kill_process)
                except Exception as exc:
                    run.outcome, run.detail = "error", f"{type(exc).__name__}: {exc}"
                runs.append(run)
                print(
                    f"{name} run {i}: killed at {run.kill_at_s:.1f} s ({run.state_at_kill}) -> {run.outcome}"
                    f" after {run.resumes} resume(s), cell whole again {run.recover_s:.1f} s after the kill"
                    f" {run.detail[:120]}",
                    flush=True,
                )
        for i in range(args.outage_runs if args.db_outage else 0):
            rng = random.Random(f"{args.seed}:database:{i}")
            run = Run(
                f"database ({args.db_outage:.0f} s down)", i, kill_at_s=rng.uniform(0.05, 0.95) * cycle_s
            )
            try:
                run_one(cell, home, run, args.viewpoints, database_outage(args.db_outage))
            except Exception as exc:
                run.outcome, run.detail = "error", f"{type(exc).__name__}: {exc}"
            runs.append(run)
            print(
                f"database outage run {i}: at {run.kill_at_s:.1f} s ({run.state_at_kill}) -> {run.outcome}"
                f" after {run.resumes} resume(s) {run.detail[:120]}",
                flush=True,
            )
    finally:
        cell.close()
        if database:
            _drop_database(database)
    print()
    print(table(runs))
    print(f"\n{os.cpu_count()} CPU cores (possibly shared); logs in {home / 'logs'}, up's in {cell.log}")
    if args.json:
        args.json.write_text(
            json.dumps([{**r.__dict__, "holders": sorted(r.holders)} for r in runs], indent=1)
        )


if __name__ == "__main__":
    main()
