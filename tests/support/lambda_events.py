"""Events as AWS delivers them to a function's handler, and a Lambda context, for invoking handlers."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx


def api_gateway_event(
    method: str,
    path: str,
    org_id: str,
    *,
    json_body: Any = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
    params: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST API (v1) proxy event behind the authorizer, whose context names the org; a body is sent
    as JSON or as a multipart form (base64, as API Gateway passes binary media types)."""
    request = httpx.Request(method, f"https://api.example.com{path}", json=json_body, files=files, params=params)
    body = request.read()
    headers = {name: value for name, value in request.headers.items() if name.lower() not in ("host",)}
    request_id = str(uuid.uuid4())
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": params,
        "multiValueQueryStringParameters": {k: [v] for k, v in params.items()} if params else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/dev{path}",
            "stage": "dev",
            "requestId": request_id,
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "pytest"},
            "authorizer": {"org_id": org_id, "sub": "user-1", "principalId": "user-1", "integrationLatency": 3},
        },
        "body": base64.b64encode(body).decode() if files else (body.decode() if body else None),
        "isBase64Encoded": bool(files),
    }


def response_json(response: dict[str, Any]) -> Any:
    body = response["body"]
    return json.loads(base64.b64decode(body) if response.get("isBase64Encoded") else body)


def response_headers(response: dict[str, Any]) -> dict[str, str]:
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers.setdefault(name.lower(), values[-1])
    return headers
