"""Bring-up of the cell's process graph: start, wait for discovery, stop cleanly.

`CellGraph` starts each process of the graph (`graph.SIM_GRAPH`) as a child in its own session with
the cell environment (and this process's pid, so a node stops by itself if the bring-up is killed),
logs to `<log_dir>/<name>.log`, and waits until every expected node name is visible to a probe node
(never a fixed sleep). `stop()` sends SIGINT to all (the nodes shut down cleanly: executors stopped,
nodes destroyed), waits, kills what is left, and then clears the Fast DDS shared-memory files that
killed processes leave in /dev/shm (`fastdds shm clean`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from bladecell_ros.bringup.graph import SIM_GRAPH, ProcessSpec, cell_environment
from bladecell_ros.bringup.node_process import STOP_SIGNALS
from bladecell_ros.bringup.parent_watch import PARENT_ENV


class GraphError(RuntimeError):
    """A process of the graph died or its nodes did not appear (the message has its log's tail)."""


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def clean_shared_memory() -> bool:
    """Remove /dev/shm files of dead Fast DDS participants (`fastdds shm clean`); True if it ran."""
    tool = Path(sys.prefix) / "tools" / "fastdds" / "fastdds.py"
    if not tool.is_file():
        return False
    subprocess.run([sys.executable, str(tool), "shm", "clean"], capture_output=True, timeout=60, check=False)
    return True


class CellGraph:
    """The cell's processes. ``extra_args[name]`` adds ROS arguments (e.g. `-p node:param:=value`)."""

    def __init__(
        self,
        params_files: Sequence[Path | str],
        log_dir: Path,
        *,
        specs: Sequence[ProcessSpec] = SIM_GRAPH,
        env: Mapping[str, str] | None = None,
        extra_args: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.specs = {s.name: s for s in specs}
        self.params_files = [Path(p) for p in params_files]
        self.log_dir = Path(log_dir)
        # this process's pid, so each node stops by itself if the bring-up is killed (parent_watch)
        self.env = {**cell_environment(env), PARENT_ENV: str(os.getpid())}
        self.extra_args = {k: list(v) for k, v in (extra_args or {}).items()}
        self.procs: dict[str, subprocess.Popen] = {}
        self.killed: set[str] = set()

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    @property
    def expected_nodes(self) -> set[str]:
        return {n for name in self.procs for n in self.specs[name].nodes}

    def start(self, names: Iterable[str] | None = None) -> None:
        """Start processes (all by default). The shared-memory files of dead DDS participants go first:
        a new participant that reopens a port a SIGKILLed one left behind can crash inside Fast DDS
        (eProsima/Fast-DDS#6501; seen here as a detector dying by SIGSEGV in `create_service` during a
        bring-up after earlier kills)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        clean_shared_memory()
        for name in names or self.specs:
            spec = self.specs[name]
            if name in self.procs and self.procs[name].poll() is None:
                raise GraphError(f"{name} is already running (pid {self.procs[name].pid})")
            log = self.log_path(name).open("a")
            log.write(f"\n---- start {time.strftime('%H:%M:%S')} ----\n")
            log.flush()
            # the child starts with Ctrl-C/SIGTERM blocked (the mask survives exec) until its nodes are
            # built; a stop meanwhile stays pending there instead of killing it mid-import
            previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            try:
                self.procs[name] = subprocess.Popen(
                    [sys.executable, *spec.args(self.params_files, self.extra_args.get(name, ()))],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            finally:
                log.close()
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def dead(self) -> dict[str, int]:
        """Processes that exited (name -> return code)."""
        return {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}

    def check_alive(self) -> None:
        dead = {n: rc for n, rc in self.dead().items() if n not in self.killed}
        if dead:
            name, rc = next(iter(dead.items()))
            raise GraphError(
                f"{name} exited with code {rc}; last log lines:\n{log_tail(self.log_path(name))}"
            )

    def wait_discovered(
        self,
        node_names: Callable[[], Iterable[str]],
        timeout: float = 60.0,
        progress: Callable[[set[str], set[str]], None] | None = None,
        nodes: set[str] | None = None,
        watch: Callable[[], object] | None = None,
    ) -> float:
        """Wait until `node_names()` (a probe node's view of the graph) lists every expected node.

        `watch` is called on every poll instead of `check_alive` (which fails at the first dead
        process): a supervisor's `poll` restarts a crashed one instead."""
        expected = nodes or self.expected_nodes
        start = time.monotonic()
        seen: set[str] = set()
        while True:
            (watch or self.check_alive)()
            now_seen = set(node_names()) & expected
            if progress is not None and now_seen != seen:
                progress(now_seen, expected)
            seen = now_seen
            if seen == expected:
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                missing = sorted(expected - seen)
                raise GraphError(
                    f"nodes {missing} not discovered within {timeout:.0f} s (logs in {self.log_dir})"
                )
            time.sleep(0.1)

    def kill(self, name: str) -> None:
        """SIGKILL one process (fault injection in tests: a node that crashes)."""
        proc = self.procs[name]
        self.killed.add(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def restart(self, name: str) -> None:
        self.killed.discard(name)
        self.start([name])

    def stop(self, timeout: float = 20.0) -> dict[str, int]:
        """SIGINT everything, wait up to `timeout`, SIGKILL the rest, clean shared memory if needed."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        codes = {}
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                codes[name] = proc.wait()
                self.killed.add(name)
        if self.killed:
            clean_shared_memory()
        self.procs.clear()
        return codes
