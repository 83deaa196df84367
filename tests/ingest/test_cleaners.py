"""Cleaners on the real, messy seed files and on text that is already correct."""

from __future__ import annotations

import re
from pathlib import Path

import opencc
import pytest

from app.core.text import fullwidth_alnum_to_halfwidth, normalize_query
from ingest import cleaners
from ingest.cleaners import clean

_T2S = opencc.OpenCC("t2s")
BOILERPLATE = (
    "知识产权", "免责声明", "媒体合作", "联系电话", "联系人", "版权所有", "版权说明", "客服", "上传人",
    "一键举报", "付费下载", "下载列表", "第1页", "共6页", "本文来源于网络", "仅供参考", "评论公约", "条评论",
    "转藏", "wenzhuxie", "biganzikefu", "ICP", "CATALOGUE", "PART0", "温馨提示", "文档编号", "由会员分享",
    "展开阅读全文", "发布于上海", "新民网2024",
)


@pytest.fixture(scope="module")
def cleaned_seeds(seeds_dir: Path) -> dict[str, str]:
    return {p.name: clean(p.read_text(encoding="utf-8")).text for p in sorted(seeds_dir.glob("*.txt"))}


class TestSeeds:
    def test_no_pinyin_left(self, cleaned_seeds: dict[str, str]) -> None:
        for name, text in cleaned_seeds.items():
            assert not re.search(r"\([a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]{1,7}\)", text), name

    def test_no_traditional_characters_left(self, cleaned_seeds: dict[str, str]) -> None:
        for name, text in cleaned_seeds.items():
            changed = [a for a, b in zip(text, _T2S.convert(text), strict=False) if a != b]
            assert changed == [], f"{name}: {changed[:10]}"

    def test_no_boilerplate_left(self, cleaned_seeds: dict[str, str]) -> None:
        for name, text in cleaned_seeds.items():
            for marker in BOILERPLATE:
                assert marker not in text, f"{name} still holds {marker!r}"

    def test_no_garbled_characters_left(self, cleaned_seeds: dict[str, str]) -> None:
        for name, text in cleaned_seeds.items():
            assert "\ufffd" not in text, name
            assert not re.search(r"[?？][!！]|啊癙|\?{2}", text), name

    def test_content_survives(self, cleaned_seeds: dict[str, str]) -> None:
        """Cleaning removes furniture, never the rules a worker asks about."""
        expect = {
            "000_9392b50e6b3d24c3.txt": ["中级高达2000元", "8项不合格的筛选标准", "智慧走四百"],
            "001_de7102a9d33e9fac.txt": ["一般500户至2000户的居民区安排5至11名", "锻炼时长一般不少于6个月"],
            "002_b7f0f523ab8596cc.txt": ["不低于30%", "全年参加集中培训累计不少于7天"],
            "003_8c96106c65a84269.txt": ["职工2000人以下的，配备社会化工会工作者1名", "每3000人配备1名"],
            "004_e46d69392c39d761.txt": ["关于加强社区工作者队伍建设的意见", "德才兼备、以德为先原则"],
        }
        for name, phrases in expect.items():
            for phrase in phrases:
                assert phrase in cleaned_seeds[name], f"{name}: {phrase}"

    def test_converter_artifacts_fixed(self, cleaned_seeds: dict[str, str]) -> None:
        text = cleaned_seeds["002_b7f0f523ab8596cc.txt"]
        assert "效劳" not in text and "原那么" not in text and "〞" not in text
        assert "《劳动法》、《劳动合同法》" in text
        assert "公开招聘、竞争上岗、择优入围”的原则" in text
        assert "（助理）社会工作师" in text

    def test_page_markers_rejoin_split_sentences(self, cleaned_seeds: dict[str, str]) -> None:
        text = cleaned_seeds["003_8c96106c65a84269.txt"]
        assert "区域和行业工会联合会、新业态工会联合会" in text
        assert "并列入本级工会经费预算" in text
        assert "（一）宣传党的路线方针政策" in text  # "(-)" was a lost "一"

    def test_repost_marker_removed_mid_sentence(self, cleaned_seeds: dict[str, str]) -> None:
        assert "从2022年起，新录用的社区工作者" in cleaned_seeds["002_b7f0f523ab8596cc.txt"]

    def test_counts_are_reported(self, seeds_dir: Path) -> None:
        c = clean((seeds_dir / "004_e46d69392c39d761.txt").read_text(encoding="utf-8"))
        assert c.counts["pinyin"] > 1000
        assert c.counts["traditional"] > 1000
        assert c.counts["mojibake"] >= 10


CORRECT = [
    "第一次上门走访独居老人，要先核对住址和紧急联系人。",
    "根据《中华人民共和国个人信息保护法》，不得随意拍照。",
    "国发〔2015〕52号文件规定了残疾人两项补贴制度。",
    "职工2000人以上的，每3000人配备1名；比例不低于30%。",
    "The meeting starts at 9:30, room 2.",
    "社区(community)服务中心",
    "规范化建设：标准化配置，服务完善。",
    "著作权归原作者所有；乾隆年间的故事。",
]


class TestCorrectTextUnchanged:
    @pytest.mark.parametrize("text", CORRECT)
    def test_unchanged(self, text: str) -> None:
        assert clean(text).text == text


class TestUnits:
    def test_pinyin_only_after_characters(self) -> None:
        assert cleaners.strip_pinyin("關(guān)於加強(qiáng)")[0] == "關於加強"
        assert cleaners.strip_pinyin("社区(community)")[0] == "社区(community)"

    def test_fullwidth_alnum_becomes_halfwidth_but_punctuation_stays(self) -> None:
        out, n = fullwidth_alnum_to_halfwidth("２０２４年ＡＩ助手，（一）《办法》！")
        assert out == "2024年AI助手，（一）《办法》！"
        assert n == 6

    def test_title_marks_restored(self) -> None:
        assert cleaners.restore_title_marks("按照?劳动法?规定")[0] == "按照《劳动法》规定"
        assert cleaners.restore_title_marks("你好?我很好?")[0] == "你好?我很好?"

    def test_ascii_punctuation_in_chinese(self) -> None:
        assert cleaners.chinese_punctuation("我们,你们:他们(一)")[0] == "我们，你们：他们（一）"

    def test_broken_lines_rejoined(self) -> None:
        text = "社区工作者要按照规定，定期走访辖区内的独居\n老人，并做好记录。\n\n二、工作要求"
        assert cleaners.rejoin_broken_lines(text)[0].startswith("社区工作者要按照规定，定期走访辖区内的独居老人，")

    def test_title_line_not_joined_to_next(self) -> None:
        text = "为社区工作者提供发展新路径全国首份集体合同出炉\n新民网2024-04-29"
        assert cleaners.rejoin_broken_lines(text)[0] == text


class TestPii:
    def test_id_card_and_mobile_masked(self) -> None:
        c = clean("居民张某，身份证号110105194912310021，电话13812345678，座机021-22899781。")
        assert "110105194912310021" not in c.text and "13812345678" not in c.text
        assert "110105********0021" in c.text and "138****5678" in c.text
        assert c.counts["pii"] == 2
        assert "021-22899781" in c.text  # office landlines are not personal data

    def test_keep_pii(self) -> None:
        assert "13812345678" in clean("电话13812345678", mask=False).text

    def test_normalize_query(self) -> None:
        assert normalize_query("  關於殘疾人兩項補貼？ＡＩ ") == "关于残疾人两项补贴？AI"
