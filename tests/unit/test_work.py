"""Work a function hands itself: deployed, its own asynchronous Lambda invocation; locally, a thread;
and the deployment's handler telling a work event from API Gateway's, S3's and a schedule's."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from shared.deployment import Deployment, FunctionSpec, Work, event_kind
from shared.work import LambdaWork, LocalWork, NoWork
from tests.support.waiting import wait_until


class FakeLambda:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **call: Any) -> dict[str, Any]:
        self.calls.append(call)
        return {"StatusCode": 202}


def test_deployed_work_is_an_asynchronous_invocation_of_the_function_itself() -> None:
    client = FakeLambda()
    LambdaWork(lambda: client, "dominus-dev-packets").submit("packets", {"kind": "packet", "packet_id": "p1"})  # type: ignore[arg-type,return-value]
    (call,) = client.calls
    assert call["FunctionName"] == "dominus-dev-packets" and call["InvocationType"] == "Event"
    assert json.loads(call["Payload"]) == {"work": {"kind": "packet", "packet_id": "p1"}}
    with pytest.raises(NoWork):
        LambdaWork(lambda: client, None).submit("packets", {})  # type: ignore[arg-type,return-value]


def test_local_work_runs_on_a_thread_of_the_registered_handler() -> None:
    work = LocalWork()
    done = threading.Event()
    seen: list[dict[str, Any]] = []

    def run(task: dict[str, Any]) -> None:
        seen.append(task)
        done.set()

    work.register("packets", run)
    work.submit("packets", {"n": 1})
    wait_until(done.is_set, "the work to run")
    assert seen == [{"n": 1}]
    with pytest.raises(NoWork):
        work.submit("reports", {})
    work.shutdown()


def test_a_work_event_goes_to_the_specs_work_handler() -> None:
    assert event_kind({"work": {"kind": "packet"}}) == "work"
    assert event_kind({"Records": [{"eventSource": "aws:s3"}]}) == "uploads"
    assert event_kind({"httpMethod": "GET", "work": "not a task"}) == "http"
    handled: list[dict[str, Any]] = []

    def factory(clients: Any) -> Any:
        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            handled.append(event)
            return {"status": "done"}

        return handler

    spec = FunctionSpec("packets", "Packets", lambda clients: [], work=Work(factory))
    deployment = Deployment(spec, clients=None, after_response=lambda: None)  # type: ignore[arg-type]
    assert deployment.handler({"work": {"packet_id": "p1"}}, None) == {"status": "done"}
    assert handled == [{"work": {"packet_id": "p1"}}]
