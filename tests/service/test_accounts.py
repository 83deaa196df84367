"""Accounts, lockout, tokens, retention and rate limits, on SQLite and on PostgreSQL (``records_url``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from app.core.errors import AuthError, ForbiddenError, RateLimitError, ValidationError
from app.service import accounts as acc
from app.service.accounts import LOCAL_USER, Accounts
from app.service.db import ServiceDB
from app.service.ratelimit import RateLimiter
from app.service.records import ConversationLog


@pytest.fixture
def accounts(records_url: str) -> Iterator[Accounts]:
    db = ServiceDB(records_url)
    yield Accounts(db, token_ttl_s=3600)
    db.close()


def one(db: ServiceDB, sql: str, **params: Any) -> Any:
    """One row of a statement the test writes itself (to look behind the API)."""
    with db.tx() as conn:
        return conn.execute(text(sql), params).mappings().first()


def run(db: ServiceDB, sql: str, **params: Any) -> None:
    with db.tx() as conn:
        conn.execute(text(sql), params)


class TestAccounts:
    def test_password_is_hashed_and_checked(self, accounts: Accounts) -> None:
        accounts.add("wang", "a-long-password", role="worker")
        row = one(accounts.db, "SELECT password_hash FROM users WHERE username='wang'")
        assert row is not None and "a-long-password" not in row["password_hash"] and row["password_hash"].startswith("$argon2")
        token, user = accounts.login("wang", "a-long-password")
        assert accounts.user_for_token(token) == user
        stored = one(accounts.db, "SELECT token_hash FROM tokens")
        assert stored is not None and stored["token_hash"] != token  # only a hash is kept

    def test_bad_input(self, accounts: Accounts) -> None:
        with pytest.raises(ValidationError, match="至少 8"):
            accounts.add("wang", "short")
        with pytest.raises(ValidationError, match="角色"):
            accounts.add("wang", "a-long-password", role="boss")
        accounts.add("wang", "a-long-password")
        with pytest.raises(ValidationError, match="已存在"):
            accounts.add("wang", "a-long-password")

    def test_lock_grows_with_each_failure(self, accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
        accounts.add("wang", "a-long-password")
        waits = []
        for _ in range(acc.LOCK_AFTER + 2):
            row = one(accounts.db, "SELECT locked_until FROM users")
            assert row is not None
            if row["locked_until"] > time.time():  # let the lock lapse, keep the failure count
                run(accounts.db, "UPDATE users SET locked_until=0")
            with pytest.raises(AuthError):
                accounts.login("wang", "wrong-password")
            row = one(accounts.db, "SELECT locked_until FROM users")
            assert row is not None
            waits.append(max(0.0, row["locked_until"] - time.time()))
        assert waits[: acc.LOCK_AFTER - 1] == [0.0] * (acc.LOCK_AFTER - 1)
        assert 25 < waits[acc.LOCK_AFTER - 1] <= 30 and 55 < waits[acc.LOCK_AFTER] <= 60 and waits[-1] > 110
        with pytest.raises(RateLimitError) as info:
            accounts.login("wang", "a-long-password")  # even the right password waits
        assert info.value.retry_after > 100

    def test_expired_and_disabled(self, records_url: str) -> None:
        a = Accounts(ServiceDB(records_url), token_ttl_s=0.05)
        a.add("wang", "a-long-password")
        token, _ = a.login("wang", "a-long-password")
        time.sleep(0.1)
        with pytest.raises(AuthError, match="过期"):
            a.user_for_token(token)
        token, _ = a.login("wang", "a-long-password")
        a.set_disabled("wang", True)
        with pytest.raises(AuthError):
            a.user_for_token(token)

    def test_permissions(self) -> None:
        worker = acc.User(1, "w", "worker")
        worker.require("chat")
        with pytest.raises(ForbiddenError, match="管理知识库"):
            worker.require("curate")
        assert acc.User(2, "e", "evaluator").can("evaluate") and not acc.User(2, "e", "evaluator").can("curate")
        assert all(LOCAL_USER.can(p) for p in acc.PERMISSIONS)


class TestRetentionAndLimits:
    def test_old_conversations_are_deleted(self, accounts: Accounts) -> None:
        user = accounts.add("wang", "a-long-password")
        log = ConversationLog(accounts.db)
        cid, _ = log.add(user, None, "走访要带什么？", {"answer": "证件", "refused": False, "mode": "extractive"})
        log.add(user, None, "新问题", {"answer": "x", "refused": True, "mode": "extractive"})
        run(accounts.db, "UPDATE conversations SET updated_at='2020-01-01T00:00:00+00:00' WHERE id=:cid", cid=cid)
        assert log.purge_older_than(180) == 1
        assert [c["title"] for c in log.recent(user)] == ["新问题"]
        assert one(accounts.db, "SELECT COUNT(*) AS n FROM review")["n"] == 1
        # A service that keeps running purges on its own when a conversation starts (hourly at most).
        run(accounts.db, "UPDATE conversations SET updated_at='2020-01-01T00:00:00+00:00'")
        kept = ConversationLog(accounts.db, retention_days=180)
        assert kept.purged_at_start == 1 and kept.recent(user) == []

    def test_rate_limiter_window(self) -> None:
        rl = RateLimiter(limit=2, window_s=0.2, what="提问")
        rl.hit("a")
        rl.hit("a")
        rl.hit("b")
        with pytest.raises(RateLimitError, match="过于频繁"):
            rl.hit("a")
        time.sleep(0.25)
        rl.hit("a")
