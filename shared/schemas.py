"""Pydantic models as OpenAI strict JSON schemas (structured outputs), without importing openai.

Strict mode wants every object closed (`additionalProperties: false`) with all its properties
required, and no `default`. Pydantic's schema is adapted to that here, once per model.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items() if key != "default"}
    if out.get("type") == "object" or "properties" in out:
        out["additionalProperties"] = False
        out["required"] = list(out.get("properties", {}))
    # Pydantic wraps a described $ref in allOf; strict mode wants the $ref itself.
    all_of = out.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        out.pop("allOf")
        out.update(all_of[0])
    return out


_SCHEMAS: dict[type[BaseModel], dict[str, Any]] = {}


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's strict schema, built once per class (it is on every call's path). Do not mutate."""
    schema = _SCHEMAS.get(model)
    if schema is None:
        schema = _SCHEMAS[model] = _strict(model.model_json_schema())
    return schema


def schema_name(model: type[BaseModel]) -> str:
    """OpenAI wants ^[a-zA-Z0-9_-]{1,64}$."""
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in model.__name__)[:64]
