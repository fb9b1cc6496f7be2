"""Which of the project's packages may import which, read from the source with ``ast`` (every
import statement, also those inside functions; tests and migrations aside).

``scheduler_project`` wires the apps together (ASGI, URLs, the versioned-model base) and may
import ``realtime``; ``realtime`` imports nothing of ``scheduler_project``. What both need, the
acting user and the serving loop, is in ``realtime/context.py``, which imports nothing of the
project's own. The benchmark (``bench``) may import the project, never the other way round.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
PRODUCTION = (
    "scheduler_project",
    "realtime",
    "schedule",
    "monthly",
    "daily",
    "progress",
    "demo",
)
FIRST_PARTY = (*PRODUCTION, "bench")


def module_name(path: Path) -> str:
    parts = path.relative_to(BASE_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: str) -> list[Path]:
    return sorted(
        path
        for path in (BASE_DIR / package).rglob("*.py")
        if not {"tests", "migrations"} & set(path.relative_to(BASE_DIR).parts)
    )


def imported(path: Path, *, top_level_only: bool = False) -> Iterator[tuple[int, str]]:
    """``(line, module)`` of each import in ``path``, relative imports made absolute."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in tree.body if top_level_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parents = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parents, base] if base else parents)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def in_package(module: str, packages: tuple[str, ...]) -> bool:
    return module.partition(".")[0] in packages


def imports_of(paths: list[Path], packages: tuple[str, ...]) -> list[str]:
    return sorted(
        {
            f"{path.relative_to(BASE_DIR)}:{line} imports {module}"
            for path in paths
            for line, module in imported(path)
            if in_package(module, packages)
        }
    )


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("realtime", ("scheduler_project",)),
        # The schedule is below the plans, the plans below the reports, the reporting layer
        # (progress) reads all three, and the demo data is above every app.
        ("schedule", ("daily", "demo")),
        ("monthly", ("daily", "demo")),
        ("daily", ("demo",)),
        ("progress", ("demo",)),
        *[(package, ("bench",)) for package in PRODUCTION],
    ],
)
def test_a_package_imports_nothing_of_the_packages_above_it(package, forbidden):
    assert imports_of(modules(package), forbidden) == []


# The modules that serve people and scripts (pages, API, admin, files): they may show the
# reporting layer's figures; every other module of an app is its domain.
PAGE_MODULES = {"views.py", "api.py", "admin.py", "workbooks.py", "urls.py"}


@pytest.mark.parametrize("package", ["schedule", "monthly", "daily"])
def test_an_app_s_domain_imports_nothing_of_the_reporting_layer(package):
    domain = [
        path
        for path in modules(package)
        if path.name not in PAGE_MODULES and "templatetags" not in path.parts
    ]
    assert imports_of(domain, ("progress",)) == []


def test_the_request_context_imports_nothing_of_the_project():
    assert imports_of([BASE_DIR / "realtime" / "context.py"], FIRST_PARTY) == []


def test_the_project_s_modules_import_each_other_without_a_cycle():
    """At module level (an import inside a function runs later, when every module is loaded)."""
    paths = [path for package in PRODUCTION for path in modules(package)]
    known = {module_name(path) for path in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        targets = set()
        for _line, module in imported(path, top_level_only=True):
            while module and module not in known:
                module = module.rpartition(".")[0]
            if module and module != module_name(path):
                targets.add(module)
        graph[module_name(path)] = targets

    done: set[str] = set()

    def cycle_from(module: str, trail: list[str]) -> list[str] | None:
        if module in trail:
            return [*trail[trail.index(module) :], module]
        if module in done:
            return None
        for target in sorted(graph[module]):
            found = cycle_from(target, [*trail, module])
            if found:
                return found
        done.add(module)
        return None

    cycles = [found for module in sorted(graph) if (found := cycle_from(module, []))]
    assert cycles == []
