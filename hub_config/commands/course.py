"""``xuefa course validate|publish|new|bank export|bank import`` and ``xuefa campaign load``."""

from __future__ import annotations

from pathlib import Path

import click

from hub_config.commands.options import data_dir_option
from hub_config.commands.roster import cli_actor


def _course_paths(names: tuple[str, ...]) -> list[Path]:
    from grading.content.courses import course_dirs, courses_dir

    if not names:
        return course_dirs()
    out = []
    for n in names:
        p = Path(n)
        if not (p.is_dir() and (p / "course.yaml").exists()):
            p = courses_dir() / n
        if not p.is_dir():
            raise click.ClickException(f"找不到课程 {n}（courses/{n}/ 不存在）")
        out.append(p)
    return out


@click.group()
def course() -> None:
    """Courses (课程): validate and publish."""


@course.command("validate")
@click.argument("courses", nargs=-1)
@click.option("--quick", is_flag=True, help="Static checks only (do not run notebooks or nbgrader).")
def validate(courses: tuple[str, ...], quick: bool) -> None:
    """Check COURSES (course ids or folders; default: every course under courses/)."""
    from grading.content.validate import validate_campaign, validate_course

    failed = 0
    for path in _course_paths(courses):
        problems = validate_course(path, execute=not quick)
        if problems:
            failed += 1
            click.echo(f"✘ {path.name}: {len(problems)} 个问题")
            for p in problems:
                click.echo(f"    {p}")
        else:
            click.echo(f"✔ {path.name}")
    if not courses:
        from grading.content.courses import courses_dir

        for plan in sorted((courses_dir() / "campaigns").glob("*.yaml")):
            problems = validate_campaign(plan)
            click.echo(("✘ " if problems else "✔ ") + f"campaigns/{plan.name}")
            for p in problems:
                click.echo(f"    {p}")
            failed += bool(problems)
    if failed:
        raise click.ClickException(f"{failed} 项未通过校验")


@course.command("publish")
@click.argument("courses", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Publish every course (workspace and courses/).")
@click.option("--skip-validate", is_flag=True, help="Do not run the static checks first.")
@data_dir_option
def publish(datadir, courses: tuple[str, ...], all_: bool, skip_validate: bool) -> None:
    """Generate and release COURSE to its audience (nbgrader) and record it.

    A course id with a folder in the trainers' workspace is published from there (always
    checked first); a folder path or a course only under courses/ from that folder. Safe to repeat: learners who already fetched the module keep their copy and answers."""
    from grading.content.publish import PublishError, publish_course
    from grading.content.validate import validate_course

    from grading.content import workspace

    if not courses and not all_:
        raise click.UsageError("give a COURSE id or --all")
    # a course id with a workspace folder is published from there (what its trainers edited),
    # never from the shipped copy, which would revert their work
    in_workspace = set(workspace.course_ids(datadir)) if datadir.workspace.is_dir() else set()
    names = tuple(sorted(in_workspace | {p.name for p in _course_paths(())})) if all_ else courses
    for name in [n for n in names if n in in_workspace]:
        res = workspace.publish(datadir, name, actor=cli_actor(), client="local")
        if not res["ok"]:
            for p in res["problems"]:
                click.echo(f"    {p}")
            raise click.ClickException(f"{name} 未通过校验，未发布")
        rep = res["report"]
        click.echo(f"已发布 published {rep.course_id}（{rep.title}，满分 {rep.max_score:g}，"
                   f"来自讲师工作区）→ {'、'.join(rep.audience)}")
    rest = tuple(n for n in names if n not in in_workspace)
    for path in _course_paths(rest) if rest else []:
        if not skip_validate:
            problems = validate_course(path, execute=False)
            if problems:
                for p in problems:
                    click.echo(f"    {p}")
                raise click.ClickException(f"{path.name} 未通过校验，未发布")
        try:
            rep = publish_course(datadir, path.name, source=path, actor=cli_actor(), client="local")
        except PublishError as e:
            raise click.ClickException(str(e)) from e
        click.echo(f"已发布 published {rep.course_id}（{rep.title}，满分 {rep.max_score:g}）→ "
                   f"{'、'.join(rep.audience)}")


@course.command("new")
@click.argument("course_id", metavar="ID")
@click.option("--title", required=True, help="课程名称 (course title).")
@click.option("--audience", "audiences", multiple=True, required=True,
              help="学员类别: 干部, 年轻干部, 政法干警 or 法律明白人 (repeat for several).")
@click.option("--trainer", "trainers", multiple=True,
              help="讲师账号 listed on the course (repeat for several); they edit it in JupyterLab.")
@data_dir_option
def new(datadir, course_id: str, title: str, audiences: tuple[str, ...], trainers: tuple[str, ...]) -> None:
    """Create course ID in the trainers' workspace from the template (not yet published)."""
    from grading.content import workspace
    from grading.records import migrate

    datadir.ensure()
    migrate.upgrade(datadir.records_db_url)
    try:
        path = workspace.new_course(datadir, course_id, title, list(audiences), list(trainers),
                                    actor=cli_actor(), client="local")
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"已新建课程 {course_id}（{title}）→ {path}")
    if trainers:
        click.echo(f"讲师 {'、'.join(trainers)} 下次开启学习空间时，可在 JupyterLab 的“{workspace.LINK_DIR}/{course_id}”中编写。")


@course.group("bank")
def bank() -> None:
    """A course's question bank (题库) as an Excel workbook or a Word document."""


@bank.command("export")
@click.argument("course_name", metavar="COURSE")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The .xlsx (or .docx) file to write (it holds the keys: created 0600).")
def bank_export(course_name: str, output: Path) -> None:
    """Write COURSE's bank.yaml as an .xlsx workbook, or a Word document when OUTPUT ends in
    .docx (a course without one: the empty template)."""
    from grading.content.bank import BANK_FILE, Bank, load_bank
    from grading.content.bankdocx import export_docx
    from grading.content.bankxlsx import export_xlsx
    from grading.content.courses import FormatError, load_course

    (path,) = _course_paths((course_name,))
    try:
        b = load_bank(path) if (path / BANK_FILE).exists() else Bank([])
        if output.suffix.lower() == ".docx":
            export_docx(b, output, title=f"{load_course(path).title} 题库")
        else:
            export_xlsx(b, output)
    except (FormatError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"已导出 {path.name} 题库 {len(b.questions)} 道题 → {output}"
               + ("" if b.questions else "（空题库：模板和示例题）"))


@bank.command("import")
@click.argument("course_name", metavar="COURSE")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check FILE and show what would change; write nothing.")
def bank_import(course_name: str, file: Path, dry_run: bool) -> None:
    """Replace COURSE's bank.yaml by the bank in FILE (.xlsx, or .docx: see
    grading/content/bankdocx.py), only if the whole file is valid."""
    from grading.content.bankxlsx import BankXlsxError, import_into_course
    from grading.content.courses import FormatError

    (path,) = _course_paths((course_name,))
    try:
        rep = import_into_course(path, file, dry_run=dry_run)
    except BankXlsxError as e:
        for line in e.lines:
            click.echo(f"    {line}")
        raise click.ClickException(f"{file.name} 有 {len(e.lines)} 个问题，题库未作任何修改") from e
    except FormatError as e:
        raise click.ClickException(str(e)) from e
    verb = "检查通过（--dry-run，未写入）" if dry_run else ("已导入" if rep.written else "题库没有变化")
    click.echo(f"{verb} {path.name}：共 {len(rep.bank.questions)} 道题；{rep.summary()}")
    if not rep.has_blueprint:
        click.echo("注意：本课程的 course.yaml 还没有组卷规则 blueprint，发布前请补写（见 courses/README.md 第五节）")
    if rep.written:
        click.echo(f"下一步：xuefa course validate {path.name}")


@click.group()
def campaign() -> None:
    """Learning campaigns (学习活动)."""


@campaign.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_dir_option
def load(datadir, file: Path) -> None:
    """Create or update the campaign of FILE (courses/campaigns/<id>.yaml)."""
    from grading.content.courses import FormatError
    from grading.content.publish import PublishError, load_campaign
    from grading.content.validate import validate_campaign

    problems = validate_campaign(file)
    if problems:
        for p in problems:
            click.echo(f"    {p}")
        raise click.ClickException(f"{file} 未通过校验")
    try:
        spec = load_campaign(datadir, file, actor=cli_actor(), client="local", strict_reviewers=True)
    except (FormatError, PublishError) as e:
        raise click.ClickException(str(e)) from e
    n = sum(len(p.required) + len(p.elective) for p in spec.plans.values())
    click.echo(f"已载入 loaded {spec.id}: {spec.name}（{spec.start} 至 {spec.end}，{n} 项课程安排）")
