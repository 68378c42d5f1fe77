"""Helpers for testing a function package over HTTP on an engine of in-memory fakes (no I/O)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from dominus_dev.simulated_model import sample_from_schema
from shared.api import Function
from shared.cache_keys import fingerprint
from shared.catalog import Usage
from shared.http import install_error_handling
from shared.llm import Completion, ModelCall
from shared.requests import AIRequest
from shared.schemas import strict_schema
from tests.support.fakes import EngineKit, ScriptedChatModel, engine_kit


def simulated_answer(call: ModelCall) -> Completion:
    """A schema-valid document for whichever answer model the call asks for."""
    document = sample_from_schema(call.schema, seed="1", quote="x", name=call.schema_name)
    return Completion(json.dumps(document), None, "stop", Usage(1_000, 0, 400))


def kit_and_client(function: Function) -> tuple[EngineKit, TestClient]:
    """The function's routes, as its deployed app serves them, on a fake engine."""
    kit = engine_kit(chat=ScriptedChatModel(answer=simulated_answer))
    app = FastAPI()
    install_error_handling(app, max_body_bytes=function.max_body_bytes)
    app.include_router(function.router(lambda: kit.engine, "local"))
    return kit, TestClient(app)


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) for each Server-Sent Events frame."""
    events = []
    for frame in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def error_fields(reply: Any) -> list[str]:
    return [detail["field"] for detail in reply.json()["error"]["details"]]


def cache_key(request: AIRequest[Any]) -> str:
    return fingerprint(request, "gpt-4o", strict_schema(request.response_model))


def strict_violations(node: Any, path: str = "$") -> list[str]:
    """What would make OpenAI refuse a strict schema: length bounds, defaults, open objects."""
    found: list[str] = []
    if isinstance(node, dict):
        found += [f"{path}.{key}" for key in ("maxLength", "minLength", "default") if key in node]
        if node.get("type") == "object" or "properties" in node:
            if node.get("additionalProperties") is not False:
                found.append(f"{path}: open object")
            if sorted(node.get("required", [])) != sorted(node.get("properties", {})):
                found.append(f"{path}: not every property required")
        for key, value in node.items():
            found += strict_violations(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += strict_violations(value, f"{path}[{i}]")
    return found


REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTION_PACKAGES = {
    "analyze", "video", "smart_actions", "authorizer", "geometry", "vision", "metrics", "reports", "packets",
}  # fmt: skip
# Code that no function's code root, image or the layer holds: the dev runtime, evaluation tooling
# (synthetic data and scoring), benchmarks and tests.
NEVER_DEPLOYED = {"dominus_dev", "evaluation", "bench", "tests"}


def deployed_packages() -> dict[str, Path]:
    """What is deployed, by package name: each function's package (functions/<name>/<name>/) and the layer's
    `shared`."""
    functions = [p for p in (REPO_ROOT / "functions").glob("*/*") if p.is_dir() and p.name == p.parent.name]
    return {p.name: p for p in [*functions, REPO_ROOT / "shared"]}


def _module_name(package: Path, source: Path) -> str:
    parts = source.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(package: Path, source: Path) -> list[str]:
    """The absolute names a module imports: for `from X import a`, X and X.a (a may be a module)."""
    module = _module_name(package, source)
    # A relative import counts from the module's own package (a package's __init__ is its own).
    own_package = module.split(".") if source.name == "__init__.py" else module.split(".")[:-1]
    names = []
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = own_package[: len(own_package) - node.level + 1] if node.level else []
            origin = ".".join([*base, *([node.module] if node.module else [])])
            names += [origin, *(f"{origin}.{alias.name}" for alias in node.names)]
    return names


def foreign_imports(package: Path) -> list[str]:
    """Imports of another function's package or of code that is never deployed, in any module of the
    package and its subfolders: deployed, a function's code root holds only its own package beside the
    layer `shared`, and the layer holds `shared` alone."""
    forbidden = (FUNCTION_PACKAGES | NEVER_DEPLOYED) - {package.name}
    return [
        f"{source.relative_to(package.parent)}: {name}"
        for source in sorted(package.rglob("*.py"))
        for name in _imports(package, source)
        if name.split(".")[0] in forbidden
    ]


def unreached_modules(package: Path, entry_points: list[str]) -> list[str]:
    """The package's modules that no import chain from its entry points reaches: code the function never
    runs (evaluation tooling that only bench/ and tests/ import, dead code) but would still ship."""
    modules = {_module_name(package, source): source for source in package.rglob("*.py")}
    reached: set[str] = set()
    pending = [name for name in entry_points if name in modules]
    while pending:
        module = pending.pop()
        if module in reached:
            continue
        reached.add(module)
        for name in _imports(package, modules[module]):
            # Importing a.b.c runs a/__init__ and a/b/__init__ too.
            parts = name.split(".")
            pending += [prefix for i in range(len(parts)) if (prefix := ".".join(parts[: i + 1])) in modules]
    return sorted(set(modules) - reached)


def assert_rejected(reply: Any, field: str, kit: EngineKit) -> None:
    """A 422 in the contract's shape that names `field`, and no upstream call made for it."""
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["code"] == "invalid_input"
    assert field in error_fields(reply)
    assert field in reply.json()["error"]["message"]
    assert kit.chat.calls == []
