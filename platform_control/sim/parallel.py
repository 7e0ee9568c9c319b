"""Chunked work on the simulator's worker threads: numpy and OpenCV release the GIL inside their loops,
so per-pixel passes split into fixed chunks run on all cores, and each chunk's temporaries stay in the
CPU cache (a whole-frame numpy expression streams every temporary through memory).

The split never depends on the number of workers, so results (and seeded noise) are the same on any
machine. `BLADECELL_SIM_THREADS` sets the worker count (default: the CPU count, at most 4).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def worker_count() -> int:
    """Threads used for chunked work (`BLADECELL_SIM_THREADS`, else the CPU count capped at 4)."""
    raw = os.environ.get("BLADECELL_SIM_THREADS", "")
    if raw:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"BLADECELL_SIM_THREADS must be a positive integer, got {raw!r}") from None
        if value < 1:
            raise ValueError(f"BLADECELL_SIM_THREADS must be a positive integer, got {raw!r}")
        return value
    return max(1, min(4, os.cpu_count() or 1))


def _forget_pool() -> None:
    """A forked child has none of the parent's threads: it starts its own pool when it needs one."""
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=worker_count(), thread_name_prefix="sim-work")
        return _pool


def for_chunks(work: Callable[[int, int], None], n: int, chunk: int) -> None:
    """Call `work(start, stop)` for consecutive chunks of `range(n)` (at most `chunk` long); re-raises
    the first error. `work` must not call `for_chunks` itself (the workers would wait on each other).

    The chunks are dealt out in one contiguous run per worker, the caller's thread taking the last:
    one hand-over per worker, however many chunks (on a loaded host every wake-up of a waiting thread
    costs a scheduler time slice)."""
    if chunk < 1:
        raise ValueError(f"chunk must be positive, got {chunk}")
    bounds = [(s, min(s + chunk, n)) for s in range(0, n, chunk)]
    workers = min(worker_count(), len(bounds))

    def run(part: list[tuple[int, int]]) -> None:
        for s, e in part:
            work(s, e)

    if workers <= 1:
        run(bounds)
        return
    cuts = [round(i * len(bounds) / workers) for i in range(workers + 1)]
    parts = [bounds[a:b] for a, b in itertools.pairwise(cuts)]
    futures = [_executor().submit(run, part) for part in parts[:-1]]
    try:
        run(parts[-1])
    finally:
        for future in futures:
            future.result()
