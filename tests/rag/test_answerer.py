"""The extractive answerer's reading of passages: packed list items and table rows, labels,
"what to do" after a described situation, and "what not to do"."""

from __future__ import annotations

from app.rag.answerer import ExtractiveAnswerer, sentences_of, unpack_lines
from app.rag.retriever import Hit
from app.rag.terms import analyse


def hit(text: str, heading: str = "") -> Hit:
    return Hit("c", "d", "指南", "", "", "", None, None, None, None, "手册", heading, text, 1.0)


def test_packed_items_and_table_rows_are_unpacked() -> None:
    packed = "说明如下。- 第一项；- 第二项| 事 | 去哪里 | | --- | --- | | 低保 | 受理中心 |"
    assert unpack_lines(packed).split("\n") == ["说明如下。", "- 第一项；", "- 第二项| 事 | 去哪里 |", "| --- | --- |",
                                                "| 低保 | 受理中心 |"]


def test_a_table_row_is_one_statement_and_the_header_is_dropped() -> None:
    table = "| 居民要的证明 | 由谁出具 |\n| --- | --- |\n| 亲属关系 | 由公安户籍部门查询；需要公证的，到公证机构 |"
    assert sentences_of(table) == ["亲属关系：由公安户籍部门查询；需要公证的，到公证机构。"]


def test_bold_is_not_a_bullet_and_quoted_questions_leave_no_fragment() -> None:
    text = "**信号**：说“活着没意思”；交代后事。\n- “能领吗？”——回答：津贴面向本市户籍老人。"
    out = sentences_of(text)
    assert out[0] == "**信号**：说“活着没意思”；"
    assert "津贴面向本市户籍老人。" in out and not any(s.startswith(("——", "回答")) for s in out)


def test_what_to_do_follows_the_situation() -> None:
    text = ("**信号**：说“活着没意思”；交代后事；突然异常平静；近期有重大丧失。\n**怎么做**：\n"
            "- 认真听，不说教。\n- 有具体计划的：立即拨打110或120。\n- 告诉对方心理援助热线12356。")
    ans = ExtractiveAnswerer().answer("居民说活着没意思，我该怎么办？", [hit(text)])
    assert "110" in ans.text and "12356" in ans.text
    assert "怎么做" not in ans.text  # the label alone is never an answer line


def test_what_not_to_do_is_found_in_a_later_passage() -> None:
    first = hit("- 先聊生活，再聊收支。\n- 不要当场要求看存折。\n- 用事实问题代替评判问题。\n- 说明每户都要问。")
    second = hit("- 不要替居民隐瞒收入。\n- 不要自己垫钱或借钱给居民。\n- 不要把名单发到群里。")
    terms = analyse("去低保家庭走访，有哪些事情不能做？")
    assert terms.prohibition and not analyse("能不能换到近一点的街镇？").prohibition
    ans = ExtractiveAnswerer().answer(terms.text, [first, second], terms)
    assert "垫钱" in ans.text and "名单" in ans.text


def test_a_named_section_is_answered_in_its_own_order() -> None:
    section = hit("- 用一句话讲核心：凡是让您转账的都是骗子。\n- 告诉老人上门不收钱。\n- 帮老人设置来电拦截。",
                  heading="帮老人防诈骗 > 走访时怎么提醒")
    draft = ExtractiveAnswerer().section(section)
    assert draft.text.splitlines()[0] == "1. 用一句话讲核心：凡是让您转账的都是骗子。[1]"
    assert len(draft.sentences) == 3


def test_where_to_go_is_found_past_the_definition() -> None:
    intro = hit("临时救助是给突发困难家庭的应急救助。它的特点是救急难，临时救助覆盖不到的才用。")
    path = hit("1. **提出申请**：向所在街道办事处提出，一般通过社区事务受理服务中心受理。2. **审核审批**：由区民政部门审批。")
    terms = analyse("临时救助去哪里申请？")
    assert terms.where and not analyse("临时救助是什么？").where
    ans = ExtractiveAnswerer().answer(terms.text, [intro, path], terms)
    assert "向所在街道办事处提出" in ans.text.splitlines()[0] or "向所在街道办事处提出" in ans.text


def test_a_heading_glued_to_a_paragraph_and_self_notes_are_dropped() -> None:
    out = sentences_of("救助标准由各区规定，本文不写金额。临时救助是什么\n临时救助是应急性、过渡性的救助。")
    assert out == ["临时救助是应急性、过渡性的救助。"]


def test_a_which_kinds_question_gets_the_sentence_that_names_the_kinds() -> None:
    passage = hit("社工15条由浦东新区民政局等6部门联合印发。社区工作者是在居民区和街镇岗位工作的全日制人员，"
                  "主要包括：居民区社工、街镇中心社工和镇管社区社工三类。调整后浦东新区社工总额度约2.5万名。")
    scored = ExtractiveAnswerer().score_sentences([passage], analyse("浦东新区的社区工作者分为哪几类？"))
    assert "三类" in max(scored, key=lambda s: s.score).text


def test_a_what_does_it_mean_question_gets_the_defining_sentence() -> None:
    passage = hit("宜川路街道的集体合同明确了“三岗十八级”的晋升路径。"
                  "“三岗十八级”指社工负责人、主管、工作人员三类岗位，每类再分等级，合计十八级。")
    scored = ExtractiveAnswerer().score_sentences([passage], analyse("“三岗十八级”是什么意思？"))
    assert "负责人" in max(scored, key=lambda s: s.score).text
