"""The rooms of the code base and the one direction their imports go (docs/architecture.md).

Every module's imports are read with ``ast`` (nothing is imported, so a heavy or broken module
cannot hide a wrong edge), including imports inside functions:

- ``grading.records`` (the only SQL) imports nothing from the grader, content, reports or the
  exchange: everything else builds on it, never the other way;
- ``grading.host`` (data dir, priorities, system users) imports no other room of ``grading``;
- ``grading`` imports nothing from ``hub_config`` (the hub is wired on top of grading);
- ``widgets`` (runs in every learner's kernel) imports nothing from ``hub_config`` or ``grading``;
- nothing is wired by name at run time (``importlib.import_module``, ``__import__``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("hub_config", "grading", "widgets")
GRADING_ROOMS = ("host", "records", "exchange", "content", "reports", "grader")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}


def imported(path: Path, name: str) -> set[str]:
    """Every module ``path`` imports (``from a import b`` counts as ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{alias.name}" for alias in node.names)
    return found


def within(mod: str, *rooms: str) -> bool:
    return any(mod == room or mod.startswith(room + ".") for room in rooms)


def offending(source_rooms: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for name, path in modules().items():
        if not within(name, *source_rooms):
            continue
        for mod in sorted(imported(path, name)):
            if within(mod, *forbidden):
                bad.append(f"{path.relative_to(REPO)} imports {mod}")
    return bad


def test_the_modules_are_found():
    names = modules()
    assert {"grading.records.db", "grading.host.datadir", "widgets.session",
            "hub_config.config"} <= set(names)


def test_records_import_no_room_built_on_them():
    assert offending(("grading.records",), ("grading.grader", "grading.content", "grading.reports",
                                            "grading.exchange")) == []


def test_host_imports_no_other_grading_room():
    others = tuple(f"grading.{room}" for room in GRADING_ROOMS if room != "host")
    assert offending(("grading.host",), others + ("hub_config",)) == []


def test_grading_does_not_reach_into_the_hub():
    assert offending(("grading",), ("hub_config",)) == []


def test_widgets_stay_light_in_learners_kernels():
    assert offending(("widgets",), ("hub_config", "grading")) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_wiring_by_name(package):
    bad = []
    for name, path in modules().items():
        if not within(name, package):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if called in ("import_module", "__import__"):
                    bad.append(f"{path.relative_to(REPO)}:{node.lineno} {called}()")
    assert bad == []


def test_the_check_sees_a_wrong_edge(tmp_path):
    """The parser is not blind: a module importing upwards, relatively, is caught."""
    pkg = tmp_path / "grading" / "records"
    pkg.mkdir(parents=True)
    bad = pkg / "x.py"
    bad.write_text("def f():\n    from ..grader import service\n", encoding="utf-8")
    assert "grading.grader.service" in imported(bad, "grading.records.x")
