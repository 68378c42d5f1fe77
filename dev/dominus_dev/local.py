"""The local runtime behind `make run`: the product on embedded defaults.

- DynamoDB and S3: an embedded moto server with the template's own tables and buckets;
- store: Memory, unless REDIS_URL or UPSTASH_REDIS_REST_URL/TOKEN name a real one;
- model: OpenAI when OPENAI_API_KEY (or OPENAI_BASE_URL) is set, else the bundled simulated model,
  and every response then says so (`X-Dominus-Simulated: true`, `simulated` in stream events);
- perf records: written by a child process (`WriterProcess`), as a server answering many requests
  at once should: their boto3 work never waits in line with a request for the interpreter lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from dominus_dev.simulated_model import SimulatedModel
from dominus_dev.template import EmbeddedAws
from shared.engine import Engine
from shared.job_events import MemoryEvents
from shared.llm import ChatModel, OpenAIChatModel
from shared.perf_writer import WriterProcess
from shared.runtime import Clients, build_engine, build_store, once, retry_policy
from shared.settings import Settings
from shared.stores.base import GuardedStore

logger = logging.getLogger(__name__)


@dataclass
class LocalRuntime:
    settings: Settings
    aws: EmbeddedAws = field(default_factory=EmbeddedAws)
    model: SimulatedModel | None = None
    engine: Engine | None = None
    store: GuardedStore | None = None  # the engine's, shared with every function
    perf_writer: WriterProcess | None = None
    events: MemoryEvents = field(default_factory=MemoryEvents)  # every function's job-finished events

    def start(self) -> LocalRuntime:
        self.aws.start()
        # Every table and bucket the template hands its functions, under the same variables.
        names = {env.lower(): physical for env, physical in self.aws.create_resources().items()}
        self.settings = self.settings.model_copy(update={k: v for k, v in names.items() if k in Settings.model_fields})
        self.store = build_store(self.settings)
        self.perf_writer = WriterProcess(
            self.settings.dominus_perf_table,
            self.settings.dominus_perf_retention_days,
            endpoint_url=self.aws.endpoint_url,
            env=self.aws.client_env,
        )
        self.engine = build_engine(
            self.settings,
            dynamodb=self.aws.client("dynamodb"),
            chat=self._chat_model(),
            store=self.store,
            perf_sink=self.perf_writer,
        )
        logger.info(
            "local runtime: AWS at %s, store %s, model %s",
            self.aws.endpoint_url,
            self.engine.store_name,
            "simulated"
            if self.engine.simulated
            else "OpenAI-compatible at " + (self.settings.openai_base_url or "api.openai.com"),
        )
        return self

    def clients(self, **local: Any) -> Clients:
        """The functions' collaborators on the embedded AWS, this runtime's store and engine; `local`
        sets the dev server's own (where presigned uploads go, the loop event handlers run on)."""
        assert self.engine is not None, "start the runtime first"
        assert self.store is not None
        engine, store = self.engine, self.store
        return Clients(
            settings=self.settings,
            dynamodb=lambda: self.aws.client("dynamodb"),
            s3=lambda: self.aws.client("s3"),
            store=lambda: store,
            engine=once(lambda: engine),
            has_model=True,  # OpenAI, or the simulated model
            events=lambda: self.events,
            **local,
        )

    def _chat_model(self) -> ChatModel | None:
        if self.settings.has_model_credentials:
            return None  # the production client, as build_engine makes it
        self.model = SimulatedModel().start()
        return OpenAIChatModel(
            api_key=lambda: None, base_url=self.model.base_url, policy=retry_policy(self.settings), simulated=True
        )

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.flush_records()
        if self.perf_writer is not None:
            self.perf_writer.close()
        if self.model is not None:
            self.model.stop()
        self.aws.stop()

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
