"""The demo roster for ``make run`` (``SHEGONG_VISIT_DEMO=on``): about 60 fictional households of a
fictional 居委, with visits dated relative to today, so that a newcomer sees the plan, a brief, a
record and follow-ups working at once. Every household, person, phone number and visit here is
invented (虚构); the 居委 and its households carry ``demo=1`` and say so on screen.

Two fictional worker accounts hold the households; their passwords are random and never shown
(an admin can reset one with ``shegong user passwd`` to try the worker's view).
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from app.core.errors import ValidationError
from app.service.accounts import Accounts, User
from app.service.db import ServiceDB
from app.service.tables import households
from app.service.visits.book import FollowupIn, NeedIn, VisitIn
from app.service.visits.people import today
from app.service.visits.roster import HouseholdIn, MemberIn

if TYPE_CHECKING:
    from app.service.visits import Visits

DEMO_STREET = "宜川路街道"
DEMO_JUWEI = "晨光居委（虚构示例）"
DEMO_XIAOQU = ("晨光一村（虚构）", "晨光二村（虚构）")
DEMO_WORKERS = ("示例社工小王", "示例社工小李")
_SURNAMES = "王李张刘陈杨黄赵周吴徐孙朱马胡郭林何高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁沈"
_GIVEN = ("秀英", "桂兰", "玉珍", "凤英", "建国", "国强", "志明", "金宝", "阿娣", "美华", "根宝", "丽娟", "伟民", "月娥",
          "德明", "小妹", "文华", "海林", "爱华", "永康")
_TAG_SETS: tuple[list[str], ...] = (["独居老人", "高龄"], ["独居老人"], ["高龄"], ["纯老家庭"], ["纯老家庭", "高龄"], ["残疾人"], ["低保"],
             ["低收入"], ["困难家庭", "低保"], ["重点关注"], ["失能半失能", "高龄"], [], [], ["残疾人", "低保"])
_NOTES: tuple[tuple[str, bool, str, str, list[tuple[str, str]], list[tuple[str, int]]], ...] = (
    ("入户", True, "正常", "老人精神不错，自己做饭，门口燃气检查过没问题。", [], []),
    ("电话", True, "正常", "电话问候，女儿周末会来，最近血压平稳。", [], []),
    ("入户", True, "关注", "腿脚不好上下楼吃力，想了解加装扶手。", [("住房与居住安全", "想了解加装扶手")],
     [("了解加装扶手的办理方式并回复", 5)]),
    ("入户", False, "正常", "敲门没人，邻居说去女儿家住几天。", [], [("再上门看看是否回来", 3)]),
    ("入户", True, "关注", "说最近睡不好、心情低落，子女很少来。", [("心理关爱", "希望有人多聊聊天")], [("联系志愿者定期陪聊", 7)]),
    ("电话", True, "关注", "问高龄津贴这个月怎么还没到账。", [("养老服务", "高龄津贴未到账")], [("向街道查询高龄津贴发放情况", -2)]),
    ("入户", True, "关注", "轮椅坏了出不了门，想申请新的辅具。", [("助残服务", "申请新轮椅")], [("把辅具申请表送到家里", -5)]),
)


def _phone(rng: random.Random) -> str:
    return "1390000" + f"{rng.randrange(10000):04d}"  # 虚构号码


def load_demo(visits: Visits, db: ServiceDB, *, n: int = 60, seed: int = 20261201) -> int:
    """Create the demo roster once (nothing when demo households exist); returns households made."""
    with db.read() as conn:
        if conn.execute(select(func.count()).select_from(households).where(households.c.demo == 1)).scalar_one():
            return 0
    visits.regions.add(DEMO_JUWEI, DEMO_STREET, by="demo", demo=True)
    accounts = Accounts(db)
    workers: list[User] = []
    for name in DEMO_WORKERS:
        try:
            workers.append(accounts.get(name))
        except Exception:
            workers.append(accounts.add(name, secrets.token_urlsafe(24), role="worker", region=DEMO_STREET))
    admin = User(id=0, username="demo-loader", role="admin")
    scope = visits.roster.scope(admin)
    rng = random.Random(seed)
    day = today()
    made: list[tuple[int, User, list[str]]] = []
    with db.tx() as conn:
        tree = visits.regions.tree()
        for i in range(n):
            tags = list(_TAG_SETS[i % len(_TAG_SETS)])
            worker = workers[i % len(workers)]
            surname = _SURNAMES[i % len(_SURNAMES)]
            elder = 1926 + rng.randrange(30) if tags and tags != ["低收入"] else 1960 + rng.randrange(30)
            people = [MemberIn.model_construct(name=surname + rng.choice(_GIVEN), relation="本人", birth_year=elder,
                                               phone=_phone(rng), id_card="", tags=[], notes="虚构人物")]
            if "纯老家庭" in tags or ("独居老人" not in tags and rng.random() < 0.5):
                people.append(MemberIn.model_construct(name=_SURNAMES[(i * 7) % len(_SURNAMES)] + rng.choice(_GIVEN),
                                                       relation="配偶", birth_year=elder + rng.randrange(-3, 4),
                                                       phone="", id_card="", tags=[], notes="虚构人物"))
            h = HouseholdIn.model_construct(
                juwei=DEMO_JUWEI, xiaoqu=DEMO_XIAOQU[i % 2], building=str(1 + i // 8), room=f"{1 + (i % 8) // 2}0{1 + i % 3}",
                worker=worker.username, tags=tags, status="在住", status_on="", notes="虚构示例户", members=people)
            hid, _ = visits.roster.upsert_in(conn, scope, h, demo=True, tree=tree)
            made.append((hid, worker, tags))
    for k, (hid, worker, _tags) in enumerate(made):
        for j in range(k % 3):  # 0, 1 or 2 earlier visits
            method, met, risk, note, needs, follow = _NOTES[(k + j) % len(_NOTES)]
            ago = 3 + (k * 5 + j * 17) % 40
            on = day - dt.timedelta(days=ago)
            v = VisitIn(client_id=f"demo-{hid}-{j}", household_id=hid, visited_on=on.isoformat(), method=method,
                        met=met, risk=risk, notes=note + "（虚构示例记录）",
                        needs=[NeedIn(category=c, text=t) for c, t in needs],
                        followups=[FollowupIn(item=t, due_on=(on + dt.timedelta(days=ago + d)).isoformat())
                                   for t, d in follow])
            try:
                visits.book.save(worker, v, demo=True)
            except ValidationError:
                continue
    # one urgent record, so the supervisor's view shows what urgent looks like
    hid, worker, _ = made[0]
    visits.book.save(worker, VisitIn(
        client_id=f"demo-{hid}-urgent", household_id=hid, visited_on=(day - dt.timedelta(days=1)).isoformat(),
        method="入户", met=True, risk="紧急", risk_signs=["摔倒"],
        notes="老人说前天在卫生间摔了一跤，腰疼起身困难（虚构示例记录）。",
        needs=[NeedIn(category="医疗健康", text="摔倒后腰疼，需就医")],
        followups=[FollowupIn(item="联系家庭医生上门查看", due_on=day.isoformat())]), demo=True)
    return len(made)
