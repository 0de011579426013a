"""`xuefa roster import` as an administrator runs it."""

from click.testing import CliRunner
from sqlalchemy import func, select

from grading.records.db import session_scope
from grading.records.models import Learner
from hub_config.cli import main
from tests.conftest import free_port

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


def _people(data):
    with session_scope(f"sqlite:///{data / 'records.sqlite'}") as s:
        return sorted((p.username, p.name, p.unit.path, p.active) for p in s.scalars(select(Learner)))


def _run(*args):
    return CliRunner().invoke(main, ["roster", "import", *map(str, args)])


def test_bad_gbk_reimport_leaves_existing_people_untouched(tmp_path):
    data = tmp_path / "data"
    (tmp_path / "ok.csv").write_text(GOOD, encoding="utf-8")
    assert _run(tmp_path / "ok.csv", "--data-dir", data).exit_code == 0
    before = _people(data)
    # zhangsan moves and a new person has a bad phone: the whole file is refused
    bad = ("账号,姓名,单位,身份,角色,手机\n"
           "zhangsan,张三,海安市/海安街道,干部,学员,\n"
           "wangwu,王五,海安市/城东镇,干部,学员,1234567\n")
    (tmp_path / "bad.csv").write_bytes(bad.encode("gbk"))
    result = _run(tmp_path / "bad.csv", "--data-dir", data)
    assert result.exit_code == 1
    assert "第3行 [手机]" in result.output and "1234567" in result.output
    assert _people(data) == before


def test_dry_run_and_no_running_hub(tmp_path):
    data = tmp_path / "data"
    (tmp_path / "ok.csv").write_text(GOOD, encoding="utf-8")
    dry = _run(tmp_path / "ok.csv", "--dry-run", "--data-dir", data)
    assert dry.exit_code == 0 and "试运行" in dry.output and "新增 1" in dry.output
    assert _people(data) == []
    # a hub that ran once left its URL and token behind but no longer answers
    (data / "hub" / "hub_url").write_text(f"http://127.0.0.1:{free_port()}/hub/api")
    (data / "hub" / "api_token").write_text("stale")
    real = _run(tmp_path / "ok.csv", "--data-dir", data)
    assert real.exit_code == 0 and "下次启动时载入" in real.output
    assert _people(data) == [("zhangsan", "张三", "海安市/城东镇", True)]
