"""Text cleaners: pure ``str -> str`` functions that turn scraped pages into clean Simplified Chinese.

Each cleaner does one thing and is tested on the real files in ``../shared/seeds``. :func:`clean`
runs them in order and counts what each one changed, so ingest can report it per file.

>>> clean("關(guān)於加強(qiáng)社區(qū)工作").text
'关于加强社区工作'
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from app.core.text import CJK, CJK_CHAR, fullwidth_alnum_to_halfwidth, mask_pii, normalize_whitespace, to_simplified

# Bump when cleaning output changes, so that re-ingest refreshes documents cleaned by older code.
CLEANER_VERSION = "1"


_CJK_CHAR = CJK_CHAR
SENTENCE_END = "。！？；…!?;"
_CLOSERS = "”’」』）》】"


@dataclass
class Cleaned:
    """The cleaned text and how many changes each cleaner made."""

    text: str
    counts: Counter[str] = field(default_factory=Counter)


# --------------------------------------------------------------------------------------------
# Known artifacts, from a reviewed table. Each entry was checked by hand against the seeds.
# --------------------------------------------------------------------------------------------

# Mojibake left where a page was decoded with the wrong codec: the sequence is lossy, so the
# original words are restored from context (seed 004, a Traditional text with pinyin after each
# character). Keys are matched on the raw text, before pinyin is stripped.
MOJIBAKE_FIXES: dict[str, str] = {
    "德才兼?zhèn)?": "德才兼備",
    "?!啊癙ART": "。PART",
    "?!啊凹訌?qiáng)": "。加強(qiáng)",
    "?!啊敖⒔∪鐓^(qū)": "。建立健全社區(qū)",
    "日??记?、": "日常考勤、",
    "??己私Y(jié)果": "考核結(jié)果",
    "當(dāng)?shù)爻擎?zhèn)": "當(dāng)地城鎮(zhèn)",
    "當(dāng)?shù)厥聵I(yè)": "當(dāng)地事業(yè)",
    "當(dāng)?shù)亟?jīng)濟(jì)": "當(dāng)地經(jīng)濟(jì)",
    "??紤]": "考慮",
}

# Artifacts of a word-by-word "converter" that a reposting site ran over seed 002 (it maps
# 服务->效劳, 则->那么, 规范->标准 ...). Only phrases that are wrong in every context are listed,
# so that correct text passes through unchanged.
CONVERTER_FIXES: dict[str, str] = {
    "效劳": "服务",
    "原那么": "原则",
    "标准选拔": "规范选拔",
    "标准和创新": "规范和创新",
    "标准笔试": "规范笔试",
    "考核评议等体质": "考核评议等体制",
    "国家成认": "国家承认",
    "宣传煽动": "宣传鼓动",
    "民政局部对": "民政部门对",
    "“三支一扶〞方案": "“三支一扶”计划",
    "“一社区一名大学生〞方案": "“一社区一名大学生”计划",
    "(-)": "（一）",
    "（-）": "（一）",
}

# --------------------------------------------------------------------------------------------
# Boilerplate
# --------------------------------------------------------------------------------------------

# A whole line that is site furniture (navigation, share buttons, upload info, page markers).
_BOILERPLATE_LINE = re.compile(
    r"""^\s*(?:
        \d+/\d+                                   # "1/0" page counters
      | 分享|图片|转藏.*|发表|评论|举报|客服|继续了解|展开阅读全文|相关资源|猜你喜欢|相关搜索
      | 下载\s*相关\s*举报 | \d+条评论 | 0/\d+ | 提交评论 | 最新文档 | 文档简介 | 资源描述
      | 确认删除[?？] | 机构认证 | 内容提供者 | 为您提供优质文档.* | 笔杆子文秘
      | 来源[:：].{0,20} | 上传人[:：].* | 当前位置[:：].* | 经营许可证编号.* | copyright.* | 版权所有.*
      | 请遵守用户\s*评论公约 | 类似文章\s*更多 | 温馨提示 | 评论
      | 版权说明[:：].* | 版權說明[:：].*
      | 第\s*\d+\s*页\s*/\s*共\s*\d+\s*页
      | .*\.(?:docx?|pdf|pptx?)_第\d+页
      | 亲,?，?该文档总共.*
      | 《[^》]+》由会员分享.*
      | 联系人[:：].* | 联系电话[:：].* | 地\s*址[:：].* | 邮\s*箱[:：].* | 客服邮箱[:：]?.*
      | [\w.+-]+@[\w-]+\.[\w.]+                    # a bare e-mail address
      | \S{1,20}\s*\d{4}-\d{2}-\d{2}\s*发布于\S{0,10}   # a reposting site's byline
      | \S{0,12}\s*\d{4}-\d{2}-\d{2}(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?  # a site's dateline
    )\s*$""",
    re.VERBOSE | re.IGNORECASE,
)

# A line after which the rest of a page is the site's footer: cut from there to the end, but
# only when it stands in the last part of the text.
_TRAILER_START = re.compile(
    r"""^\s*(?:
        知识产权、免责声明以及媒体合作联系 | 【知识产权声明】 | 【免责声明】
      | 本站是提供个人知识管理的网络存储空间.* | 1、当您付费下载文档后.* | 展开阅读全文
      | 温馨提示 | 溫馨提示 | 常见问题具体如下[:：]?
    )\s*$""",
    re.VERBOSE,
)

_REPOST_MARKER = re.compile(r"-{2,}\s*本文来源于网络[^-\n]*?-{2,}")

_SLIDE_MARKERS = re.compile(r"目录CATALOGUE|目錄CATALOGUE|PART\d{2}")
_SLIDE_NUMBER_RUNS = re.compile(rf"(?<=[{CJK}。）])(?:0[1-9]){{2,}}(?:VS|\d{{0,3}})(?=[{CJK}])")

# --------------------------------------------------------------------------------------------
# Pinyin
# --------------------------------------------------------------------------------------------

_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü"
_PINYIN_ANNOT = re.compile(rf"(?<={_CJK_CHAR})\(([a-z{_TONED}]{{1,7}})\)")
_PINYIN_SYLLABLE = re.compile(r"^(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?(?:[aeiouv]{1,3})(?:ng|n|r)?$")
_STRIP_TONES = str.maketrans("āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü", "aaaaeeeeiiiioooouuuuvvvvv")


def strip_pinyin(text: str) -> tuple[str, int]:
    """Remove pinyin pasted after characters: ``關(guān)於`` -> ``關於``.

    Only parenthesised valid syllables right after a CJK character are taken, and toneless
    ones only when the text also holds toned ones, so ``社区(community)`` is left alone.
    """
    found = _PINYIN_ANNOT.findall(text)
    toned = sum(1 for s in found if any(c in _TONED for c in s))
    if not found or toned == 0:
        return text, 0
    n = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal n
        if _PINYIN_SYLLABLE.match(m.group(1).translate(_STRIP_TONES)):
            n += 1
            return ""
        return m.group(0)

    return _PINYIN_ANNOT.sub(repl, text), n


_ASCII_TO_CN = {",": "，", ":": "：", ";": "；", "?": "？", "!": "！"}
_ASCII_PUNCT_IN_CN = re.compile(
    rf"(?:(?<={_CJK_CHAR})|(?<=[”）》]))([,:;?!])(?=[ \t]*(?:{_CJK_CHAR}|[“（《(\d]|$))", re.M
)
_CN_BRACKETS = re.compile(r"〔(?!\d{4}〕)([^〔〕\n]{1,60})〕")
_ASCII_PUNCT_BEFORE_CN = re.compile(rf"(?<=[\d%])([,;])(?={_CJK_CHAR})")
_ASCII_PARENS = re.compile(rf"\(([^()\n]{{0,40}}{_CJK_CHAR}[^()\n]{{0,40}})\)")


def chinese_punctuation(text: str) -> tuple[str, int]:
    """ASCII punctuation used inside Chinese text becomes Chinese punctuation.

    ``我们,你们`` -> ``我们，你们``; ``(一)`` -> ``（一）``; ``〔县〕`` -> ``（县）`` (but a document
    number's year ``〔2015〕`` keeps its brackets); ``〞`` -> ``”``. English text is left alone.
    """
    n = 0

    def paren(m: re.Match[str]) -> str:
        nonlocal n
        n += 1
        return f"（{m.group(1)}）"

    text = _ASCII_PARENS.sub(paren, text)
    text = _CN_BRACKETS.sub(paren, text)
    for old, new in (("〞", "”"), ("〝", "“")):
        if old in text:
            n += text.count(old)
            text = text.replace(old, new)

    def swap(m: re.Match[str]) -> str:
        nonlocal n
        n += 1
        return _ASCII_TO_CN[m.group(1)]

    text = _ASCII_PUNCT_IN_CN.sub(swap, text)
    text = _ASCII_PUNCT_BEFORE_CN.sub(swap, text)
    return text, n


_LOST_TITLE = re.compile(
    rf"\?((?:中华人民共和国)?{_CJK_CHAR}{{1,24}}?(?:法|条例|办法|意见|规定|通知|决定|规划|纲要|方案|细则|规则|章程))\?"
)


def restore_title_marks(text: str) -> tuple[str, int]:
    """Title marks lost to ``?``: ``按照?劳动法?`` -> ``按照《劳动法》``."""
    return _LOST_TITLE.subn(r"《\1》", text)


def apply_table(text: str, table: dict[str, str]) -> tuple[str, int]:
    """Replace each key of a reviewed table by its value; returns the number of replacements."""
    n = 0
    for old, new in table.items():
        if old in text:
            n += text.count(old)
            text = text.replace(old, new)
    return text, n


_REPEATED_HEAD = re.compile(rf"^({_CJK_CHAR}[^\n。，]{{7,60}}?)\1+", re.M)
_FILE_NAME_LINE = re.compile(r"^(.{4,80}?)\.(?:docx?|pdf|txt|pptx?|wps)$", re.M | re.I)


def remove_repeated_titles(text: str) -> tuple[str, int]:
    """A title pasted twice or more in front of a paragraph (``意见关于…意见为贯彻``) kept once,
    on its own line; a first line that is a file name (``办法.docx``) loses its suffix."""
    text, n1 = _REPEATED_HEAD.subn(r"\1\n", text)
    text, n2 = _FILE_NAME_LINE.subn(r"\1", text)
    return text, n1 + n2


def remove_repost_markers(text: str) -> tuple[str, int]:
    """``---本文来源于网络,仅供参考...---`` removed even in mid-sentence."""
    return _REPOST_MARKER.subn("", text)


def remove_slide_markers(text: str) -> tuple[str, int]:
    """Slide-deck furniture (``PART03``, ``目录CATALOGUE``, ``010203``) becomes a break."""
    text, n1 = _SLIDE_MARKERS.subn("\n", text)
    text, n2 = _SLIDE_NUMBER_RUNS.subn("", text)
    return text, n1 + n2


def cut_trailer(text: str) -> tuple[str, int]:
    """Cut a site footer (disclaimers, FAQ, 'related documents') from its first line to the end."""
    lines = text.split("\n")
    total = len(text)
    pos = 0
    for i, line in enumerate(lines):
        if _TRAILER_START.match(line) and pos >= total * 0.3:
            return "\n".join(lines[:i]), len(lines) - i
        pos += len(line) + 1
    return text, 0


def remove_boilerplate_lines(text: str) -> tuple[str, int]:
    """Drop lines that are site furniture: share links, upload info, contact lines, page markers."""
    kept = []
    n = 0
    for line in text.split("\n"):
        if line.strip() and _BOILERPLATE_LINE.match(line.strip()):
            n += 1
            continue
        kept.append(line)
    return "\n".join(kept), n


_PAGE_START = re.compile(r"^(\d{1,3})、")


def remove_page_numbers(text: str) -> tuple[str, int]:
    """Page numbers that a document site pasted at the start of each page (``\\n\\n2、会、新业态``).

    They are told from list numbers by running 1, 2, 3 ... at paragraph starts where the
    paragraph before does not end a sentence; the split sentence is then rejoined.
    """
    paras = text.split("\n")
    idx = [i for i, p in enumerate(paras) if _PAGE_START.match(p)]
    # find the longest run of consecutive numbers 1..k
    expected = 1
    run: list[int] = []
    for i in idx:
        num = int(_PAGE_START.match(paras[i]).group(1))  # type: ignore[union-attr]
        if num == expected:
            run.append(i)
            expected += 1
    if len(run) < 3:
        return text, 0
    broken = 0
    for i in run[1:]:
        prev = _previous_text_line(paras, i)
        if prev is not None and paras[prev].rstrip() and paras[prev].rstrip()[-1] not in SENTENCE_END + _CLOSERS:
            broken += 1
    if broken < (len(run) - 1) / 2:  # mostly complete sentences: a real numbered list
        return text, 0
    n = 0
    for i in run:
        paras[i] = _PAGE_START.sub("", paras[i], count=1)
        n += 1
        prev = _previous_text_line(paras, i)
        open_sentence = prev is not None and paras[prev].rstrip()[-1:] not in SENTENCE_END + _CLOSERS + "：:"
        if prev is not None and open_sentence and re.search("[，、；。]", paras[prev]):
            paras[prev] = paras[prev].rstrip() + paras[i].lstrip()
            paras[i] = "\x00"
            for j in range(prev + 1, i):
                paras[j] = "\x00"  # the blank lines in between go too
    return "\n".join(p for p in paras if p != "\x00"), n


def _previous_text_line(lines: list[str], i: int) -> int | None:
    j = i - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    return j if j >= 0 else None


_HEADING_LINE = re.compile(
    r"^(?:#{1,6}\s|第[一二三四五六七八九十百零〇\d]+[章节条部分]|[一二三四五六七八九十]+、|（[一二三四五六七八九十]+）|\d+[.、．]\s*\S)"
)


def rejoin_broken_lines(text: str) -> tuple[str, int]:
    """Lines broken in mid-sentence (a PDF's line ends) are joined again.

    A line is continued when it does not end a sentence, is long enough to be body text, and the
    next line starts with Chinese text that is not a heading or list item.
    """
    lines = text.split("\n")
    out: list[str] = []
    n = 0
    for line in lines:
        if out and _continues(out[-1].rstrip(), line.strip()):
            out[-1] = out[-1].rstrip() + line.strip()
            n += 1
            continue
        out.append(line)
    return "\n".join(out), n


def _continues(prev: str, cur: str) -> bool:
    """Does ``cur`` continue the sentence that ``prev`` left open?"""
    if not prev or not cur or _HEADING_LINE.match(cur):
        return False
    if not re.match(rf"{_CJK_CHAR}|[“《（\d]", cur):
        return False
    if prev[-1] in "，、（“《":
        return True
    # body text (it has clause punctuation) that stops on a character, not a title or heading
    return len(prev) >= 15 and re.match(_CJK_CHAR, prev[-1]) is not None and bool(re.search("[，、；。,]", prev))


# --------------------------------------------------------------------------------------------
# Pipeline
# --------------------------------------------------------------------------------------------

_STEPS = (
    ("whitespace", normalize_whitespace),
    ("mojibake", lambda t: apply_table(t, MOJIBAKE_FIXES)),
    ("pinyin", strip_pinyin),
    ("traditional", to_simplified),
    ("fullwidth", fullwidth_alnum_to_halfwidth),
    ("repost_marker", remove_repost_markers),
    ("title_marks", restore_title_marks),
    ("trailer", cut_trailer),
    ("boilerplate", remove_boilerplate_lines),
    ("slide_marker", remove_slide_markers),
    ("page_marker", remove_page_numbers),
    ("repeated_title", remove_repeated_titles),
    ("punctuation", chinese_punctuation),
    ("converter_artifact", lambda t: apply_table(t, CONVERTER_FIXES)),
    ("broken_line", rejoin_broken_lines),
)


def clean(text: str, *, mask: bool = True) -> Cleaned:
    """Run every cleaner in order; ``counts`` holds what each changed (zero counts omitted)."""
    counts: Counter[str] = Counter()
    for name, step in _STEPS:
        text, n = step(text)  # type: ignore[operator]
        if n:
            counts[name] += n
    if mask:
        text, n = mask_pii(text)
        if n:
            counts["pii"] += n
    text, _ = normalize_whitespace(text)
    return Cleaned(text=text, counts=counts)
