"""GeometryFunction's container image: what its Dockerfile installs and copies, and the build context.

Read as text: no Docker daemon is needed (and CI has none). `sam build` builds the image for real.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from dominus_dev.template import DEFAULT_TEMPLATE, load_template

pytestmark = pytest.mark.infra

ROOT = DEFAULT_TEMPLATE.parent
TASK_ROOT = "${LAMBDA_TASK_ROOT}"


@pytest.fixture(scope="module")
def geometry() -> dict[str, Any]:
    resource: dict[str, Any] = load_template()["Resources"]["GeometryFunction"]
    return resource


@pytest.fixture(scope="module")
def context(geometry: dict[str, Any]) -> Path:
    docker_context: str = geometry["Metadata"]["DockerContext"]
    return (ROOT / docker_context).resolve()


@pytest.fixture(scope="module")
def instructions(geometry: dict[str, Any], context: Path) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    text = (context / geometry["Metadata"]["Dockerfile"]).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            result.append((keyword.upper(), arguments.strip()))
    return result


def _copies(instructions: list[tuple[str, str]]) -> dict[str, str]:
    """COPY source -> destination (single-source COPYs, as this Dockerfile writes them)."""
    copies = {}
    for keyword, arguments in instructions:
        if keyword == "COPY":
            *sources, destination = shlex.split(arguments)
            assert not any(s.startswith("--") for s in sources), "no COPY --from/--chown needed"
            for source in sources:
                copies[source] = destination
    return copies


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves `path` (relative to the context) out of the build context.

    Docker's rules, as far as this file needs them: `*` and `?` stay within one path segment, `**`
    spans segments, a pattern that matches a directory covers everything under it, a leading `!`
    brings a path back, and the last matching pattern wins.
    """
    ignored = False
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in patterns:
        exception = raw.startswith("!")
        pattern = raw.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            ignored = not exception
    return ignored


@pytest.fixture(scope="module")
def ignore_patterns(context: Path) -> list[str]:
    lines = (context / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_built_on_the_lambda_python_base_image_of_the_zip_runtime(instructions: list[tuple[str, str]]) -> None:
    froms = [arguments for keyword, arguments in instructions if keyword == "FROM"]
    assert froms == ["public.ecr.aws/lambda/python:3.12"]
    functions = [
        r["Properties"] for r in load_template()["Resources"].values() if r["Type"] == "AWS::Serverless::Function"
    ]
    runtimes = {props["Runtime"] for props in functions if props.get("PackageType", "Zip") == "Zip"}
    assert runtimes == {"python3.12"}, "the image and the zip functions run the same Python"


def test_installs_the_shared_layer_and_geometry_requirements(instructions: list[tuple[str, str]]) -> None:
    copies = _copies(instructions)
    installs = [arguments for keyword, arguments in instructions if keyword == "RUN" and "pip install" in arguments]
    assert len(installs) == 1, "one pip run resolves both lists together"
    [install] = installs
    assert "--no-cache-dir" in install.split()
    # -r names where each requirements file was copied to.
    wanted = {copies[source] for source in ("layer/requirements.txt", "functions/geometry/requirements.txt")}
    assert {path for flag, path in re.findall(r"(-r|--requirement)\s+(\S+)", install)} == wanted
    assert "--target" not in install, "into the image's site-packages, beside boto3"


def test_copies_shared_and_geometry_into_the_task_root(instructions: list[tuple[str, str]]) -> None:
    copies = _copies(instructions)
    assert copies["shared/"].rstrip("/") == f"{TASK_ROOT}/shared"
    assert copies["functions/geometry/geometry/"].rstrip("/") == f"{TASK_ROOT}/geometry"


def test_cmd_is_the_handler_and_it_exists(instructions: list[tuple[str, str]]) -> None:
    [cmd] = [arguments for keyword, arguments in instructions if keyword == "CMD"]
    assert ast.literal_eval(cmd) == ["geometry.app.handler"]
    module = ROOT / "functions/geometry/geometry/app.py"
    tree = ast.parse(module.read_text(encoding="utf-8"))
    assigned = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert "handler" in assigned | defined, f"{module} defines no `handler`"


def test_context_holds_what_is_copied_and_little_else(
    instructions: list[tuple[str, str]], context: Path, ignore_patterns: list[str]
) -> None:
    for source in _copies(instructions):
        assert (context / source).exists(), source
        assert not _ignored(source, ignore_patterns), f"{source} is copied but left out of the context"
    for source in ("shared/engine.py", "functions/geometry/geometry/app.py"):
        assert not _ignored(source, ignore_patterns), source
    for path in (
        ".venv/lib/x.py",
        ".git/HEAD",
        "tests/infra/test_layer.py",
        "test-artifacts/x.png",
        ".aws-sam/build/template.yaml",
        "bench/__main__.py",
        "evaluation/geometry/synthetic.py",
        "node_modules/x/index.js",
        "dev/dominus_dev/server.py",
        "functions/analyze/analyze/app.py",
        "shared/__pycache__/engine.cpython-312.pyc",
        "functions/geometry/geometry/__pycache__/app.cpython-312.pyc",
        "layer/shared",
    ):
        assert _ignored(path, ignore_patterns), f"{path} would be sent to the Docker daemon"
