"""Per-user rate limits (a sliding window kept in memory, one process)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from app.core.errors import RateLimitError


class RateLimiter:
    """At most ``limit`` events per ``window_s`` seconds for each key.

    >>> rl = RateLimiter(limit=2, window_s=60, what="提问")
    >>> rl.hit("wang"); rl.hit("wang")
    >>> rl.hit("wang")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    app.core.errors.RateLimitError: ...
    """

    def __init__(self, *, limit: int, window_s: float, what: str) -> None:
        if limit <= 0 or window_s <= 0:
            raise ValueError("limit and window_s must be positive")
        self.limit, self.window_s, self.what = limit, window_s, what
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            q = self._events[key]
            while q and q[0] <= now - self.window_s:
                q.popleft()
            if len(q) >= self.limit:
                wait = q[0] + self.window_s - now
                raise RateLimitError(
                    f"{self.what}过于频繁：每 {self.window_s / 60:g} 分钟最多 {self.limit} 次，请 {int(wait) + 1} 秒后再试。",
                    wait,
                )
            q.append(now)
