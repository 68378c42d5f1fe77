"""Secrets from AWS Secrets Manager, read once per process and only when first needed."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

from shared.errors import ServiceNotConfigured

# A secret may hold the bare value, or a JSON object with the value under one of these names.
_VALUE_NAMES = ("value", "api_key", "token", "OPENAI_API_KEY", "UPSTASH_REDIS_REST_TOKEN")


def secret_value(secret_string: str) -> str:
    try:
        parsed = json.loads(secret_string)
    except ValueError:
        return secret_string.strip()
    if isinstance(parsed, dict):
        for name in _VALUE_NAMES:
            if isinstance(parsed.get(name), str):
                return str(parsed[name])
        raise ServiceNotConfigured(f"the secret holds a JSON object without any of {', '.join(_VALUE_NAMES)}")
    return secret_string.strip()


def fetch_secret(arn: str) -> str:
    import boto3

    try:
        reply = boto3.client("secretsmanager").get_secret_value(SecretId=arn)
    except Exception as exc:
        raise ServiceNotConfigured(f"could not read secret {arn}: {type(exc).__name__}") from exc
    return secret_value(reply.get("SecretString") or "")


class LazySecret:
    """A value given directly, or fetched from its ARN the first time it is asked for."""

    def __init__(self, value: str | None, arn: str | None, fetch: Callable[[str], str] = fetch_secret) -> None:
        self._value = value
        self._arn = arn
        self._fetch = fetch
        self._lock = threading.Lock()

    def get(self) -> str | None:
        with self._lock:
            if self._value is None and self._arn:
                self._value = self._fetch(self._arn)
            return self._value
