"""The local runtime behind `make run`: the product on embedded defaults.

- DynamoDB and S3: an embedded moto server with the template's own tables and buckets;
- store: Memory, unless REDIS_URL or UPSTASH_REDIS_REST_URL/TOKEN name a real one;
- model: OpenAI when OPENAI_API_KEY (or OPENAI_BASE_URL) is set, else the bundled simulated model,
  and every response then says so (`X-Dominus-Simulated: true`, `simulated` in stream events).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from types import TracebackType

from dominus_dev.simulated_model import SimulatedModel
from dominus_dev.template import EmbeddedAws
from geometry.jobs import GeometryJobs, JobIndex
from metrics.function import MetricsDeps
from metrics.records import PerfLog
from metrics.rollup import Rollups
from shared.engine import Engine
from shared.llm import ChatModel, OpenAIChatModel
from shared.orgs import DynamoOrgRepository
from shared.runtime import build_engine, build_store, retry_policy
from shared.settings import Settings
from shared.stores.base import GuardedStore
from vision.jobs import VisionJobs

logger = logging.getLogger(__name__)


@dataclass
class LocalRuntime:
    settings: Settings
    aws: EmbeddedAws = field(default_factory=EmbeddedAws)
    model: SimulatedModel | None = None
    engine: Engine | None = None
    store: GuardedStore | None = None  # the engine's, shared with the geometry function

    def start(self) -> LocalRuntime:
        self.aws.start()
        resources = self.aws.create_resources()
        self.settings = self.settings.model_copy(
            update={
                "dominus_perf_table": resources.get("DOMINUS_PERF_TABLE", self.settings.dominus_perf_table),
                "dominus_org_table": resources.get("DOMINUS_ORG_TABLE", self.settings.dominus_org_table),
                "dominus_jobs_table": resources.get("DOMINUS_JOBS_TABLE", self.settings.dominus_jobs_table),
                "dominus_idempotency_table": resources.get(
                    "DOMINUS_IDEMPOTENCY_TABLE", self.settings.dominus_idempotency_table
                ),
                "dominus_rollup_table": resources.get("DOMINUS_ROLLUP_TABLE", self.settings.dominus_rollup_table),
                "dominus_bucket": resources.get("DOMINUS_BUCKET", self.settings.dominus_bucket),
            }
        )
        self.store = build_store(self.settings)
        self.engine = build_engine(
            self.settings, dynamodb=self.aws.client("dynamodb"), chat=self._chat_model(), store=self.store
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

    def geometry_jobs(self) -> GeometryJobs:
        """The geometry function's job store on the embedded DynamoDB and S3."""
        return GeometryJobs(
            self.aws.client("dynamodb"),
            self.aws.client("s3"),
            self.settings.dominus_jobs_table,
            self.settings.dominus_bucket,
        )

    def geometry_index(self) -> JobIndex:
        """The engine's store in front of the geometry job index, as the deployed function has it."""
        assert self.store is not None, "start the runtime first"
        return JobIndex.configured(self.store, self.settings)

    def vision_jobs(self) -> VisionJobs:
        """The vision function's jobs on the embedded DynamoDB and S3; its presigned uploads point at
        the embedded S3 (the dev server forwards them there and then runs the job, see server.py)."""
        return VisionJobs(
            self.aws.client("dynamodb"),
            self.aws.client("s3"),
            self.settings.dominus_jobs_table,
            self.settings.dominus_bucket,
        )

    def metrics_deps(self) -> MetricsDeps:
        """The metrics function's collaborators on the embedded DynamoDB and the engine's store."""
        dynamodb = self.aws.client("dynamodb")
        settings = self.settings
        return MetricsDeps(
            log=lambda: PerfLog(dynamodb, settings.dominus_perf_table),
            rollups=lambda: Rollups(dynamodb, settings.dominus_rollup_table),
            orgs=lambda: DynamoOrgRepository(dynamodb, settings.dominus_org_table, settings.dominus_default_balance),
            store=lambda: self.store,
            settings_ttl_ms=int(settings.dominus_org_settings_ttl_s * 1000),
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
        if self.model is not None:
            self.model.stop()
        self.aws.stop()

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
