"""Pydantic models as OpenAI strict JSON schemas (structured outputs), without importing openai.

Strict mode wants every object closed (`additionalProperties: false`) with all its properties
required, and no `default`; it does not take string length bounds, so those move into the field's
description (the model reads it) and answers clip over-long text (`Text`) instead of failing the call.
Pydantic's schema is adapted once per model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

_UNSUPPORTED = {"default", "minLength", "maxLength"}


@dataclass(frozen=True, slots=True)
class Clip:
    """`Annotated[str, Clip(300)]`: a bounded string in a model's answer, clipped (with '…') rather
    than rejected; its JSON schema says `maxLength`, which reaches the model as a description."""

    max_chars: int

    def clip(self, value: Any) -> Any:
        if isinstance(value, str) and len(value) > self.max_chars:
            return value[: self.max_chars - 1].rstrip() + "…"
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self.clip, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["maxLength"] = self.max_chars
        return json_schema


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items() if key not in _UNSUPPORTED}
    if "maxLength" in node:
        bound = f"At most {node['maxLength']} characters."
        out["description"] = f"{node['description']} {bound}" if node.get("description") else bound
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
