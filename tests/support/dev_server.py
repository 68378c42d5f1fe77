"""The dev server as `make run` serves it, on embedded defaults, on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dominus_dev.local import LocalRuntime
from dominus_dev.server import create_dev_app
from dominus_dev.serving import ServerThread
from shared.settings import Settings


def embedded_defaults() -> Settings:
    """Whatever the machine's environment says: Memory store, embedded moto, the simulated model."""
    return Settings(
        openai_api_key=None,
        openai_base_url=None,
        dominus_openai_secret_arn=None,
        redis_url=None,
        upstash_redis_rest_url=None,
        upstash_redis_rest_token=None,
        dominus_upstash_token_secret_arn=None,
        dominus_env="local",
    )


@contextmanager
def running_dev_server() -> Iterator[tuple[str, LocalRuntime]]:
    """(base URL, runtime) of a started dev server; stopped on exit."""
    with LocalRuntime(embedded_defaults()) as runtime, ServerThread(create_dev_app(runtime)) as server:
        yield server.url, runtime
