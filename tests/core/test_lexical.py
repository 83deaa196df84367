"""The BM25 index and its overlay: a few changed documents laid over a built base score as a
full rebuild would rank them, removed chunks never come back, and the overlay survives a save."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.lexical import OVERLAY_MAX, LexicalIndex

# Written for this test: short notices of the kind a 居委 posts (fictional).
BASE = [
    ("d1", "社区食堂每天中午开放，老人凭卡就餐，八十岁以上免费。"),
    ("d2", "高龄津贴每月发放，八十周岁以上的老人可以申请。"),
    ("d3", "独居老人每周至少走访一次，发现异常及时报告。"),
    ("d4", "垃圾分类投放时间为每天早上七点到九点。"),
    ("d5", "居民办理居住证需带身份证和租房合同。"),
    ("d6", "小区电动车不得进楼道充电，违者劝离。"),
]
NEW = ("d7", "助餐服务编号4821：行动不便的老人可以申请送餐上门，每餐收费十元。")


def _index(pairs: list[tuple[str, str]], generation: int = 1) -> LexicalIndex:
    return LexicalIndex.build([t for _, t in pairs], [f"{d}-c" for d, _ in pairs], generation,
                              docs=[d for d, _ in pairs], stamps={d: "s1" for d, _ in pairs})


QUERIES = ["老人送餐上门怎么申请", "助餐服务编号4821", "高龄津贴", "八十岁老人吃饭", "电动车充电"]


def test_an_added_document_ranks_as_in_a_full_rebuild() -> None:
    base = _index(BASE)
    grown = base.with_changes({"d7"}, [("d7-c", "d7", NEW[1])], {**base.stamps, "d7": "s1"}, 2)  # type: ignore[dict-item]
    full = _index([*BASE, NEW], 2)
    assert grown is not None and sorted(grown.ids) == sorted(full.ids) and len(grown) == 7
    for q in QUERIES:
        got, want = grown.search(q, k=3), full.search(q, k=3)
        assert [c for c, _ in got] == [c for c, _ in want], q
        # the new document is scored with the rebuilt corpus's frequencies; only the mean length differs
        new = [(a, b) for (c, a), (_, b) in zip(got, want, strict=True) if c == "d7-c"]
        assert all(a == pytest.approx(b, rel=0.1) for a, b in new), q
    assert grown.search("编号4821", k=1)[0][0] == "d7-c"  # a token the base has never seen
    assert base.search("编号4821", k=5) == []  # the base itself is unchanged


def test_a_rewritten_or_removed_document_leaves_no_old_chunk() -> None:
    base = _index(BASE)
    rewritten = base.with_changes({"d2", "d6"}, [("d2-new", "d2", "高龄津贴改为每季度发放一次。")],
                                  {d: "s1" for d, _ in BASE if d != "d6"}, 2)
    assert rewritten is not None
    assert "d2-c" not in rewritten.ids and "d6-c" not in rewritten.ids and "d2-new" in rewritten.ids
    assert [c for c, _ in rewritten.search("电动车充电", k=5)] == []
    assert rewritten.search("高龄津贴", k=1)[0][0] == "d2-new"
    again = rewritten.with_changes({"d2"}, [], {d: "s1" for d, _ in BASE if d not in ("d2", "d6")}, 3)
    assert again is not None and all(not c.startswith("d2") for c in again.ids) and len(again) == 4


def test_the_overlay_is_saved_and_loaded(tmp_path: Path) -> None:
    base = _index(BASE)
    grown = base.with_changes({"d7", "d4"}, [("d7-c", "d7", NEW[1])], {"x": "y"}, 2)
    assert grown is not None
    grown.save(tmp_path / "lex")
    back = LexicalIndex.load(tmp_path / "lex")
    assert back is not None and back.generation == 2 and back.stamps == {"x": "y"}
    assert sorted(back.ids) == sorted(grown.ids) and back.overlay_size == grown.overlay_size
    for q in QUERIES:
        got, want = back.search(q, k=3), grown.search(q, k=3)
        assert [c for c, _ in got] == [c for c, _ in want] and [s for _, s in got] == pytest.approx([s for _, s in want])


def test_too_large_an_overlay_asks_for_a_rebuild() -> None:
    base = _index(BASE)
    many = [(f"n{i}", f"n{i}", f"新增通知第{i}号") for i in range(OVERLAY_MAX[0] + 1)]
    assert base.with_changes({d for _, d, _ in many}, many, {}, 2) is None
    old = LexicalIndex.build(["社区"], ["c"], 1)  # no stamps: built before they were kept
    assert not old.can_change() and old.with_changes({"d"}, [], {}, 2) is None
