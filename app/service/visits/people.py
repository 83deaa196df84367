"""Residents' details as the visit module keeps and shows them: the household's address key, phone
numbers (checked, and masked on every screen), ID-card numbers (only when the operator keeps them),
dates in Asia/Shanghai.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

STATUSES = ("在住", "搬离", "户内无人", "已故")
METHODS = ("入户", "电话", "微信", "其他")
RISKS = ("正常", "关注", "紧急")
NEED_CATEGORIES = ("医疗健康", "生活照料", "经济困难", "住房与居住安全", "就业", "养老服务", "助残服务", "矛盾纠纷",
                   "政策咨询", "心理关爱", "其他")

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^(?:0\d{2,3})?[2-9]\d{6,7}$")
_ID_CARD = re.compile(r"^\d{17}[\dXx]$")


def today() -> dt.date:
    """Today in Asia/Shanghai, whatever the server's own zone."""
    return dt.datetime.now(SHANGHAI).date()


def parse_day(value: str, what: str = "日期") -> dt.date:
    from app.core.errors import ValidationError

    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError as exc:
        raise ValidationError(f"{what}“{value}”不是有效日期，请写成 2026-12-01 这样。") from exc


def clean_phone(raw: str) -> str:
    """Digits only ('' for none); ValueError with a Chinese reason for a number that cannot be one."""
    s = unicodedata.normalize("NFKC", str(raw or "")).strip()
    if not s:
        return ""
    digits = re.sub(r"[\s\-()（）+]", "", s)
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not digits.isdigit() or not (_MOBILE.match(digits) or _LANDLINE.match(digits)):
        raise ValueError(f"电话“{s}”不是有效的手机号或座机号")
    return digits


def mask_phone(phone: str) -> str:
    if not phone:
        return ""
    if len(phone) >= 11:
        return phone[:3] + "****" + phone[-4:]
    return "****" + phone[-4:] if len(phone) > 4 else "****"


def clean_id_card(raw: str) -> str:
    s = unicodedata.normalize("NFKC", str(raw or "")).strip().upper()
    if s and not _ID_CARD.match(s):
        raise ValueError(f"身份证号“{mask_id_card(s)}”格式不对")
    return s


def mask_id_card(s: str) -> str:
    return s[:6] + "********" + s[-4:] if len(s) >= 10 else "****"


def mask_name(name: str) -> str:
    """A name in a masked export: the surname and a star for each other character."""
    name = name.strip()
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


def _norm_part(s: str) -> str:
    s = unicodedata.normalize("NFKC", str(s or "")).strip()
    s = re.sub(r"\s+", "", s)
    return s


def address_key(juwei: str, xiaoqu: str, building: str, room: str) -> str:
    """One key per dwelling, so a re-imported roster updates instead of duplicating:
    '5号楼' and '5' and '５幢' are one building, '302室' and '302' one room."""
    b = re.sub(r"(号楼|号|幢|栋|楼)$", "", _norm_part(building))
    r = re.sub(r"(室|号)$", "", _norm_part(room))
    return "|".join((_norm_part(juwei), _norm_part(xiaoqu), b, r))


def address_text(xiaoqu: str, building: str, room: str) -> str:
    b = building.strip()
    r = room.strip()
    if b and b[-1].isdigit():
        b += "号楼"
    if r and r[-1].isdigit():
        r += "室"
    return f"{xiaoqu.strip()}{b}{r}"
