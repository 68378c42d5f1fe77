"""Perf records written by a child process, for a server that answers many requests at once.

Writing a record through boto3 costs a few hundred microseconds of interpreter time (the item,
botocore's validation and serialization, signing, parsing the reply). In a server with requests in
flight, that time competes with them for the interpreter lock, and a cache hit that waits for the
lock waits up to the switch interval (5 ms): the hit path's tail. `WriterProcess` is a `PerfSink`
that hands each batch, as one JSON line, to a child process running the real sink (`DynamoPerfSink`)
and waits for its answer, so a recorder's `flush` still means written. What stays in the request
process is encoding the batch (pydantic-core: microseconds per record) and a pipe write.

Lambda runs one request at a time in a sandbox and writes its records after the response has gone
(shared/lambda_extension.py): there the in-process sink costs a request nothing, and no child is
started. The dev server uses this one.

Protocol (`python -m shared.perf_writer`): stdin carries one line of config (`{"table",
"retention_days", "endpoint_url"}`), then one JSON array of up to 25 records per line; the child
answers each on stdout with `ok` or `error <reason>`. It stops at end of input (the parent closed it, or is gone).
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import IO

from pydantic import TypeAdapter

from shared.perf import DynamoPerfSink, PerfRecord

logger = logging.getLogger(__name__)

BATCH = TypeAdapter(list[PerfRecord])
CHUNK = 25  # records per line: one BatchWriteItem in the child
REPLY_TIMEOUT_S = 60.0  # a batch of 500 through DynamoPerfSink's retries; then the child is replaced


class WriterProcess:
    """A `PerfSink` whose writes happen in a child process (started now, restarted if it dies)."""

    def __init__(
        self,
        table: str,
        retention_days: int,
        *,
        endpoint_url: str | None = None,
        env: Mapping[str, str] | None = None,
        reply_timeout_s: float = REPLY_TIMEOUT_S,
    ) -> None:
        self._config = json.dumps({"table": table, "retention_days": retention_days, "endpoint_url": endpoint_url})
        self._env = {**os.environ, **(env or {})}
        self._reply_timeout_s = reply_timeout_s
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._closed = False
        with self._lock:
            self._running()  # started now, so its imports overlap the server's start-up

    @property
    def pid(self) -> int | None:
        """The child's process id, while one runs."""
        child = self._child
        return child.pid if child is not None and child.poll() is None else None

    def write(self, records: Sequence[PerfRecord]) -> None:
        # A chunk at a time: encoding one holds the interpreter lock for ~0.2 ms, then the wait for
        # the child's answer releases it for milliseconds. A whole batch at once would hold it for
        # ~3.5 ms per 500 records, and a request waiting for the lock would wait that long.
        for start in range(0, len(records), CHUNK):
            line = BATCH.dump_json(list(records[start : start + CHUNK])) + b"\n"
            with self._lock:
                child = self._running()
                try:
                    reply = self._exchange(child, line)
                except (OSError, TimeoutError):
                    self._stop(child)  # a fresh child for the next batch
                    raise
            if reply != "ok":
                raise RuntimeError(f"perf writer: {reply}")

    def close(self) -> None:
        """End the child (it finishes the batch it holds, then sees the end of its input); a write
        after this fails."""
        with self._lock:
            self._closed = True
            if self._child is not None:
                self._stop(self._child)

    def _running(self) -> subprocess.Popen[bytes]:
        if self._closed:
            raise RuntimeError("the perf writer is closed")
        if self._child is None or self._child.poll() is not None:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "shared.perf_writer"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=self._env,
            )
            _pipe(self._child.stdin).write(self._config.encode() + b"\n")
        return self._child

    def _exchange(self, child: subprocess.Popen[bytes], line: bytes) -> str:
        stdin, stdout = _pipe(child.stdin), _pipe(child.stdout)
        stdin.write(line)
        stdin.flush()
        ready, _, _ = select.select([stdout], [], [], self._reply_timeout_s)
        if not ready:
            raise TimeoutError(f"no answer from the perf writer within {self._reply_timeout_s:g} s")
        reply = stdout.readline()
        if not reply:
            raise OSError(f"the perf writer exited ({child.poll()})")
        return reply.decode().strip()

    def _stop(self, child: subprocess.Popen[bytes]) -> None:
        try:
            _pipe(child.stdin).close()
            child.wait(self._reply_timeout_s)
        except (OSError, subprocess.TimeoutExpired):
            child.kill()
            child.wait()
        if self._child is child:
            self._child = None


def _pipe(stream: IO[bytes] | None) -> IO[bytes]:
    assert stream is not None, "the child's pipes are opened with it"
    return stream


def serve(lines: IO[bytes], replies: IO[str]) -> None:
    """The child's loop: the config line, then a batch per line, each answered."""
    from shared.runtime import dynamodb_client

    config = json.loads(lines.readline())
    client = dynamodb_client(config["endpoint_url"])
    sink = DynamoPerfSink(client, config["table"], int(config["retention_days"]))
    for line in lines:
        try:
            sink.write(BATCH.validate_json(line))
            reply = "ok"
        except Exception as exc:  # reported to the parent, which counts the batch as failed
            reply = f"error {type(exc).__name__}: {exc}"[:300].replace("\n", " ")
        replies.write(reply + "\n")
        replies.flush()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="perf-writer %(levelname)s %(name)s: %(message)s")
    os.nice(10)  # background work: the request process gets a busy machine's CPU first
    serve(sys.stdin.buffer, sys.stdout)
