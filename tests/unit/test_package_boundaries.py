"""What the deployed packages hold and import: each function's package (its zip code root or its container
image copies the folder whole) and the layer's `shared`. Evaluation tooling, benchmarks, tests and the dev
runtime are never deployed, so nothing deployed may import them or carry their modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.functions import (
    FUNCTION_PACKAGES,
    REPO_ROOT,
    deployed_packages,
    foreign_imports,
    unreached_modules,
)

DEPLOYED = deployed_packages()
FUNCTIONS = sorted(set(DEPLOYED) - {"shared"})
EVALUATION = REPO_ROOT / "evaluation"
EVALUATED = sorted(p.name for p in EVALUATION.iterdir() if (p / "__init__.py").exists())


def test_every_function_package_is_forbidden_to_the_others() -> None:
    assert set(FUNCTIONS) == FUNCTION_PACKAGES
    assert {"geometry", "vision"} <= set(EVALUATED)


@pytest.mark.parametrize("name", sorted(DEPLOYED))
def test_a_deployed_package_imports_no_other_function_and_nothing_undeployed(name: str) -> None:
    assert foreign_imports(DEPLOYED[name]) == []


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_module_of_a_function_is_reached_from_its_handler_or_cli(name: str) -> None:
    """A module that only bench/ or tests/ import (a generator, a scorer) would ship without ever running."""
    assert unreached_modules(DEPLOYED[name], [f"{name}.app", f"{name}.cli"]) == []


@pytest.mark.parametrize("name", EVALUATED)
def test_no_evaluation_module_is_in_the_function_it_evaluates(name: str) -> None:
    evaluation = {p.name for p in (EVALUATION / name).rglob("*.py")} - {"__init__.py"}
    deployed = {p.name for p in DEPLOYED[name].rglob("*.py")}
    assert evaluation
    assert evaluation & deployed == set()


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / "fn" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "fn" / name).write_text(text)
    return root / "fn"


def test_imports_of_undeployed_code_are_found_in_subfolders_and_relative_imports_resolve(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {
            "__init__.py": "",
            "app.py": "from . import work\nfrom fn.local import stage\n",
            "work.py": "import shared.engine\n",
            "local/__init__.py": "",
            "local/stage.py": "from ..work import run\nfrom evaluation.vision import synthetic\nimport vision\n",
        },
    )
    assert foreign_imports(package) == [
        "fn/local/stage.py: evaluation.vision",
        "fn/local/stage.py: evaluation.vision.synthetic",
        "fn/local/stage.py: vision",
    ]


def test_a_module_no_entry_point_reaches_is_found(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {
            "__init__.py": "",
            "app.py": "from fn.local.stage import run\n",
            "local/__init__.py": "",
            "local/stage.py": "from ..work import run\n",
            "work.py": "",
            "synthetic.py": "from fn.work import run\n",
            "scoring.py": "from fn import synthetic\n",
        },
    )
    assert unreached_modules(package, ["fn.app", "fn.cli"]) == ["fn.scoring", "fn.synthetic"]


STORE_METHODS = {"set_if_absent", "extend_if_value", "delete_if_value", "append", "read_from"}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_no_store_implementation_hides_in_a_function(name: str) -> None:
    """Stores (the engine's Upstash, Redis, Memory, and the like) live in shared/stores, one of each."""
    found = []
    for source in DEPLOYED[name].rglob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for cls in [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]:
            methods = {item.name for item in cls.body if isinstance(item, ast.AsyncFunctionDef)}
            if methods >= STORE_METHODS:
                found.append(f"{source.name}: {cls.name}")
    assert found == []
