"""The dev server as `make run` serves it, on embedded defaults, on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dominus_dev.local import LocalRuntime
from dominus_dev.server import create_dev_app
from dominus_dev.serving import ServerThread
from shared.settings import Settings


def embedded_defaults(**overrides: Any) -> Settings:
    """Whatever the machine's environment says: Memory store, embedded moto, the simulated model;
    `overrides` change settings (an OpenAI-compatible server to use as the real model, say)."""
    base = Settings(
        openai_api_key=None,
        openai_base_url=None,
        dominus_openai_secret_arn=None,
        redis_url=None,
        upstash_redis_rest_url=None,
        upstash_redis_rest_token=None,
        dominus_upstash_token_secret_arn=None,
        dominus_env="local",
    )
    return base.model_copy(update=overrides) if overrides else base


@contextmanager
def running_dev_server(**overrides: Any) -> Iterator[tuple[str, LocalRuntime]]:
    """(base URL, runtime) of a started dev server; stopped on exit."""
    with LocalRuntime(embedded_defaults(**overrides)) as runtime, ServerThread(create_dev_app(runtime)) as server:
        yield server.url, runtime
