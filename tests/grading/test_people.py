from grading.records import people
from grading.records.roster import import_roster

ROSTER = """账号,姓名,单位,身份,角色,手机,初始密码
zhangsan,张三,海安市/城东镇/新城社区,干部,学员,,Init-pass-1
lisi,李四,海安市/城东镇,法律明白人,学员,,Init-pass-2
boss,赵六,海安市,干部,管理员,,Init-pass-3
"""


def test_groups_cover_role_audience_and_every_unit_on_the_path(records_url, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(ROSTER, encoding="utf-8")
    assert import_roster(path, records_url).ok
    groups = people.hub_groups(records_url)
    props = people.group_properties(records_url)
    by_path = {p["path"]: name for name, p in props.items()}
    assert groups["role-learner"] == ["lisi", "zhangsan"] and groups["role-admin"] == ["boss"]
    assert groups["audience-volunteer"] == ["lisi"]
    assert groups[by_path["海安市/城东镇"]] == ["lisi", "zhangsan"]
    assert groups[by_path["海安市"]] == ["boss", "lisi", "zhangsan"]
    assert people.admins(records_url) == ["boss"]
    assert people.learner_info(records_url, "zhangsan")["unit_path"] == "海安市/城东镇/新城社区"
