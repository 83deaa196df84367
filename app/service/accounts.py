"""Users, roles and bearer tokens.

Passwords are hashed with pwdlib (Argon2). A token is 32 random bytes shown once; only its SHA-256
is stored. Repeated failed logins lock the account for a growing time.

>>> accounts = Accounts(ServiceDB(Path("/tmp/svc.sqlite3")))        # doctest: +SKIP
>>> accounts.add("wang", "a-long-password", role="worker")          # doctest: +SKIP
>>> token, user = accounts.login("wang", "a-long-password")         # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from pwdlib import PasswordHash
from sqlalchemy import delete, func, insert, select, update

from app.core.errors import AuthError, ForbiddenError, NotFoundError, RateLimitError, ValidationError
from app.service.db import ServiceDB, now_iso
from app.service.tables import tokens, users

Role = Literal["worker", "supervisor", "trainer", "evaluator", "admin"]
ROLES: tuple[Role, ...] = ("worker", "supervisor", "trainer", "evaluator", "admin")
ROLE_NAMES = {"worker": "社区工作者", "supervisor": "居委书记/站长", "trainer": "培训员", "evaluator": "评测员",
              "admin": "管理员"}

# What each role may do; every route names the permission it needs and the server checks it.
PERMISSIONS: dict[str, frozenset[str]] = {
    "chat": frozenset(ROLES),
    "feedback": frozenset(ROLES),
    "curate": frozenset({"trainer", "admin"}),
    "review": frozenset({"trainer", "admin"}),
    "audit": frozenset({"trainer", "admin"}),
    "evaluate": frozenset({"evaluator", "admin"}),
    "users": frozenset({"admin"}),
    # The visit module: which households are seen is the visit scope's business (app.service.visits.scope)
    "visit": frozenset({"worker", "supervisor", "admin"}),
}
PERMISSION_NAMES = {
    "chat": "提问", "feedback": "评价回答", "curate": "管理知识库", "review": "处理待改进问题",
    "audit": "查看操作记录", "evaluate": "查看评测", "users": "管理账号",
    "visit": "走访",
}
RATE_EXEMPT = frozenset({"evaluator", "admin"})

MIN_PASSWORD = 8
LOCK_AFTER = 5  # failed logins before the first lock
LOCK_BASE_S = 30.0
LOCK_MAX_S = 3600.0

_hasher = PasswordHash.recommended()


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: Role
    region: str = ""
    disabled: bool = False
    supervises: str = ""  # a region whose households this account sees as a supervisor

    @property
    def supervised_region(self) -> str:
        """The region this account supervises in the visit module ('' for none); a supervisor's
        own region unless ``supervises`` names another."""
        if self.role == "supervisor":
            return self.supervises or self.region
        return self.supervises

    def can(self, permission: str) -> bool:
        if permission == "visit" and self.supervised_region and not self.disabled:
            return True  # a trainer or evaluator who also holds a supervisor scope
        return not self.disabled and self.role in PERMISSIONS[permission]

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise ForbiddenError(
                f"当前账号（{ROLE_NAMES[self.role]}）没有“{PERMISSION_NAMES[permission]}”的权限。"
            )

    def to_dict(self) -> dict[str, object]:
        return {"username": self.username, "role": self.role, "role_name": ROLE_NAMES[self.role],
                "region": self.region, "disabled": self.disabled, "supervises": self.supervised_region,
                "visit_scope": self.visit_scope}

    @property
    def visit_scope(self) -> str:
        """Which households the visit module shows: all (admin), region (a supervisor's), own, none."""
        if self.role == "admin":
            return "all"
        if self.supervised_region:
            return "region"
        return "own" if self.can("visit") else "none"


# With SHEGONG_AUTH=off (a local trial on 127.0.0.1) every request acts as this user.
LOCAL_USER = User(id=0, username="本机试用", role="admin")


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_role(role: str) -> Role:
    if role not in ROLES:
        raise ValidationError(f"角色“{role}”无效，只能是 {'、'.join(ROLES)} 之一。")
    return role  # type: ignore[return-value]


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationError(f"密码太短：至少 {MIN_PASSWORD} 个字符。")


class Accounts:
    """Users and tokens in the service database."""

    def __init__(self, db: ServiceDB, *, token_ttl_s: float = 7 * 24 * 3600) -> None:
        if token_ttl_s <= 0:
            raise ValueError("token_ttl_s must be positive")
        self.db = db
        self.token_ttl_s = token_ttl_s

    # -- users --------------------------------------------------------------------------------
    def add(self, username: str, password: str, *, role: str = "worker", region: str = "",
            supervises: str = "") -> User:
        username = username.strip()
        if not username or len(username) > 64:
            raise ValidationError("用户名不能为空，且不超过 64 个字符。")
        _check_password(password)
        r = _check_role(role)
        with self.db.tx() as conn:
            if conn.execute(select(users.c.id).where(users.c.username == username)).first():
                raise ValidationError(f"用户名“{username}”已存在。")
            uid = conn.execute(insert(users).values(
                username=username, password_hash=_hasher.hash(password), role=r, region=region.strip(),
                supervises=supervises.strip(), created_at=now_iso()).returning(users.c.id)).scalar_one()
        return User(int(uid), username, r, region.strip(), supervises=supervises.strip())

    def get(self, username: str) -> User:
        with self.db.read() as conn:
            row = conn.execute(select(*_USER_COLUMNS).where(users.c.username == username)).mappings().first()
        if row is None:
            raise NotFoundError(f"没有用户“{username}”。")
        return _user(row)

    def all(self) -> list[User]:
        with self.db.read() as conn:
            return [_user(r) for r in conn.execute(select(*_USER_COLUMNS).order_by(users.c.username)).mappings()]

    def active_count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(users).where(users.c.disabled == 0)).scalar_one())

    def set_disabled(self, username: str, disabled: bool) -> User:
        user = self.get(username)
        with self.db.tx() as conn:
            conn.execute(update(users).where(users.c.id == user.id).values(disabled=int(disabled)))
            if disabled:
                conn.execute(delete(tokens).where(tokens.c.user_id == user.id))
        return self.get(username)

    def set_supervises(self, username: str, region: str) -> User:
        """Give an account (any role) a supervisor's view of ``region``'s households ('' removes it)."""
        user = self.get(username)
        with self.db.tx() as conn:
            conn.execute(update(users).where(users.c.id == user.id).values(supervises=region.strip()))
        return self.get(username)

    def by_id(self, user_id: int) -> User:
        with self.db.read() as conn:
            row = conn.execute(select(*_USER_COLUMNS).where(users.c.id == user_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"没有编号为 {user_id} 的账号。")
        return _user(row)

    def set_role(self, username: str, role: str) -> User:
        user = self.get(username)
        with self.db.tx() as conn:
            conn.execute(update(users).where(users.c.id == user.id).values(role=_check_role(role)))
        return self.get(username)

    def reset_password(self, username: str, password: str) -> User:
        _check_password(password)
        user = self.get(username)
        with self.db.tx() as conn:
            conn.execute(update(users).where(users.c.id == user.id).values(
                password_hash=_hasher.hash(password), failed_logins=0, locked_until=0))
            conn.execute(delete(tokens).where(tokens.c.user_id == user.id))
        return user

    # -- login and tokens ---------------------------------------------------------------------
    def login(self, username: str, password: str, *, label: str = "") -> tuple[str, User]:
        """Check the password and issue a token; failures lock the account for a growing time."""
        with self.db.read() as conn:
            row = conn.execute(select(users).where(users.c.username == username.strip())).mappings().first()
        wrong = AuthError("用户名或密码错误。")
        if row is None:
            _hasher.hash(password)  # spend the same time as a real check
            raise wrong
        if row["locked_until"] > time.time():
            wait = row["locked_until"] - time.time()
            raise RateLimitError(f"登录失败次数过多，账号暂时锁定，请 {int(wait) + 1} 秒后再试。", wait)
        if not _hasher.verify(password, row["password_hash"]):
            failed = row["failed_logins"] + 1
            locked = 0.0
            if failed >= LOCK_AFTER:
                locked = time.time() + min(LOCK_MAX_S, LOCK_BASE_S * 2 ** (failed - LOCK_AFTER))
            with self.db.tx() as conn:
                conn.execute(update(users).where(users.c.id == row["id"]).values(failed_logins=failed, locked_until=locked))
            raise wrong
        if row["disabled"]:
            raise AuthError("该账号已停用，请联系管理员。")
        with self.db.tx() as conn:
            conn.execute(update(users).where(users.c.id == row["id"]).values(failed_logins=0, locked_until=0))
        user = _user(row)
        return self.issue_token(user, label=label), user

    def issue_token(self, user: User, *, label: str = "") -> str:
        token = "sg_" + secrets.token_urlsafe(32)
        with self.db.tx() as conn:
            conn.execute(insert(tokens).values(token_hash=_hash_token(token), user_id=user.id, label=label,
                                               created_at=now_iso(), expires_at=time.time() + self.token_ttl_s))
        return token

    def user_for_token(self, token: str) -> User:
        q = (select(*_USER_COLUMNS, tokens.c.expires_at).join_from(tokens, users, users.c.id == tokens.c.user_id)
             .where(tokens.c.token_hash == _hash_token(token)))
        with self.db.read() as conn:
            row = conn.execute(q).mappings().first()
        if row is None:
            raise AuthError("登录已失效或令牌无效，请重新登录。")
        if row["expires_at"] < time.time():
            self.revoke(token)
            raise AuthError("登录已过期，请重新登录。")
        if row["disabled"]:
            raise AuthError("该账号已停用，请联系管理员。")
        return _user(row)

    def revoke(self, token: str) -> None:
        with self.db.tx() as conn:
            conn.execute(delete(tokens).where(tokens.c.token_hash == _hash_token(token)))

    def purge_expired_tokens(self) -> int:
        with self.db.tx() as conn:
            return int(conn.execute(delete(tokens).where(tokens.c.expires_at < time.time())).rowcount)


_USER_COLUMNS = (users.c.id, users.c.username, users.c.role, users.c.region, users.c.disabled, users.c.supervises)


def _user(row: Any) -> User:
    return User(row["id"], row["username"], row["role"], row["region"], bool(row["disabled"]), row["supervises"])
