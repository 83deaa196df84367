"""Rate limits: at most ``limit`` events per ``window_s`` seconds for each key (a sliding window).

:class:`RateLimiter` keeps the window in this process's memory (the embedded default: one node,
reset on restart). :class:`RedisRateLimiter` keeps it in Redis (``SHEGONG_REDIS_URL``), so that the
limit counts across every API node and holds across restarts. Both raise
:class:`~app.core.errors.RateLimitError` with the seconds to wait.

A Redis that cannot be reached does not stop the service: the event is let through, a warning is
logged, and ``/api/health`` names Redis as down; the accounts' own lock (in the records database)
still holds for logins.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict, deque
from typing import Any, Protocol

from app.core.errors import RateLimitError

log = logging.getLogger(__name__)


class Limiter(Protocol):
    what: str

    def hit(self, key: str, *, record: bool = True) -> None: ...

    def ping(self) -> str: ...


def _refuse(what: str, limit: int, window_s: float, wait: float) -> RateLimitError:
    span = f"{window_s / 60:g} 分钟" if window_s >= 60 else f"{window_s:g} 秒"
    return RateLimitError(f"{what}过于频繁：每 {span}最多 {limit} 次，请 {int(wait) + 1} 秒后再试。", wait)


class RateLimiter:
    """In memory, one process.

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

    def hit(self, key: str, *, record: bool = True) -> None:
        """Count one event for ``key`` (only check the window when not ``record``); refuse when full."""
        now = time.monotonic()
        with self._lock:
            q = self._events[key]
            while q and q[0] <= now - self.window_s:
                q.popleft()
            if len(q) >= self.limit:
                raise _refuse(self.what, self.limit, self.window_s, q[0] + self.window_s - now)
            if record:
                q.append(now)

    def ping(self) -> str:
        return ""


# One sorted set per key, scored by the Redis server's own clock (one clock for every node): drop
# what left the window, refuse when full (returning the ms until the oldest leaves), else add.
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + window - now
end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
end
return -1
"""


class RedisRateLimiter:
    """In Redis, shared by every node that uses the same ``client`` and ``name``."""

    def __init__(self, client: Any, *, name: str, limit: int, window_s: float, what: str) -> None:
        if limit <= 0 or window_s <= 0:
            raise ValueError("limit and window_s must be positive")
        self.client, self.name = client, name
        self.limit, self.window_s, self.what = limit, window_s, what
        self._script = client.register_script(_SLIDING_WINDOW)

    def hit(self, key: str, *, record: bool = True) -> None:
        import redis

        try:
            wait_ms = int(self._script(keys=[f"shegong:rate:{self.name}:{key}"],
                                       args=[int(self.window_s * 1000), self.limit, uuid.uuid4().hex,
                                             "1" if record else "0"]))
        except redis.RedisError as exc:  # let it through: a limit must not take the service down
            log.warning("rate limit %s not applied, Redis unreachable: %s", self.name, type(exc).__name__)
            return
        if wait_ms >= 0:
            raise _refuse(self.what, self.limit, self.window_s, wait_ms / 1000)

    def ping(self) -> str:
        import redis

        try:
            self.client.ping()
        except redis.RedisError:
            return "共享限流服务（Redis）暂时连不上：频率限制暂按不限执行，账号的登录锁定仍然有效。"
        return ""


def redis_client(url: str, timeout_s: float = 2.0) -> Any:
    """A client for ``SHEGONG_REDIS_URL`` (redis:// or rediss://, credentials in the URL); it
    connects on first use, so a node starts while Redis is away."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                health_check_interval=30)


def limiter(client: Any | None, *, name: str, limit: int, window_s: float, what: str) -> Limiter:
    """Redis's when a client is given, else this process's."""
    if client is None:
        return RateLimiter(limit=limit, window_s=window_s, what=what)
    return RedisRateLimiter(client, name=name, limit=limit, window_s=window_s, what=what)
