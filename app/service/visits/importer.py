"""Importing a roster (花名册) from ``.xlsx`` or ``.csv``: map the columns, check every row, show a
preview, then import the good rows or none. One row per person; rows with the same address are one
household. A re-import updates households by address instead of duplicating them. The import runs in
one transaction: nothing is ever half written.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from app.core.errors import ValidationError
from app.service.accounts import User
from app.service.db import ServiceDB
from app.service.tables import households, users
from app.service.visits.access import Access, AccessLog
from app.service.visits.people import STATUSES, address_key, clean_id_card, clean_phone
from app.service.visits.roster import HouseholdIn, MemberIn, Roster
from app.service.visits.sheets import is_formula_like, read_rows

# field -> header names seen in district rosters (matched after removing spaces and "（）")
FIELDS: dict[str, tuple[str, ...]] = {
    "juwei": ("居委", "居委会", "居民区", "所属居委", "社区", "居村委"),
    "xiaoqu": ("小区", "小区名称", "小区名", "弄"),
    "building": ("楼", "楼号", "幢", "栋", "楼栋", "号楼", "幢号"),
    "room": ("室", "室号", "房号", "门牌", "门牌号", "房间号"),
    "address": ("地址", "住址", "家庭住址", "详细地址"),
    "worker": ("社工", "负责社工", "包户社工", "走访社工", "责任社工", "社工账号"),
    "tags": ("标签", "户标签", "类别", "户类别", "重点类别"),
    "status": ("状态", "居住状态", "户状态"),
    "status_on": ("状态日期", "变更日期", "去世日期", "搬离日期"),
    "notes": ("备注", "户备注", "情况说明"),
    "name": ("姓名", "成员姓名", "户主", "户主姓名", "居民姓名"),
    "relation": ("关系", "与户主关系", "成员关系"),
    "birth_year": ("出生年份", "出生年", "出生年月", "出生日期", "生日"),
    "phone": ("电话", "手机", "手机号", "联系电话", "电话号码", "联系方式"),
    "id_card": ("身份证", "身份证号", "身份证号码", "证件号码"),
    "member_tags": ("成员标签", "个人标签", "本人标签"),
    "member_notes": ("成员备注", "个人备注"),
}
FIELD_NAMES = {"juwei": "居委", "xiaoqu": "小区", "building": "楼", "room": "室", "address": "地址", "worker": "社工",
               "tags": "标签", "status": "状态", "status_on": "状态日期", "notes": "备注", "name": "姓名",
               "relation": "关系", "birth_year": "出生年份", "phone": "电话", "id_card": "身份证号",
               "member_tags": "成员标签", "member_notes": "成员备注"}
_ADDRESS = re.compile(r"^(?P<xiaoqu>.*?)(?P<building>\d+)\s*(?:号楼|号|幢|栋)\s*(?P<room>\d+)\s*室?$")
_SPLIT_TAGS = re.compile(r"[、,，;；/\s]+")


def _norm_header(h: str) -> str:
    return re.sub(r"[\s（）()*:：]", "", h)


def guess_mapping(header: list[str]) -> dict[str, str]:
    """{column header: field} for the headers we recognise."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for h in header:
        n = _norm_header(h)
        for f, names in FIELDS.items():
            if f not in taken and n in names:
                out[h] = f
                taken.add(f)
                break
    return out


@dataclass
class RowResult:
    row: int  # the sheet's row number (the header is row 1)
    address: str
    name: str
    errors: list[str] = field(default_factory=list)


@dataclass
class Preview:
    mapping: dict[str, str]
    unmapped: list[str]
    rows: list[RowResult]
    households: OrderedDict[str, HouseholdIn]
    bad_households: set[str]
    existing: set[str]

    def to_dict(self, *, limit: int = 200) -> dict[str, Any]:
        bad = [r for r in self.rows if r.errors]
        good_keys = [k for k in self.households if k not in self.bad_households]
        return {
            "mapping": [{"column": c, "field": f, "field_name": FIELD_NAMES[f]} for c, f in self.mapping.items()],
            "unmapped": self.unmapped, "rows": len(self.rows), "good_rows": len(self.rows) - len(bad),
            "bad_rows": len(bad), "households": len(self.households), "good_households": len(good_keys),
            "new_households": sum(1 for k in good_keys if k not in self.existing),
            "updated_households": sum(1 for k in good_keys if k in self.existing),
            "errors": [{"row": r.row, "address": r.address, "name": r.name, "errors": r.errors} for r in bad[:limit]],
            "errors_shown": min(limit, len(bad)),
        }


class RosterImporter:
    def __init__(self, db: ServiceDB, roster: Roster, access: AccessLog, *, max_rows: int, max_bytes: int) -> None:
        self.db = db
        self.roster = roster
        self.access = access
        self.max_rows = max_rows
        self.max_bytes = max_bytes

    def preview(self, user: User, filename: str, data: bytes, mapping: dict[str, str] | None = None) -> Preview:
        scope = self.roster.require_supervisor(user)
        header, body = read_rows(filename, data, max_rows=self.max_rows, max_bytes=self.max_bytes)
        cols = guess_mapping(header)
        for col, f in (mapping or {}).items():
            if col not in header:
                raise ValidationError(f"列“{col}”不在表格中。")
            if f and f not in FIELDS:
                raise ValidationError(f"没有“{f}”这个字段（可用：{'、'.join(FIELDS)}）。")
            cols = {c: g for c, g in cols.items() if g != f}
            if f:
                cols[col] = f
            else:
                cols.pop(col, None)
        fields = set(cols.values())
        missing = []
        if "juwei" not in fields:
            missing.append("居委")
        if "room" not in fields and "address" not in fields:
            missing.append("室（或地址）")
        if "name" not in fields:
            missing.append("姓名")
        if missing:
            raise ValidationError(f"找不到必需的列：{'、'.join(missing)}。表格的列为：{'、'.join(h for h in header if h)}；"
                                  "可以在导入时指定列的对应关系。")
        index = {f: header.index(c) for c, f in cols.items()}
        tree = self.roster.regions.tree()
        tags = self.roster.tags
        with self.db.read() as conn:
            usernames = {r.username: r.disabled for r in conn.execute(select(users.c.username, users.c.disabled))}
            existing_keys = {r.address_key for r in conn.execute(select(households.c.address_key))}
        results: list[RowResult] = []
        grouped: OrderedDict[str, HouseholdIn] = OrderedDict()
        bad: set[str] = set()
        seen_people: set[tuple[str, str]] = set()
        for i, raw in enumerate(body, start=2):
            if not any(raw):
                continue

            def get(f: str, raw: list[str] = raw) -> str:
                return raw[index[f]].strip() if f in index and index[f] < len(raw) else ""

            errors: list[str] = []
            for f, j in index.items():
                v = raw[j] if j < len(raw) else ""
                if v and is_formula_like(v) and not (f == "phone" and re.fullmatch(r"\+?[\d\s-]+", v)):
                    errors.append(f"“{FIELD_NAMES[f]}”以“{v[:1].replace(chr(9), '制表符').replace(chr(13), '回车符')}”开头，可能是公式，请改成纯文字")
            juwei, xiaoqu, building, room = get("juwei"), get("xiaoqu"), get("building"), get("room")
            if not room and get("address"):
                m = _ADDRESS.match(re.sub(r"\s+", "", get("address")))
                if m:
                    xiaoqu = xiaoqu or m["xiaoqu"]
                    building, room = building or m["building"], m["room"]
                else:
                    errors.append(f"地址“{get('address')[:30]}”拆不出楼和室（应如“某某小区5号楼302室”）")
            if not juwei:
                errors.append("缺少居委")
            elif juwei not in tree:
                errors.append(f"居委“{juwei}”不在地区表中")
            elif not scope.covers_juwei(juwei):
                errors.append(f"居委“{juwei}”不在您的管辖范围内")
            if not room:
                errors.append("缺少室号")
            name = get("name")
            if not name:
                errors.append("缺少姓名")
            phone = ""
            try:
                phone = clean_phone(get("phone"))
            except ValueError as exc:
                errors.append(str(exc))
            id_card = ""
            if self.roster.store_id_card:
                try:
                    id_card = clean_id_card(get("id_card"))
                except ValueError as exc:
                    errors.append(str(exc))
            htags: list[str] = []
            mtags: list[str] = []
            for source, target in ((get("tags"), htags), (get("member_tags"), mtags)):
                for t in _SPLIT_TAGS.split(source):
                    if not t:
                        continue
                    if t in tags:
                        target.append(tags.canonical(t))
                    else:
                        errors.append(f"未知的标签“{t}”")
            status = get("status") or "在住"
            if status not in STATUSES:
                errors.append(f"状态“{status}”无效（应为 {'、'.join(STATUSES)}）")
            worker = get("worker")
            if worker and (worker not in usernames or usernames[worker]):
                errors.append(f"没有可用的社工账号“{worker}”")
            year_raw = get("birth_year")
            year = None
            if year_raw:
                m2 = re.match(r"^(19\d\d|20\d\d)", year_raw)
                if m2:
                    year = int(m2.group(1))
                else:
                    errors.append(f"出生年份“{year_raw[:12]}”无效")
            key = address_key(juwei, xiaoqu, building, room)
            person = (key, name)
            if name and person in seen_people:
                errors.append("同一地址下这个人出现了两次（重复行）")
            seen_people.add(person)
            addr = f"{xiaoqu}{building}{'号楼' if building and building[-1].isdigit() else ''}{room}"
            results.append(RowResult(i, addr, name, errors))
            if errors:
                bad.add(key)
                continue
            member = MemberIn.model_construct(name=name, relation=get("relation"), birth_year=year, phone=phone,
                                              id_card=id_card, tags=mtags, notes=get("member_notes"))
            h = grouped.get(key)
            if h is None:
                grouped[key] = HouseholdIn.model_construct(
                    juwei=juwei, xiaoqu=xiaoqu, building=building, room=room, worker=worker, tags=htags,
                    status=status, status_on=get("status_on"), notes=get("notes"), members=[member])
            else:
                h.members.append(member)
                h.tags = h.tags + [t for t in htags if t not in h.tags]
        for key in bad:
            grouped.setdefault(key, HouseholdIn.model_construct(juwei="", members=[]))
        unmapped = [h for h in header if h and h not in cols]
        return Preview(cols, unmapped, results, grouped, bad, existing_keys)

    def commit(self, user: User, filename: str, data: bytes, *, mode: str = "good",
               mapping: dict[str, str] | None = None) -> dict[str, Any]:
        """``mode='good'`` imports the households whose rows are all good; ``'all'`` imports only
        when every row is good, else nothing."""
        if mode not in ("good", "all"):
            raise ValidationError("导入方式只能是 good（只导入没有错误的行）或 all（全部无误才导入）。")
        p = self.preview(user, filename, data, mapping)
        summary = p.to_dict()
        if mode == "all" and p.bad_households:
            return {**summary, "imported": False, "created": 0, "updated": 0,
                    "message": f"有 {summary['bad_rows']} 行有错误，按“全部无误才导入”的要求，没有导入任何内容。"}
        scope = self.roster.scope(user)
        created = updated = 0
        ids: list[int] = []
        tree = self.roster.regions.tree()
        with self.db.tx() as conn:
            for key, h in p.households.items():
                if key in p.bad_households:
                    continue
                hid, new = self.roster.upsert_in(conn, scope, h, tree=tree)
                ids.append(hid)
                created += new
                updated += not new
            self.access.record(user, Access.IMPORT, "roster", ids, {"created": created, "updated": updated,
                                                                    "skipped_rows": summary["bad_rows"]}, conn=conn)
        return {**summary, "imported": True, "created": created, "updated": updated,
                "message": f"已导入 {created + updated} 户（新增 {created}，更新 {updated}）"
                           + (f"；{summary['bad_rows']} 行有错误未导入" if summary["bad_rows"] else "") + "。"}
