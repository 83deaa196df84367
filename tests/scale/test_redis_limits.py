"""Rate limits on a real Redis (the machine's, 127.0.0.1:6379; skipped with a message where there is
none, failed in CI): two limiters on two clients, as two API nodes have, count one window; the
window slides; an unreachable Redis lets events through and says so."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from app.core.errors import RateLimitError
from app.service.ratelimit import RedisRateLimiter, limiter, redis_client
from tests.scale.cluster import REDIS_URL
from tests.support import free_port


@pytest.fixture
def clients() -> Iterator[tuple[Any, Any, str]]:
    import redis

    a, b = redis_client(REDIS_URL), redis_client(REDIS_URL)
    try:
        a.ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis at {REDIS_URL} (CI has one; set SHEGONG_TEST_REDIS_URL to use another)")
    name = f"test-{uuid.uuid4().hex[:8]}"
    yield a, b, name
    for key in a.scan_iter(f"shegong:rate:{name}:*"):
        a.delete(key)


def test_two_nodes_count_one_window(clients: tuple[Any, Any, str]) -> None:
    a, b, name = clients
    node1 = RedisRateLimiter(a, name=name, limit=3, window_s=60, what="提问")
    node2 = RedisRateLimiter(b, name=name, limit=3, window_s=60, what="提问")
    node1.hit("wang")
    node2.hit("wang")
    node1.hit("wang")
    with pytest.raises(RateLimitError) as err:
        node2.hit("wang")
    assert "提问过于频繁" in str(err.value) and 1 <= err.value.retry_after <= 60
    with pytest.raises(RateLimitError):
        node1.hit("wang")
    node2.hit("li")  # each key has its own window
    assert node1.ping() == ""


def test_the_window_slides(clients: tuple[Any, Any, str]) -> None:
    a, _, name = clients
    rl = RedisRateLimiter(a, name=name, limit=2, window_s=0.5, what="上传")
    rl.hit("x")
    rl.hit("x")
    with pytest.raises(RateLimitError):
        rl.hit("x")
    time.sleep(0.6)
    rl.hit("x")  # the two old events left the window


def test_an_unreachable_redis_lets_events_through_and_says_so() -> None:
    rl = limiter(redis_client(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.5), name="down", limit=1,
                 window_s=60, what="提问")
    for _ in range(3):
        rl.hit("wang")  # no error: the limit is not applied while Redis is away
    assert "Redis" in rl.ping() and "暂时连不上" in rl.ping()


def test_without_a_url_the_limit_is_this_processs() -> None:
    rl = limiter(None, name="memory", limit=1, window_s=60, what="提问")
    rl.hit("wang")
    with pytest.raises(RateLimitError):
        rl.hit("wang")
