"""The tests' own layout: shared code lives in tests/support, and no test module or conftest
imports another test module or conftest (each stays runnable, movable and deletable alone).

Imports are read with `ast`, so an import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
SUPPORT = "tests.support"


def module_name(path: Path, root: Path) -> str:
    """The dotted name a file under `root` (a folder named `tests`) is imported as."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every module the file imports, relative imports resolved; for
    `from package import name` both the package and package.name (it may be a module)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            yield node.lineno, source
            for alias in node.names:
                yield node.lineno, f"{source}.{alias.name}"


def module_path(dotted: str, root: Path) -> Path | None:
    """The file a dotted name under `tests` is imported from (a package's __init__.py), or
    None when it names no module of the tree at `root` (a function or constant, say)."""
    path = root.parent.joinpath(*dotted.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def layout_offences(root: Path) -> list[str]:
    """Every import that breaks the layout, as "file:line: imports module (why)"."""
    offences: list[str] = []
    for path in sorted(root.rglob("*.py")):
        for line, dotted in dict.fromkeys(imported_modules(path, root)):
            target = module_path(dotted, root) if dotted.split(".")[0] == root.name else None
            if target is None or target.name == "__init__.py":
                # Outside the tests, or a package: `from tests.unit import x` is judged by x.
                continue
            if target.name.startswith("test_") or target.name == "conftest.py":
                why = "a test module or conftest: move what is shared to tests/support"
            elif root / "support" not in target.parents:
                why = "a helper outside tests/support"
            else:
                continue
            offences.append(f"{path.relative_to(root.parent)}:{line}: imports {dotted} ({why})")
    return offences


def test_no_test_imports_another_test_module_a_conftest_or_a_stray_helper() -> None:
    offences = layout_offences(TESTS)
    assert not offences, "\n".join(offences)


def is_helper(path: Path) -> bool:
    """Shared code: neither a test module nor a conftest, nor a package marker holding nothing
    but its docstring."""
    if path.name.startswith("test_") or path.name == "conftest.py":
        return False
    if path.name == "__init__.py":
        module = ast.parse(path.read_text(encoding="utf-8"))
        return len(module.body) > (1 if ast.get_docstring(module) else 0)
    return True


def test_helper_modules_live_in_tests_support() -> None:
    strays = [
        str(path.relative_to(TESTS.parent))
        for path in sorted(TESTS.rglob("*.py"))
        if is_helper(path) and TESTS / "support" not in path.parents
    ]
    assert strays == [], "helper modules outside tests/support"


def test_every_support_module_says_what_it_holds() -> None:
    undocumented = [
        path.name
        for path in sorted((TESTS / "support").glob("*.py"))
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert undocumented == []


# ---------------------------------------------------------------- the check itself


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small tests/ tree of the same shape: a support module, a helper and a test module."""
    root = tmp_path / "tests"
    for folder in (root, root / "support", root / "unit"):
        folder.mkdir()
        (folder / "__init__.py").write_text("")
    (root / "support" / "frames.py").write_text('"""Frames."""\nFRAME = b""\n')
    (root / "unit" / "helpers.py").write_text("HELP = 1\n")
    (root / "unit" / "test_frames.py").write_text("DATA = 1\n")
    (root / "conftest.py").write_text("")
    return root


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("from tests.unit.test_frames import DATA", "tests.unit.test_frames"),
        ("from .test_frames import DATA", "tests.unit.test_frames"),
        ("from tests.unit import test_frames", "tests.unit.test_frames"),
        ("import tests.unit.test_frames", "tests.unit.test_frames"),
        ("def f():\n    from tests.conftest import x", "tests.conftest"),
        ("from .. import conftest", "tests.conftest"),
        ("from tests.unit.helpers import HELP", "tests.unit.helpers"),
        ("from .helpers import HELP", "tests.unit.helpers"),
    ],
)
def test_the_check_names_the_file_and_the_bad_import(tree: Path, source: str, names: str) -> None:
    (tree / "unit" / "test_other.py").write_text(source + "\n")
    offences = layout_offences(tree)
    assert len(offences) == 1, offences
    assert offences[0].startswith("tests/unit/test_other.py:")
    assert f" imports {names} " in offences[0]


@pytest.mark.parametrize(
    "source",
    [
        "from tests.support.frames import FRAME",
        "from tests.support import frames",
        "from ..support.frames import FRAME",
        "import pytest\nfrom dagster_project.emop import frame",
    ],
)
def test_the_check_lets_support_and_outside_imports_through(tree: Path, source: str) -> None:
    (tree / "unit" / "test_other.py").write_text(source + "\n")
    assert layout_offences(tree) == []
