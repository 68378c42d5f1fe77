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


FUNCTION_PACKAGES = {"analyze", "video", "smart_actions", "authorizer", "geometry", "vision", "metrics", "dominus_dev"}


def foreign_imports(package: Path) -> list[str]:
    """Imports of another function's package (or the dev runtime): deployed, only the function's own
    code root and the layer `shared` are there."""
    found = []
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{source.name}: {n}" for n in names if n.split(".")[0] in FUNCTION_PACKAGES - {package.name}]
    return found


def assert_rejected(reply: Any, field: str, kit: EngineKit) -> None:
    """A 422 in the contract's shape that names `field`, and no upstream call made for it."""
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["code"] == "invalid_input"
    assert field in error_fields(reply)
    assert field in reply.json()["error"]["message"]
    assert kit.chat.calls == []
