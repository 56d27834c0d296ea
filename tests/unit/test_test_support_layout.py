"""Test helpers live in tests/support: no test imports a conftest or another test module, and
conftest.py files hold only fixtures and pytest hooks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

TESTS_DIR = REPO_ROOT / "tests"
SUPPORT_PACKAGE = "tests.support"


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)


def imported_modules(source: str, importer: str) -> list[str]:
    """Every module `source` imports, relative imports resolved against the module named `importer`."""
    modules: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = importer.split(".")[: -node.level]
                base = ".".join([*package, base] if base else package)
            # `from package import name` may name a module: count both.
            modules.append(base)
            modules.extend(f"{base}.{alias.name}" for alias in node.names)
    return modules


def is_test_code(module: str) -> bool:
    """A conftest, or a module of tests/ outside tests/support (packages themselves hold nothing)."""
    if module.split(".")[-1] == "conftest":
        return True
    in_tests = module.startswith("tests.") and not module.startswith(SUPPORT_PACKAGE)
    return in_tests and (REPO_ROOT / Path(*module.split("."))).with_suffix(".py").is_file()


def forbidden_imports(source: str, importer: str) -> list[str]:
    """Imports of a conftest, or of test code outside tests/support."""
    return sorted({module for module in imported_modules(source, importer) if is_test_code(module)})


def non_fixtures(source: str) -> list[str]:
    """Functions and classes at a conftest's top level that are neither fixtures nor pytest hooks."""
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            found.append(node.name)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            is_fixture = any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)
            if not is_fixture and not node.name.startswith("pytest_"):
                found.append(node.name)
    return found


TEST_FILES = sorted(TESTS_DIR.rglob("*.py"))


@pytest.mark.parametrize(
    ("source", "importer", "expected"),
    [
        ("from tests.integration.conftest import Api", "tests.integration.test_x", ["tests.integration.conftest"]),
        ("from .conftest import Api", "tests.integration.test_x", ["tests.integration.conftest"]),
        ("from . import conftest", "tests.integration.test_x", ["tests.integration.conftest"]),
        ("import tests.conftest", "tests.unit.test_x", ["tests.conftest"]),
        ("from tests.unit.test_score_applier import run", "tests.unit.test_x", ["tests.unit.test_score_applier"]),
        ("from tests.support.http_api import Api", "tests.integration.test_x", []),
        ("from shared.domain.boards import Window", "tests.unit.test_x", []),
    ],
)
def test_the_check_sees_conftest_and_test_module_imports(source: str, importer: str, expected: list[str]) -> None:
    assert forbidden_imports(source, importer) == expected


def test_the_check_sees_helpers_in_a_conftest() -> None:
    source = """
import pytest

@pytest.fixture
def api(): ...

def pytest_configure(config): ...

def helper(): ...
"""
    assert non_fixtures(source) == ["helper"]


def test_the_check_finds_the_test_files() -> None:
    names = {path.relative_to(TESTS_DIR).as_posix() for path in TEST_FILES}
    assert {"conftest.py", "integration/conftest.py", "support/paths.py", "unit/test_test_support_layout.py"} <= names


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda path: path.relative_to(TESTS_DIR).as_posix())
def test_tests_import_helpers_only_from_tests_support(path: Path) -> None:
    assert forbidden_imports(path.read_text(), module_name(path)) == []


@pytest.mark.parametrize(
    "path", sorted(TESTS_DIR.rglob("conftest.py")), ids=lambda path: path.relative_to(TESTS_DIR).as_posix()
)
def test_conftest_files_hold_only_fixtures_and_hooks(path: Path) -> None:
    assert non_fixtures(path.read_text()) == []
