"""What a question asks for: its specific terms (jieba words without question words) and the kind
of answer it wants (an amount, a count, a date, a list, a procedure). Shared by the refusal check
and the extractive answerer.

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
_WHERE = re.compile(r"(?:去|到|在)?哪里(?:申请|办|开|交|问|登记|领|补办|反映|投诉)|哪儿办|找谁|向谁|哪个部门|什么部门|什么地方办")
_ACTION = re.compile(r"怎么办|怎么做|怎么处理|如何处理|怎么应对|如何应对|做什么|怎么答|怎么回答|怎么说")
_CATEGORIES = re.compile(r"(?:哪几|几|哪些|多少)(?:类|种|大类|种类|类型)|分为哪|分成哪|哪些类型")
_DEFINITION = re.compile(r"怎么定义|如何定义|怎样定义|什么是|是什么意思|什么意思|指什么|指的是什么|含义|是啥")
_PROCEDURE = re.compile(r"怎么|如何|怎样|注意什么|要注意|步骤|流程|办理|申请|该怎么|应该")

EVIDENCE_FOR_KIND = {
    "amount": re.compile(r"\d[\d,.]*\s*(?:万)?元|[一二三四五六七八九十百千万]+元"),
    "count": re.compile(r"\d|[一二两三四五六七八九十百千万]+(?:名|人|个|项|天|年|户|次|倍|级)|百分之"),
    "date": re.compile(r"\d{4}\s*年|\d{1,2}\s*月|\d{4}-\d{1,2}|[一二三四五六七八九十]+月"),
    "frequency": re.compile(r"每(?:天|日|周|星期|月|季|季度|年|半年|两周|半月|隔)|[一二两三四五六七八九十半\d]+(?:天|日|周|个月|月|年)(?:至少)?(?:一次|[一二两三\d]次)"),
}


@dataclass(frozen=True)
class QuestionTerms:
    text: str
    terms: tuple[str, ...]  # specific terms, longest first
    kind: str  # amount | frequency | count | date | list | procedure | fact
    focus: str | None = None  # the thing asked about: "产假" in "产假是多少天"
    prohibition: bool = False  # asks what must not be done ("哪些事情不能做")
    action: bool = False  # asks what to do about a situation ("……怎么办", "该怎么处理")
    where: bool = False  # asks where to go or whom to ask ("去哪里申请", "找谁办")
    categories: bool = False  # asks what kinds there are ("分为哪几类", "有几种")
    items: bool = False  # asks to name a counted set of items ("是哪8项", "哪几个方面")
    definition: bool = False  # asks what a term means ("三岗十八级是什么意思", "是怎么定义的")


_ASK = {"多少", "多少钱", "多少元", "多少天", "多少人", "多少名", "多少个", "几", "什么", "哪些", "哪个", "何时", "哪",
        "哪年", "哪天", "多久", "多长", "几个", "几名", "几天", "几项"}
_FOCUS_SKIP = {"是", "为", "有", "的", "每人", "每月", "每年", "每天", "标准", "规定", "具体", "一般", "大概", "大约",
               "共", "一共", "总共", "要", "需要", "能", "可以", "给", "发", "领", "拿", "调整", "以后", "之后", "平时",
               "面向", "针对", "对于", "关于", "涉及", "包括"}


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


def _nounish(word: str, flag: str) -> bool:
    if word in _FOCUS_SKIP or word in QUESTION_WORDS or len(word) < 2 or _PUNCT.fullmatch(word):
        return False
    return flag.startswith("n") or flag in ("vn", "eng", "nz", "j", "l") or word in DOMAIN_WORDS


_UNIT_NOUNS = frozenset({"钱", "元", "块", "人", "天", "年", "月", "次", "个", "名", "岁", "周", "小时", "分钟", "时间"})


def focus_term(text: str) -> str | None:
    """The thing asked about. A noun right after 多少 is what is counted ("发多少一次性奖励" ->
    一次性奖励); otherwise the noun nearest before the question word ("产假是多少天" -> 产假), else
    after it ("有多少名职工代表" -> 职工代表). Units (钱, 天) and verbs like 安排 are passed over."""
    import jieba.posseg

    _jieba()
    pairs = [(p.word, p.flag) for p in jieba.posseg.lcut(text)]
    for i, (tok, _) in enumerate(pairs):
        if tok not in _ASK:
            continue
        after = pairs[i + 1 : i + 2]
        if tok == "多少" and after and _nounish(*after[0]) and after[0][0] not in _UNIT_NOUNS:
            return after[0][0]  # 发多少一次性奖励: what is counted follows directly
        for j in range(i - 1, max(-1, i - 6), -1):
            if _nounish(*pairs[j]):
                return pairs[j][0]
        for w, flag in pairs[i + 1 : i + 4]:
            if _nounish(w, flag):
                return w
    return None


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
    focus = focus_term(text)
    return QuestionTerms(text=text, terms=tuple(sorted(terms, key=len, reverse=True)), kind=answer_kind(text),
                         focus=focus, prohibition=bool(_PROHIBITION.search(text)), action=bool(_ACTION.search(text)),
                         where=bool(_WHERE.search(text)), categories=bool(_CATEGORIES.search(text)),
                         items=bool(_WHICH_ITEMS.search(text)), definition=bool(_DEFINITION.search(text)))


def has_evidence_for_kind(kind: str, text: str) -> bool:
    pat = EVIDENCE_FOR_KIND.get(kind)
    return True if pat is None else bool(pat.search(text))
