"""Helper processes: the moto server (the template's tables), the simulated model, the Upstash-REST server.

`python -m bench.services ROLE REDIS_URL` starts one of them on loopback, prints one JSON line saying
where it listens, and serves until its stdin closes (the parent exiting closes it too).

Each runs in its own process, as in production each is another machine: a Python server sharing a
process with the engine, or with another server, would hold the GIL for up to the switch interval
(5 ms) while it handles a request, and the benchmark would measure that instead of the engine.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Described = dict[str, Any]


def dev(module: str) -> Any:
    """A `dominus_dev` module, imported at run time: `mypy bench` alone would see that package as
    installed without a py.typed marker (the repository-wide mypy run checks it as source)."""
    return importlib.import_module(f"dominus_dev.{module}")


@contextmanager
def aws(_: str) -> Iterator[Described]:
    with dev("template").EmbeddedAws() as embedded:
        yield {
            "aws_endpoint": embedded.endpoint_url,
            "aws_pid": os.getpid(),
            "resource_env": embedded.create_resources(),
        }


@contextmanager
def model(_: str) -> Iterator[Described]:
    with dev("simulated_model").SimulatedModel() as simulated:
        yield {"model_url": simulated.url, "model_base_url": simulated.base_url}


@contextmanager
def upstash(redis_url: str) -> Iterator[Described]:
    token = secrets.token_urlsafe(16)
    server = dev("upstash_rest").serve(redis_url, token)
    try:
        yield {"upstash_url": server.url, "upstash_token": token}
    finally:
        server.stop()


ROLES: dict[str, Callable[[str], Any]] = {"aws": aws, "model": model, "upstash": upstash}


def main(role: str, redis_url: str) -> None:
    with ROLES[role](redis_url) as described:
        print(json.dumps(described), flush=True)
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nobody reads the pipe now: it must never fill up
        sys.stdin.read()  # returns at EOF: the parent is done (or gone)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
