"""Everything an operator can set or type is documented (in the manner of datasette's
``test_docs.py``): every ``XUEFA_*`` environment variable the code names and every ``xuefa``
command and subcommand appears in README.md or docs/*.md. A new variable or command without a
line of documentation fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest

from hub_config.cli import main as cli

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("hub_config", "grading", "widgets")
ENV_RE = re.compile(r"XUEFA_[A-Z0-9_]+")


def docs_text() -> str:
    files = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


def environment_variables() -> dict[str, str]:
    """``XUEFA_*`` names the code uses: literals given to ``os.environ``/``getenv`` and the
    module constants that hold such a name (``ENV_VAR = "XUEFA_DATA_DIR"``)."""
    found: dict[str, str] = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                        and ENV_RE.fullmatch(node.value)):
                    found.setdefault(node.value, str(path.relative_to(REPO)))
    return found


def commands(group: click.Group, prefix: str = "xuefa") -> list[str]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        out.append(f"{prefix} {name}")
        if isinstance(cmd, click.Group):
            out.extend(commands(cmd, f"{prefix} {name}"))
    return out


def test_the_walks_find_things():
    assert {"XUEFA_DATA_DIR", "XUEFA_DISABLE_SERVICES"} <= set(environment_variables())
    assert {"xuefa up", "xuefa roster import"} <= set(commands(cli))


@pytest.mark.parametrize("var", sorted(environment_variables()))
def test_environment_variable_is_documented(var):
    assert re.search(rf"\b{var}\b", docs_text()), (
        f"{var} (read in {environment_variables()[var]}) is not in README.md or docs/*.md")


@pytest.mark.parametrize("command", commands(cli))
def test_command_is_documented(command):
    # written as `xuefa roster import` (maybe with options after it)
    assert re.search(rf"{re.escape(command)}(?![\w-])", docs_text()), (
        f"`{command}` is not in README.md or docs/*.md")
