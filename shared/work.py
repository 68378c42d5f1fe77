"""Work a function hands to itself to do after answering: a job too long for a request (a claim
packet), started by the request and run on its own invocation, its progress in the job record.

Deployed, the function invokes itself asynchronously (Lambda's `Event` invocation: queued by Lambda,
retried twice on error) with `{"work": task}`, which its `Work` handler runs. Locally, the dev server
runs the same handler on a thread of its own, as Lambda would run the invocation beside the request.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

logger = logging.getLogger(__name__)

Task = dict[str, Any]


class WorkQueue(Protocol):
    def submit(self, function: str, task: Task) -> None:
        """Run `task` on `function`'s work handler, after this call returns."""


class NoWork(RuntimeError):
    """Nothing runs work for that function here."""


class LambdaWork:
    """Asynchronous invocations of this very function (Lambda names it in AWS_LAMBDA_FUNCTION_NAME):
    work goes to the function that hands it out, whose spec declares its handler."""

    def __init__(self, client: Callable[[], LambdaClient], function_name: str | None = None) -> None:
        self.client = client
        self.function_name = function_name or os.environ.get("AWS_LAMBDA_FUNCTION_NAME")

    def submit(self, function: str, task: Task) -> None:
        if not self.function_name:
            raise NoWork(f"{function}: not running on Lambda (no AWS_LAMBDA_FUNCTION_NAME) to hand work to")
        payload = json.dumps({"work": task}).encode()
        self.client().invoke(FunctionName=self.function_name, InvocationType="Event", Payload=payload)


def lambda_client() -> LambdaClient:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client("lambda", config=config)


class LocalWork:
    """Work run on this process's threads, by the handlers registered for each function."""

    def __init__(self, workers: int = 2) -> None:
        self._handlers: dict[str, Callable[[Task], Any]] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="work")
        self._lock = threading.Lock()

    def register(self, function: str, handler: Callable[[Task], Any]) -> None:
        with self._lock:
            self._handlers[function] = handler

    def submit(self, function: str, task: Task) -> None:
        with self._lock:
            handler = self._handlers.get(function)
        if handler is None:
            raise NoWork(f"nothing runs {function}'s work in this process")
        self._pool.submit(_logged, handler, task)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def _logged(handler: Callable[[Task], Any], task: Task) -> None:
    try:
        handler(task)
    except Exception:  # the handler records the failure in its job; this is the last resort
        logger.exception("work failed: %s", task.get("kind", "task"))
