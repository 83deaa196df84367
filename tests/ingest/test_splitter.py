"""Chinese-aware splitting: headings, sentence ends, size, overlap, stable ids."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from ingest.cleaners import clean
from ingest.splitter import split_text

POLICY = """# 关于加强社区工作者队伍建设的意见

一、主要目标
到2025年，持证比例不低于30%。每个社区至少配备1名社会工作师。

二、选拔任用
（一）拓宽渠道
鼓励高校毕业生到社区工作。对持证人员可优先聘用。
（二）统一招录
招聘工作以区为单位，按照公开招聘、竞争上岗的原则进行。

第五条 社区工作者每年参加培训不少于7天。
"""


class TestSplitText:
    def test_list_items_and_table_rows_keep_their_lines(self) -> None:
        text = ("## 申请路径\n\n1. 向街道办事处提出。\n2. 区民政部门审批；\n\n"
                "| 事 | 去哪里 |\n| --- | --- |\n| 低保 | 受理中心 |\n\n- 不要垫钱。\n- 不要替居民隐瞒收入。\n")
        (chunk,) = split_text(text, doc_id="d", title="t", size=300, overlap=0)
        assert chunk.text.split("\n") == ["1. 向街道办事处提出。", "2. 区民政部门审批；", "| 事 | 去哪里 |",
                                           "| --- | --- |", "| 低保 | 受理中心 |", "- 不要垫钱。", "- 不要替居民隐瞒收入。"]

    def test_heading_paths(self) -> None:
        chunks = split_text(POLICY, doc_id="d", title="意见", size=60, overlap=0)
        by_text = {c.text.splitlines()[-1]: c.heading for c in chunks}
        assert any("一、主要目标" in h for h in by_text.values())
        heads = [c.heading for c in chunks]
        assert any(h.endswith("二、选拔任用 > （二）统一招录") or "（二）统一招录" in h for h in heads)

    def test_never_cuts_inside_a_sentence(self) -> None:
        text = "".join(f"第{i}句话讲的是社区工作者的一项具体要求和条件。" for i in range(40))
        chunks = split_text(text, doc_id="d", title="t", size=120, overlap=30)
        for c in chunks:
            assert c.text.endswith("。")
            assert len(c.text) <= 120
            assert re.match(r"^第\d+句", c.text), c.text[:10]

    def test_overlap_repeats_whole_sentences(self) -> None:
        text = "".join(f"句子{i:02d}内容较长一些用来测试。" for i in range(20))
        chunks = split_text(text, doc_id="d", title="t", size=80, overlap=20)
        assert len(chunks) > 2
        for a, b in itertools.pairwise(chunks):
            first_b = re.match(r"句子\d\d", b.text).group(0)  # type: ignore[union-attr]
            assert first_b in a.text  # b starts with a sentence that a ended with

    def test_long_sentence_cut_at_clauses(self) -> None:
        text = "，".join(["社区工作者要做好走访记录"] * 30) + "。"
        chunks = split_text(text, doc_id="d", title="t", size=100, overlap=0)
        assert all(len(c.text) <= 100 for c in chunks)
        assert "".join(c.text for c in chunks) == text

    def test_ids_are_stable_and_content_derived(self) -> None:
        a = split_text(POLICY, doc_id="d", title="意见", size=80, overlap=10)
        b = split_text(POLICY, doc_id="d", title="意见", size=80, overlap=10)
        assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
        assert len({c.chunk_id for c in a}) == len(a)
        other = split_text(POLICY, doc_id="e", title="意见", size=80, overlap=10)
        assert not {c.chunk_id for c in a} & {c.chunk_id for c in other}

    def test_editing_one_paragraph_keeps_other_ids(self) -> None:
        a = split_text(POLICY, doc_id="d", title="意见", size=60, overlap=0)
        b = split_text(POLICY.replace("不少于7天", "不少于10天"), doc_id="d", title="意见", size=60, overlap=0)
        changed = {c.chunk_id for c in a} ^ {c.chunk_id for c in b}
        assert len(changed) == 2  # exactly the old and the new version of one chunk

    def test_bad_parameters(self) -> None:
        with pytest.raises(ValueError):
            split_text("x", doc_id="d", title="t", size=50, overlap=50)

    def test_inline_headings_in_one_long_paragraph(self, seeds_dir: Path) -> None:
        text = clean((seeds_dir / "002_b7f0f523ab8596cc.txt").read_text(encoding="utf-8")).text
        chunks = split_text(text, doc_id="002", title="意见", size=350, overlap=60)
        # a chunk starts at the inline heading, under its parent heading
        third = [c for c in chunks if "（三）逐步推行职业资格持证上岗制度" in c.text.splitlines()[0][:20]]
        assert third and "二、规范选拔任用机制" in third[0].heading
        assert all(len(c.text) <= 350 for c in chunks)


def test_an_articles_lead_in_line_stays_in_the_text() -> None:
    """"第四十八条 有下列情形之一的，……决定：" is the article's text; splitter version 2 took it for a
    heading and the chunk lost it."""
    text = ("第四十七条 受援人应当如实陈述与法律援助事项有关的情况，及时提供证据材料。\n\n"
            "第四十八条 有下列情形之一的，法律援助机构应当作出终止法律援助的决定：\n\n"
            "（一）受援人以欺骗或者其他不正当手段获得法律援助；\n\n（二）受援人自行委托律师或者其他代理人。\n\n"
            "第四十九条\n\n申请人对决定有异议的，可以向司法行政部门提出。\n")
    chunks = split_text(text, doc_id="d", title="法律援助法", size=60, overlap=0)
    joined = "\n".join(c.text for c in chunks)
    assert "有下列情形之一的，法律援助机构应当作出终止法律援助的决定：" in joined
    # an article number standing alone on its line is still a heading
    assert any("第四十九条" in c.heading for c in chunks)
