"""Who sees which households: a worker their own and those lent to them for cover, a supervisor
their region (every 居委 below it), an admin all. A household outside the scope does not exist for
the caller (404), on every route that takes an id.

Regions come from ``knowledge/regions.yaml`` plus the operator's own additions below it (the table
``local_regions``: 居委 under a street, added with ``shegong region add`` or by an admin).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, insert, or_, select, true

from app.core.errors import ValidationError
from app.rag.regions import RegionTree
from app.service.accounts import User
from app.service.db import ServiceDB, now_iso
from app.service.tables import household_shares, households, local_regions


@dataclass(frozen=True)
class Scope:
    """The households a user sees: all (admin), a set of 居委 (supervisor), and always those
    assigned or lent to the user."""

    user: User
    everything: bool = False
    juwei: frozenset[str] = frozenset()

    @property
    def supervises(self) -> bool:
        return self.everything or bool(self.juwei)

    def clause(self, today: dt.date) -> ColumnElement[bool]:
        """A WHERE clause over ``households`` for this scope."""
        if self.everything:
            return true()
        parts: list[ColumnElement[bool]] = [households.c.worker_id == self.user.id]
        if self.juwei:
            parts.append(households.c.juwei.in_(sorted(self.juwei)))
        shared = select(household_shares.c.household_id).where(
            household_shares.c.user_id == self.user.id,
            or_(household_shares.c.until == "", household_shares.c.until >= today.isoformat()))
        parts.append(households.c.id.in_(shared))
        return or_(*parts) if parts else false()

    def covers_juwei(self, juwei: str) -> bool:
        return self.everything or juwei in self.juwei


class Regions:
    """The region tree with the operator's additions; ``below(name)`` is a region and all under it."""

    def __init__(self, db: ServiceDB, base: dict[str, Any]) -> None:
        self.db = db
        self.base = base

    def base_names(self) -> set[str]:
        """The regions of ``knowledge/regions.yaml`` (those documents can name), not the local ones."""
        return RegionTree(self.base).names()

    def tree(self) -> RegionTree:
        tree = RegionTree(self.base)
        with self.db.read() as conn:
            for name, parent in conn.execute(select(local_regions.c.name, local_regions.c.parent)):
                tree.parent.setdefault(name, parent)
        return tree

    def add(self, name: str, parent: str, *, by: str = "", demo: bool = False) -> None:
        name, parent = name.strip(), parent.strip()
        if not name or len(name) > 64:
            raise ValidationError("地区名不能为空，且不超过 64 个字符。")
        tree = self.tree()
        if parent not in tree:
            raise ValidationError(f"上级地区“{parent}”不在地区表中（knowledge/regions.yaml 或已添加的地区）。")
        if name in tree:
            if tree.parent.get(name) == parent:
                return
            raise ValidationError(f"地区“{name}”已存在（上级为“{tree.parent.get(name)}”）。")
        with self.db.tx() as conn:
            conn.execute(insert(local_regions).values(name=name, parent=parent, demo=int(demo), created_by=by,
                                                      created_at=now_iso()))

    def local(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [dict(r) for r in conn.execute(select(local_regions).order_by(local_regions.c.name)).mappings()]

    def below(self, name: str) -> frozenset[str]:
        tree = self.tree()
        return frozenset(n for n in tree.names() | {name} if name in tree.lineage(n))

    def scope_for(self, user: User) -> Scope:
        if user.role == "admin" and not user.disabled:
            return Scope(user, everything=True)
        region = user.supervised_region
        return Scope(user, juwei=self.below(region) if region else frozenset())
