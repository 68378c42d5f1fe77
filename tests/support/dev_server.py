"""The dev server as `make run` serves it, on embedded defaults, on a free loopback port."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from analyze.function import EXAMPLE_LEAD
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


def new_org() -> str:
    """An org no other test uses: its balance, cache and records are its own."""
    return f"org-{uuid.uuid4().hex[:12]}"


def lead_with_notes(note: str) -> dict[str, Any]:
    """The example lead, made distinct by its notes (a different note: a different cache key)."""
    lead = copy.deepcopy(EXAMPLE_LEAD)
    lead["notes"] = note
    return lead


def npy_bytes(z: Any) -> bytes:
    """A height grid as the `.npy` file a DSM upload sends."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(z, dtype=np.float32))
    return buffer.getvalue()
