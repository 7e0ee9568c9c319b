"""Throttling of failed authentications: a client that keeps presenting wrong API keys is slowed down.

Keys are 32 random bytes, so guessing one is hopeless, but 1,000 wrong keys at 242/s went unanswered
except by 401s (issue 16). Two limits over a sliding window, both keyed on the client address:
- per key prefix (the `bc_<prefix>_` part that names the key): a key under attack from a client is
  refused to that client for the rest of the window, even with the right secret;
- per client, over all prefixes (and malformed keys): rotating prefixes does not escape the limit.
A refused attempt is a 429 with `Retry-After` and never reaches the database. The state is in the
process: each replica of the API throttles on its own (a limit per replica, still a limit).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

MAX_TRACKED = 10_000  # buckets kept; beyond that the oldest are dropped (memory stays bounded)


class AuthThrottle:
    def __init__(
        self,
        *,
        per_key: int = 10,
        per_client: int = 50,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_key, self.per_client, self.window_s = per_key, per_client, window_s
        self._clock = clock
        self._failures: dict[tuple[str, str | None], deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str, prefix: str | None) -> int | None:
        """Seconds until this client may try this key prefix again; None when it may now."""
        now = self._clock()
        limits = [((client, None), self.per_client)]
        if prefix is not None:
            limits.append(((client, prefix), self.per_key))
        with self._lock:
            waits = [w for bucket, limit in limits if (w := self._wait(bucket, limit, now)) is not None]
        return max(waits) if waits else None

    def record_failure(self, client: str, prefix: str | None) -> None:
        now = self._clock()
        with self._lock:
            buckets = {(client, None)} | ({(client, prefix)} if prefix is not None else set())
            for bucket in buckets:
                self._failures.setdefault(bucket, deque()).append(now)
            while len(self._failures) > MAX_TRACKED:
                self._failures.pop(next(iter(self._failures)))

    def _wait(self, bucket: tuple[str, str | None], limit: int, now: float) -> int | None:
        times = self._failures.get(bucket)
        if not times:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[bucket]
            return None
        if len(times) < limit:
            return None
        return max(1, math.ceil(times[0] + self.window_s - now))
