"""`xuefa roster import` as an administrator runs it."""

from click.testing import CliRunner
from sqlalchemy import func, select

from grading.db import session_scope
from grading.models import Learner
from hub_config.cli import main

GOOD = "账号,姓名,单位,身份,角色\nzhangsan,张三,海安市/城东镇,干部,学员\n"
BAD = GOOD + "lisi,李四,海安市/城东镇,干部,站长\n"


def test_bad_file_exits_1_names_row_and_changes_nothing(tmp_path):
    (tmp_path / "bad.csv").write_text(BAD, encoding="utf-8")
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["roster", "import", str(tmp_path / "bad.csv"), "--data-dir", str(data)])
    assert result.exit_code == 1
    assert "第3行 [角色]" in result.output and "未导入任何人员" in result.output
    with session_scope(f"sqlite:///{data / 'records.sqlite'}") as s:
        assert s.scalar(select(func.count()).select_from(Learner)) == 0


def test_good_file_imports_and_reports_generated_passwords(tmp_path):
    (tmp_path / "ok.csv").write_text(GOOD, encoding="utf-8")
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["roster", "import", str(tmp_path / "ok.csv"), "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    assert "新增 1" in result.output and "随机初始密码" in result.output and str(data / "reports") in result.output
