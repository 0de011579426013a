"""``xuefa course validate|publish`` and ``xuefa campaign load``."""

from __future__ import annotations

from pathlib import Path

import click

from hub_config.commands.options import data_dir_option


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
@click.option("--all", "all_", is_flag=True, help="Publish every course under courses/.")
@click.option("--skip-validate", is_flag=True, help="Do not run the static checks first.")
@data_dir_option
def publish(datadir, courses: tuple[str, ...], all_: bool, skip_validate: bool) -> None:
    """Generate and release COURSE to its audience (nbgrader) and record it.

    Safe to repeat: learners who already fetched the module keep their copy and answers."""
    from grading.content.publish import PublishError, publish_course
    from grading.content.validate import validate_course

    if not courses and not all_:
        raise click.UsageError("give a COURSE id or --all")
    for path in _course_paths(() if all_ else courses):
        if not skip_validate:
            problems = validate_course(path, execute=False)
            if problems:
                for p in problems:
                    click.echo(f"    {p}")
                raise click.ClickException(f"{path.name} 未通过校验，未发布")
        try:
            rep = publish_course(datadir, path.name, source=path)
        except PublishError as e:
            raise click.ClickException(str(e)) from e
        click.echo(f"已发布 published {rep.course_id}（{rep.title}，满分 {rep.max_score:g}）→ "
                   f"{'、'.join(rep.audience)}")


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
        spec = load_campaign(datadir, file)
    except (FormatError, PublishError) as e:
        raise click.ClickException(str(e)) from e
    n = sum(len(p.required) + len(p.elective) for p in spec.plans.values())
    click.echo(f"已载入 loaded {spec.id}: {spec.name}（{spec.start} 至 {spec.end}，{n} 项课程安排）")
