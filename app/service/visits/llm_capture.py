"""Quick capture with the LLM, only where the operator allows residents' data to reach it
(``SHEGONG_VISIT_LLM_ALLOWED``; off by default even with an LLM configured).

The note is masked first: ID and mobile numbers, the household's member names and its address
become placeholders. The model's reply must be one JSON object of the record's fields; anything
else is ignored and the offline draft stands. The offline draft keeps the last word on risk: a risk
sign it found stays, whatever the model says, and the note is treated as data (the prompt says so,
and nothing the model returns is run or followed, only checked field by field).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from app.core.text import mask_pii
from app.rag.llm import LLMAnswerer, LLMError, prompt
from app.service.visits.capture import Draft
from app.service.visits.people import METHODS, NEED_CATEGORIES

CAPTURE_PROMPT = "capture.v1"
_WEEKDAYS = "一二三四五六日"
_FORMS_OF_ADDRESS = r"(?:阿姨|阿婆|老伯|老伯伯|师傅|奶奶|爷爷|大爷|大妈|老太|老先生|阿叔|叔叔|伯伯|婆婆|先生|女士|老师)"


def mask_note(note: str, names: list[str], address_parts: list[str]) -> str:
    text = mask_pii(note)[0]
    text = re.sub(r"1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}|\b\d{7,8}\b", "[号码]", text)
    for n in sorted({x for x in names if len(x) >= 2}, key=len, reverse=True):
        text = text.replace(n, "[居民]")
        if len(n) >= 3:
            text = text.replace(n[1:], "[居民]")  # the given name alone
        text = re.sub(re.escape(n[0]) + _FORMS_OF_ADDRESS, "[居民]", text)  # 王阿姨, 王老伯
    text = re.sub(r"\d+\s*(?:号楼|号|幢|栋)\s*\d+\s*室?", "[地址]", text)
    for part in sorted({x for x in address_parts if len(x) >= 2}, key=len, reverse=True):
        text = text.replace(part, "[地址]")
    return text


def _parse(reply: str) -> dict[str, Any] | None:
    m = re.search(r"\{.*\}", reply, flags=re.S)
    if not m:
        return None
    try:
        data = json.loads(m.group(0))
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def refine(draft: Draft, masked_note: str, day: dt.date, llm: LLMAnswerer) -> tuple[Draft, bool]:
    """The draft with the model's fields where they pass the checks; (draft, used the model)."""
    text = prompt(CAPTURE_PROMPT).format(note=masked_note[:3000], today=day.isoformat(),
                                         weekday=_WEEKDAYS[day.weekday()])
    try:
        data = _parse(llm.complete(text))
    except LLMError:
        return draft, False
    if data is None:
        return draft, False
    if data.get("method") in METHODS:
        draft.method = data["method"]
    if isinstance(data.get("met"), bool):
        draft.met = data["met"]
    needs = [{"category": n["category"], "text": str(n.get("text", ""))[:300]} for n in data.get("needs") or []
             if isinstance(n, dict) and n.get("category") in NEED_CATEGORIES]
    if needs:
        draft.needs = needs
    fus = []
    for f in data.get("followups") or []:
        if not isinstance(f, dict) or not str(f.get("item", "")).strip():
            continue
        due = str(f.get("due_on") or "")
        try:
            if due and dt.date.fromisoformat(due) < day - dt.timedelta(days=1):
                due = ""
        except ValueError:
            due = ""
        fus.append({"item": str(f["item"])[:300], "owner": "", "due_on": due})
    if fus:
        draft.followups = fus
    if isinstance(data.get("referral"), str):
        draft.referral = data["referral"][:100] or draft.referral
    return draft, True
