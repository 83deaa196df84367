"""A visit module on a records database of each engine (SQLite file, fresh PostgreSQL database),
with the real tag file and region tree; no knowledge base (the brief is tested over HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core.settings import Settings
from app.service.accounts import Accounts, User
from app.service.db import ServiceDB
from app.service.factory import load_region_tree
from app.service.visits import Visits
from app.service.visits.roster import HouseholdIn, MemberIn

ROOT = Path(__file__).resolve().parents[2]
JUWEI = "测试居委甲（虚构）"
OTHER_JUWEI = "测试居委乙（虚构）"


@dataclass
class World:
    db: ServiceDB
    visits: Visits
    accounts: Accounts
    sup: User  # supervises 宜川路街道 (both test 居委 are there)
    sup_other: User  # supervises 长寿路街道
    w1: User
    w2: User
    admin: User

    def household(self, room: str, worker: str, tags: list[str], juwei: str = JUWEI, phone: str = "13900001234") -> int:
        h = HouseholdIn(juwei=juwei, xiaoqu="测试小区", building="1", room=room, worker=worker, tags=tags,
                        members=[MemberIn(name="测试" + room, relation="本人", birth_year=1940, phone=phone)])
        return self.visits.roster.create(self.sup, h).id


@pytest.fixture
def world(records_url: str, tmp_path: Path) -> Iterator[World]:
    settings = Settings(data_dir=tmp_path / "data", knowledge_dir=ROOT / "knowledge")
    db = ServiceDB(records_url)
    visits = Visits.build(settings, db, None, None, load_region_tree(settings.regions_file))  # type: ignore[arg-type]
    visits.regions.add(JUWEI, "宜川路街道")
    visits.regions.add(OTHER_JUWEI, "宜川路街道")
    acc = Accounts(db)
    pw = "a-long-password"
    w = World(db, visits, acc,
              sup=acc.add("sup", pw, role="supervisor", region="宜川路街道"),
              sup_other=acc.add("sup_other", pw, role="supervisor", region="长寿路街道"),
              w1=acc.add("w1", pw, role="worker", region="宜川路街道"),
              w2=acc.add("w2", pw, role="worker", region="宜川路街道"),
              admin=acc.add("admin", pw, role="admin"))
    yield w
    db.close()
