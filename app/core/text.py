"""Text normalisation shared by documents and questions: Unicode and whitespace, Traditional to
Simplified script, full-width letters and digits, and the masking of residents' ID and mobile
numbers. Ingest's cleaners (``ingest/cleaners.py``) run these among their document steps; a
question gets the same script and width rules before search (:func:`normalize_query`).

>>> normalize_query("關於　ＡＢＣ")
'关于 ABC'
>>> mask_pii("电话13812345678")[0]
'电话138****5678'
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_CHAR = f"[{CJK}]"
_CJK_CHAR = CJK_CHAR


def normalize_whitespace(text: str) -> tuple[str, int]:
    """Unicode NFC, no control characters, no trailing spaces, at most one blank line in a row."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff"))
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C" or ch == "\u200d")
    text = text.replace("\ufffd", "")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    # spaces between two Chinese characters are layout, not content
    text = re.sub(rf"(?<={_CJK_CHAR}) (?={_CJK_CHAR})", "", text)
    return text, 0


@lru_cache(maxsize=1)
def _t2s():  # type: ignore[no-untyped-def]
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> tuple[str, int]:
    """Traditional to Simplified with OpenCC's phrase-aware ``t2s``; returns characters changed."""
    out: str = _t2s().convert(text)
    if len(out) != len(text):  # phrase conversion can change length; count conservatively
        return out, max(1, sum(1 for a, b in zip(text, out, strict=False) if a != b))
    return out, sum(1 for a, b in zip(text, out, strict=True) if a != b)


def fullwidth_alnum_to_halfwidth(text: str) -> tuple[str, int]:
    """Full-width letters and digits (and the ideographic space) to ASCII; punctuation stays."""
    n = 0
    out = []
    for ch in text:
        o = ord(ch)
        if 0xFF10 <= o <= 0xFF19 or 0xFF21 <= o <= 0xFF3A or 0xFF41 <= o <= 0xFF5A:
            out.append(chr(o - 0xFEE0))
            n += 1
        elif ch == "\u3000":
            out.append(" ")
            n += 1
        else:
            out.append(ch)
    return "".join(out), n


_ID_CARD = re.compile(
    r"(?<![\dA-Za-z])([1-9]\d{5})((?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(\d{3}[\dXx])(?![\dA-Za-z])"
)
_MOBILE = re.compile(r"(?<![\d])(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")


def mask_pii(text: str) -> tuple[str, int]:
    """Mask resident ID-card numbers (keep region and last 4) and mobile numbers (keep 3 + 4)."""
    text, n1 = _ID_CARD.subn(lambda m: f"{m.group(1)}********{m.group(3)[-4:]}", text)
    text, n2 = _MOBILE.subn(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return text, n1 + n2


_PII_LABEL = re.compile(
    r"(?:我的|他的|她的|老人的|居民的|对方的)?(?:手机号码?|电话号码?|联系电话|手机|电话|身份证号?码?|证件号码?)"
    r"(?:是|为|：|:)?\s*$"
)


def drop_pii(text: str) -> str:
    """A question without the ID and mobile numbers a worker pasted into it (and their labels):
    they say nothing about what is asked and would only disturb retrieval."""
    for pattern in (_ID_CARD, _MOBILE):
        while m := pattern.search(text):
            head = _PII_LABEL.sub("", text[: m.start()])
            text = head + text[m.end():]
    text = re.sub(r"[（(]\s*[)）]", "", text)
    return re.sub(r"^[，,；;。\s]+", "", re.sub(r"([，,；;])[，,；;\s]+", r"\1", text))


def normalize_query(text: str) -> str:
    """What a question gets before search: the same script and width rules as documents."""
    text, _ = normalize_whitespace(text)
    text, _ = to_simplified(text)
    text, _ = fullwidth_alnum_to_halfwidth(text)
    return text.strip()


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}


def cn_number(s: str) -> int | None:
    """A number written in digits or in Chinese numerals: '12', '十二', '二十', '两', '一百零五', and
    '二〇二六' (digit by digit when there is no unit); None when ``s`` is not a number."""
    s = s.strip()
    if s.isdecimal():
        return int(s)
    if not s or any(ch not in _CN_DIGITS and ch not in _CN_UNITS for ch in s):
        return None
    if not any(ch in _CN_UNITS for ch in s):
        return int("".join(str(_CN_DIGITS[ch]) for ch in s))
    total = digit = 0
    for ch in s:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        else:
            total += (digit or 1) * _CN_UNITS[ch]
            digit = 0
    return total + digit
