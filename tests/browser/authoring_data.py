"""The trainer's material for the authoring journey (tests/browser/test_authoring.py): a 30-question
bank on 《中华人民共和国民法典》's marriage, family and succession books (15 单选 + 15 判断, 10 points
each: the new-course template's blueprint draws 5 + 5 of them), written as the trainer's ``.xlsx``
(the platform's own template layout), once with one bad row, and the two lesson questions the
trainer types in JupyterLab.

The questions are real law (a 法律明白人 course 婚姻家庭与继承): the screenshots of this journey
illustrate the authoring guide (courses/README.md). Their stems must stay unlike every shipped
course's, since validation refuses a stem another course already asks.
"""

from __future__ import annotations

import io
from pathlib import Path

LAW = "《中华人民共和国民法典》"
LAW_VERSION = "2020年公布"
TAGS_MARRIAGE = ["婚姻家庭"]
TAGS_SUCCESSION = ["继承"]


def _single(n, stem, options, key, explanation, article, tags, shuffle=True, difficulty="易"):
    q = {"id": f"q{n:02d}", "type": "single", "stem": stem, "options": options, "key": key,
         "explanation": explanation, "legal_basis": f"{LAW}{article}", "points": 10,
         "difficulty": difficulty, "tags": tags}
    if not shuffle:
        q["shuffle"] = False
    return q


def _tf(n, stem, key, explanation, article, tags, difficulty="易"):
    return {"id": f"q{n:02d}", "type": "truefalse", "stem": stem, "key": key,
            "explanation": explanation, "legal_basis": f"{LAW}{article}", "points": 10,
            "difficulty": difficulty, "tags": tags}


M, S = TAGS_MARRIAGE, TAGS_SUCCESSION
QUESTIONS = [
    _single(1, "依照民法典，男方的法定结婚年龄不得早于（  ）周岁。", ["十八", "二十", "二十二", "二十四"], "C",
            "结婚年龄，男不得早于二十二周岁，女不得早于二十周岁。", "第一千零四十七条", M, shuffle=False),
    _single(2, "依照民法典，女方的法定结婚年龄不得早于（  ）周岁。", ["十八", "二十", "二十二", "二十四"], "B",
            "结婚年龄，男不得早于二十二周岁，女不得早于二十周岁。", "第一千零四十七条", M, shuffle=False),
    _single(3, "因胁迫结婚的，受胁迫一方请求撤销婚姻，应当自胁迫行为终止之日起（  ）内提出。",
            ["三个月", "六个月", "一年", "二年"], "C",
            "请求撤销婚姻的，应当自胁迫行为终止之日起一年内提出。", "第一千零五十二条", M, shuffle=False,
            difficulty="中"),
    _single(4, "婚姻登记机关收到离婚登记申请之日起（  ）内，任何一方不愿意离婚的，可以撤回申请。",
            ["十五日", "三十日", "六十日", "九十日"], "B",
            "自婚姻登记机关收到离婚登记申请之日起三十日内，任何一方不愿意离婚的，可以撤回离婚登记申请。",
            "第一千零七十七条", M, shuffle=False, difficulty="中"),
    _single(5, "女方在怀孕期间、分娩后（  ）内，男方一般不得提出离婚。", ["六个月", "一年", "二年", "三年"], "B",
            "女方在怀孕期间、分娩后一年内或者终止妊娠后六个月内，男方不得提出离婚；女方提出离婚或者"
            "人民法院认为确有必要受理男方离婚请求的除外。", "第一千零八十二条", M, shuffle=False),
    _single(6, "父母离婚后，不满（  ）的子女，以由母亲直接抚养为原则。", ["一周岁", "两周岁", "三周岁", "八周岁"],
            "B", "离婚后，不满两周岁的子女，以由母亲直接抚养为原则。", "第一千零八十四条", M, shuffle=False),
    _single(7, "父母离婚时对抚养问题协议不成，子女已满（  ）的，应当尊重其真实意愿。",
            ["六周岁", "八周岁", "十周岁", "十二周岁"], "B",
            "子女已满八周岁的，应当尊重其真实意愿。", "第一千零八十四条", M, shuffle=False, difficulty="中"),
    _single(8, "法定继承中，下列人员属于第一顺序继承人的是（  ）。", ["兄弟姐妹", "祖父母", "父母", "外祖父母"], "C",
            "第一顺序：配偶、子女、父母；第二顺序：兄弟姐妹、祖父母、外祖父母。", "第一千一百二十七条", S),
    _single(9, "受遗赠人应当在知道受遗赠后（  ）内作出接受或者放弃受遗赠的表示。",
            ["三十日", "六十日", "九十日", "一年"], "B",
            "受遗赠人应当在知道受遗赠后六十日内作出接受或者放弃受遗赠的表示；到期没有表示的，视为放弃受遗赠。",
            "第一千一百二十四条", S, shuffle=False, difficulty="中"),
    _single(10, "继承开始后，继承人放弃继承的，应当在遗产处理前以（  ）作出放弃继承的表示。",
            ["口头形式", "书面形式", "公告形式", "任何形式"], "B",
            "继承人放弃继承的，应当在遗产处理前，以书面形式作出放弃继承的表示。", "第一千一百二十四条", S),
    _single(11, "代书遗嘱应当有（  ）见证人在场见证。", ["一个以上", "两个以上", "三个以上", "五个以上"], "B",
            "代书遗嘱应当有两个以上见证人在场见证，由其中一人代书。", "第一千一百三十五条", S, shuffle=False),
    _single(12, "遗嘱人立有数份遗嘱，内容相抵触的，以（  ）为准。", ["第一份遗嘱", "公证遗嘱", "最后的遗嘱", "自书遗嘱"],
            "C", "立有数份遗嘱，内容相抵触的，以最后的遗嘱为准。", "第一千一百四十二条", S, difficulty="中"),
    _single(13, "被继承人的子女先于被继承人死亡的，由该子女的（  ）代位继承。",
            ["配偶", "直系晚辈血亲", "兄弟姐妹", "其他第二顺序继承人"], "B",
            "被继承人的子女先于被继承人死亡的，由被继承人的子女的直系晚辈血亲代位继承。", "第一千一百二十八条", S,
            difficulty="难"),
    _single(14, "民法典规定，亲属包括配偶、血亲和（  ）。", ["姻亲", "近亲属", "家庭成员", "监护人"], "A",
            "亲属包括配偶、血亲和姻亲。", "第一千零四十五条", M),
    _single(15, "收养人应当年满（  ）周岁。", ["二十", "二十五", "三十", "三十五"], "C",
            "收养人应当同时具备的条件之一是年满三十周岁。", "第一千零九十八条", M, shuffle=False, difficulty="中"),
    _tf(16, "民法典禁止借婚姻索取财物。", True, "禁止借婚姻索取财物。", "第一千零四十二条", M),
    _tf(17, "要求结婚的男女双方可以委托亲友代为办理结婚登记。", False,
        "要求结婚的男女双方应当亲自到婚姻登记机关申请结婚登记。", "第一千零四十九条", M),
    _tf(18, "直系血亲或者三代以内的旁系血亲禁止结婚。", True,
        "直系血亲或者三代以内的旁系血亲禁止结婚。", "第一千零四十八条", M),
    _tf(19, "夫妻一方因受到人身损害获得的赔偿，属于夫妻共同财产。", False,
        "一方因受到人身损害获得的赔偿或者补偿，为夫妻一方的个人财产。", "第一千零六十三条", M, difficulty="中"),
    _tf(20, "夫妻在婚姻关系存续期间所得的工资、奖金，为夫妻的共同财产。", True,
        "夫妻在婚姻关系存续期间所得的工资、奖金、劳务报酬，为夫妻的共同财产。", "第一千零六十二条", M),
    _tf(21, "缺乏劳动能力的父母，有要求不履行赡养义务的成年子女给付赡养费的权利。", True,
        "成年子女不履行赡养义务的，缺乏劳动能力或者生活困难的父母，有要求成年子女给付赡养费的权利。",
        "第一千零六十七条", M),
    _tf(22, "离婚后，不直接抚养子女的父或者母没有探望子女的权利。", False,
        "离婚后，不直接抚养子女的父或者母，有探望子女的权利，另一方有协助的义务。", "第一千零八十六条", M),
    _tf(23, "丧偶儿媳对公婆尽了主要赡养义务的，作为第一顺序继承人。", True,
        "丧偶儿媳对公婆，丧偶女婿对岳父母，尽了主要赡养义务的，作为第一顺序继承人。", "第一千一百二十九条", S,
        difficulty="中"),
    _tf(24, "自书遗嘱由遗嘱人亲笔书写、签名即可，不必注明年、月、日。", False,
        "自书遗嘱由遗嘱人亲笔书写，签名，注明年、月、日。", "第一千一百三十四条", S),
    _tf(25, "打印遗嘱应当有两个以上见证人在场见证，遗嘱人和见证人应当在遗嘱每一页签名。", True,
        "打印遗嘱应当有两个以上见证人在场见证。遗嘱人和见证人应当在遗嘱每一页签名，注明年、月、日。",
        "第一千一百三十六条", S),
    _tf(26, "危急情况消除后，遗嘱人能够以书面形式立遗嘱的，此前所立的口头遗嘱仍然有效。", False,
        "危急情况消除后，遗嘱人能够以书面或者录音录像形式立遗嘱的，所立的口头遗嘱无效。", "第一千一百三十八条", S,
        difficulty="中"),
    _tf(27, "遗嘱应当为缺乏劳动能力又没有生活来源的继承人保留必要的遗产份额。", True,
        "遗嘱应当为缺乏劳动能力又没有生活来源的继承人保留必要的遗产份额。", "第一千一百四十一条", S),
    _tf(28, "继承开始后，继承人没有表示放弃继承的，视为放弃继承。", False,
        "继承人放弃继承的，应当在遗产处理前以书面形式表示；没有表示的，视为接受继承。", "第一千一百二十四条", S),
    _tf(29, "结婚应当男女双方完全自愿，任何组织或者个人不得加以干涉。", True,
        "结婚应当男女双方完全自愿，禁止任何一方对另一方加以强迫，禁止任何组织或者个人加以干涉。",
        "第一千零四十六条", M),
    _tf(30, "公证遗嘱由遗嘱人经公证机构办理。", True, "公证遗嘱由遗嘱人经公证机构办理。", "第一千一百三十九条", S),
]
assert len(QUESTIONS) == 30

# the bad row: question 8's answer is a letter it has no option for (sheet row 9: row 1 is the header)
BAD_QUESTION = 8
BAD_ROW = BAD_QUESTION + 1
BAD_KEY = "E"

# the lesson text the trainer writes over the template's how-to (lines of one Markdown cell)
LESSON_INTRO = [
    "# 第一课 结婚、离婚与继承的基本规则",
    "",
    "本课学习民法典婚姻家庭编和继承编中与群众生活关系最密切的几条规定。"
    "每道练习题可以反复作答，点“核对答案”查看解析和法律依据。",
]

# the two questions the trainer types into lesson1.ipynb, one Markdown cell each (contract syntax)
LESSON_QUESTIONS = [
    {"id": "l1_q1", "stem": "张某与王某向婚姻登记机关申请协议离婚后，任何一方不愿意离婚的，可以在（  ）内撤回申请。",
     "markdown": [
         "【单选题 l1_q1】张某与王某向婚姻登记机关申请协议离婚后，任何一方不愿意离婚的，可以在（  ）内撤回申请。",
         "A. 十日",
         "B. 十五日",
         "C. 三十日",
         "D. 六十日",
         "答案：C",
         "解析：自婚姻登记机关收到离婚登记申请之日起三十日内，任何一方不愿意离婚的，可以撤回离婚登记申请。",
         f"法律依据：{LAW}第一千零七十七条",
         "乱序：否",
     ],
     "explanation": "自婚姻登记机关收到离婚登记申请之日起三十日内"},
    {"id": "l1_q2", "stem": "东园村村民甲病危时当着两名邻居立下口头遗嘱，病愈后能够书写却未另立遗嘱，该口头遗嘱仍然有效。",
     "markdown": [
         "【判断题 l1_q2】东园村村民甲病危时当着两名邻居立下口头遗嘱，病愈后能够书写却未另立遗嘱，该口头遗嘱仍然有效。",
         "答案：错",
         "解析：危急情况消除后，遗嘱人能够以书面或者录音录像形式立遗嘱的，所立的口头遗嘱无效。",
         f"法律依据：{LAW}第一千一百三十八条",
     ],
     "explanation": "所立的口头遗嘱无效"},
]


def bank_xlsx(bad: bool = False) -> bytes:
    """The 30 questions as the trainer's workbook, in the platform's own template layout (sheet
    题库 + 说明); ``bad``: question :data:`BAD_QUESTION`'s 答案 names an option that is not there."""
    import tempfile

    from openpyxl import load_workbook

    from grading.content.bank import parse_bank
    from grading.content.bankxlsx import COLUMNS, SHEET, export_xlsx

    with tempfile.TemporaryDirectory() as tmp:
        path = export_xlsx(parse_bank({"questions": QUESTIONS}), Path(tmp) / "题库.xlsx")
        if not bad:
            return path.read_bytes()
        wb = load_workbook(path)
        ws = wb[SHEET]
        ws.cell(row=BAD_ROW, column=COLUMNS.index("答案") + 1, value=BAD_KEY)
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()
