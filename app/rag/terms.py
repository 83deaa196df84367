"""What a question asks for: its specific terms (jieba words without question words) and the kind
of answer it wants (an amount, a count, a date, a list, a procedure). The terms feed the selector's
coverage features; the kind decides how many lines an answer may take and when a guide's outline
answers a broad question.

>>> analyse("宜川路街道考取初级社工证的奖励是多少钱？").kind
'amount'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Domain words jieba would otherwise split: kept whole so that "两项补贴" is one specific term.
DOMAIN_WORDS = (
    "社区工作者", "社工", "居委会", "居民区", "独居老人", "两项补贴", "护理补贴", "生活补贴", "三岗十八级",
    "集体合同", "职工代表大会", "智慧走四百", "掌上知识库", "社工15条", "居村", "两委", "社区云", "低保",
    "低收入", "临时救助", "长护险", "老年综合津贴", "高龄津贴", "居住证", "社会工作师", "助理社会工作师",
    "社会化工会工作者", "走访", "入户走访", "试用期", "一次性奖励", "学历定制班", "残疾人", "重度残疾人",
    "家庭暴力", "人身安全保护令", "个人信息", "敏感个人信息", "奇葩证明", "12345", "宜川路街道", "浦东新区",
    "普陀区", "街镇", "镇管社区", "持证上岗", "带教老师", "职业水平考试",
)

QUESTION_WORDS = set(
    ["什么", "怎么", "怎样", "如何", "多少", "哪些", "哪个", "哪里", "哪儿", "哪", "几", "是否", "能否", "可以", "可不可以", "有没有", "有", "是", "的", "了", "吗", "呢", "吧", "啊", "请问", "请", "我", "我们", "你", "你们", "他", "她", "它", "该", "应该", "要", "需要", "需", "得", "会", "能", "对", "和", "与", "及", "或", "在", "为", "被", "给", "把", "从", "向", "到", "就", "都", "也", "还", "又", "这", "那", "这个", "那个", "这些", "那些", "其中", "上述", "以上", "一下", "一些", "时候", "什么样", "怎么办", "我该", "该怎么", "能不能", "不能", "不可以", "一点", "有点", "为什么", "干什么", "做什么", "怎么样", "多久", "多长", "几个", "几名", "几天", "几项", "几种", "几类", "哪几类", "几大类", "几方面", "分为", "分成", "具体", "一般", "主要", "相关", "情况", "问题", "规定", "要求", "内容", "方面", "呀", "么", "告诉", "说", "讲", "问", "答", "回答", "知道", "了解", "一共", "总共", "是不是", "谁", "里", "中", "上", "下", "前", "后", "时", "等"]
)

_FREQUENCY = re.compile(r"多久.{0,6}一次|多长时间.{0,6}一次|隔多久|多久(?:去|联系|走访|上门|打|看|回访)|频次|频率|多少天一次")
_AMOUNT = re.compile(r"多少钱|多少元|金额|奖金|补贴多少|奖励多少|标准是多少|发多少|领多少|给多少|费用多少")
_COUNT = re.compile(r"多少分|几分|是多少|为多少|多少名|几名|多少人|几个|多少个|多少户|几天|多少天|多久|多长时间|几年|多少年|比例|几项|多少项|几次|多少次|百分之")
_DATE = re.compile(r"什么时候|何时|哪一天|哪天|哪年|哪一年|几月|日期|什么时间|哪个月")
_WHICH_ITEMS = re.compile(r"哪(?:几|\d+|[一二两三四五六七八九十]+)(?:项|条|个|种|类|份)")  # a list, though it counts
_LIST = re.compile(r"哪些|哪几|有哪|包括什么|包含什么|几大|哪四|哪三|哪两|哪五|分别")
_PROHIBITION = re.compile(r"(?<![能可])不(?:能|可以)|不准|不许|不要|不得|不应|禁止|忌讳|禁忌|红线")
_DEFINITION = re.compile(r"怎么定义|如何定义|怎样定义|什么是|是什么意思|什么意思|指什么|指的是什么|含义|是啥")
_PROCEDURE = re.compile(r"怎么|如何|怎样|注意什么|要注意|步骤|流程|办理|申请|该怎么|应该")

@dataclass(frozen=True)
class QuestionTerms:
    text: str
    terms: tuple[str, ...]  # specific terms, longest first
    kind: str  # amount | frequency | count | date | list | procedure | fact
    prohibition: bool = False  # asks what must not be done ("哪些事情不能做"): no guide outline for it
    items: bool = False  # asks to name a counted set of items ("是哪8项", "哪几个方面"): a list answer


@lru_cache(maxsize=1)
def _general_idf() -> tuple[dict[str, float], float]:
    import jieba.analyse

    table = jieba.analyse.default_tfidf
    return table.idf_freq, table.median_idf


def general_weight(term: str) -> float:
    """How specific a word is in general Chinese (jieba's IDF table, scaled to about 0.2..1.2):
    "可能" or "一次" weigh little, "产假" or "试用期" a lot."""
    if term.isdigit() or re.match(r"[A-Za-z]", term):
        return 1.0
    idf, median = _general_idf()
    return max(0.2, min(1.2, idf.get(term, median) / 10.0))


@lru_cache(maxsize=1)
def _jieba():  # type: ignore[no-untyped-def]
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    for w in DOMAIN_WORDS:
        jieba.add_word(w, freq=200000)
    jieba.initialize()
    return jieba


def warm_up() -> None:
    """Load jieba's dictionary now rather than on the first question."""
    _jieba()


def words(text: str) -> list[str]:
    return [w for w in _jieba().lcut(text) if w.strip()]


_PUNCT = re.compile(r"[\s，。！？；：、“”‘’（）《》【】,.!?;:()\"'\-—…·/]+")


def specific_terms(text: str) -> list[str]:
    """Words that carry the question's meaning (no question words, punctuation or single
    function characters); numbers and Latin words are kept."""
    out: list[str] = []
    for w in words(text):
        w = w.strip()
        if not w or _PUNCT.fullmatch(w) or w in QUESTION_WORDS:
            continue
        if len(w) == 1 and not w.isdigit() and not re.match(r"[A-Za-z]", w):
            continue
        if w not in out:
            out.append(w)
    return out


def answer_kind(text: str) -> str:
    if _DEFINITION.search(text) and not _LIST.search(text):
        return "fact"  # "怎么定义" asks what a term means, not how to do something
    for kind, pat in (("amount", _AMOUNT), ("frequency", _FREQUENCY), ("date", _DATE), ("list", _WHICH_ITEMS),
                      ("count", _COUNT), ("list", _LIST),
                      ("procedure", _PROCEDURE)):
        if pat.search(text):
            return kind
    return "fact"


def analyse(text: str) -> QuestionTerms:
    terms = specific_terms(text)
    return QuestionTerms(text=text, terms=tuple(sorted(terms, key=len, reverse=True)), kind=answer_kind(text),
                         prohibition=bool(_PROHIBITION.search(text)), items=bool(_WHICH_ITEMS.search(text)))
