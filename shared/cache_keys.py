"""Cache and flight keys: versioned, scoped to the org, hashed from a canonical encoding.

The fingerprint covers everything that changes an answer (operation and its version, resolved model,
messages with images by content hash, response schema, temperature, output budget) and is computed
from canonical JSON (sorted keys, fixed separators), never from reprs or dict order.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel

from shared.errors import BadRequest
from shared.requests import AIRequest

KEY_VERSION = "v1"
_ORG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def check_org_id(org_id: str) -> str:
    """Org ids are key segments: a stray ':' or '*' must not let one org address another's keys."""
    if not _ORG_ID.fullmatch(org_id):
        raise BadRequest("org id must be 1-128 letters, digits, '.', '_' or '-'")
    return org_id


def fingerprint(request: AIRequest[BaseModel], model: str, schema: dict[str, Any]) -> str:
    canonical = canonical_json(
        {
            "operation": request.operation,
            "version": request.version,
            "model": model,
            "messages": [message.canonical() for message in request.messages],
            "schema": schema,
            "temperature": request.temperature,
            "max_output_tokens": request.max_output_tokens,
        }
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def org_settings_key(org_id: str) -> str:
    """The store's shared copy of an org's settings (every instance reads DynamoDB less)."""
    return f"dominus:{KEY_VERSION}:{check_org_id(org_id)}:org-settings"


class KeySpace:
    """Every key one call touches, all under `dominus:v1:<org>:`."""

    def __init__(self, org_id: str, operation: str, digest: str) -> None:
        base = f"dominus:{KEY_VERSION}:{check_org_id(org_id)}"
        self.cache = f"{base}:cache:{operation}:{digest}"
        self.lease = f"{base}:lease:{digest}"
        self.result = f"{base}:result:{digest}"
        self.chunks = f"{base}:chunks:{digest}"
        self.watch = f"{base}:watch:{digest}"
