"""`xuefa roster import` and people missing from the file: kept by default, a preview of who would
go, never the last administrator."""

from click.testing import CliRunner
from sqlalchemy import select

from grading.records.db import session_scope
from grading.records.models import Learner
from hub_config.cli import main

FULL = ("账号,姓名,单位,身份,角色\n"
        "boss,赵六,海安市,干部,管理员\n"
        "zhangsan,张三,海安市/城东镇,干部,学员\n"
        "lisi,李四,海安市/城东镇,干部,学员\n"
        "wangwu,王五,海安市/西场镇,干部,学员\n")
PARTIAL = "账号,姓名,单位,身份,角色\nzhangsan,张三,海安市/城东镇,干部,学员\n"


def run(tmp_path, text, *options):
    (tmp_path / "r.csv").write_text(text, encoding="utf-8")
    return CliRunner().invoke(main, ["roster", "import", str(tmp_path / "r.csv"), *options,
                                     "--data-dir", str(tmp_path / "data")])


def active(tmp_path):
    with session_scope(f"sqlite:///{tmp_path / 'data' / 'records.sqlite'}") as s:
        return {p.username for p in s.scalars(select(Learner).where(Learner.active.is_(True)))}


def test_missing_people_stay_unless_asked_and_the_preview_names_them(tmp_path):
    assert run(tmp_path, FULL).exit_code == 0
    out = run(tmp_path, PARTIAL).output
    assert "停用 0" in out and "--deactivate-missing" in out and "lisi" in out
    assert active(tmp_path) == {"boss", "zhangsan", "lisi", "wangwu"}
    preview = run(tmp_path, PARTIAL, "--dry-run", "--deactivate-missing-everywhere").output
    assert "将停用：lisi、wangwu" in preview and "保留：boss" in preview
    assert active(tmp_path) == {"boss", "zhangsan", "lisi", "wangwu"}
    out = run(tmp_path, PARTIAL, "--deactivate-missing").output  # 城东镇 only
    assert "停用：lisi" in out and active(tmp_path) == {"boss", "zhangsan", "wangwu"}
    out = run(tmp_path, PARTIAL, "--deactivate-missing-everywhere").output
    assert active(tmp_path) == {"boss", "zhangsan"}, out
