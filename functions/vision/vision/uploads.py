"""S3 ObjectCreated events under `uploads/`: one job per record.

S3 delivers at least once, so each record runs through Powertools Idempotency on DynamoDB keyed by
bucket, key and ETag: a duplicate delivery (or a retry after the job finished) returns the stored
outcome and does nothing. A record whose job raised is not remembered, so the Lambda retry runs it
again. One event loop per sandbox runs the jobs, so the engine's HTTP clients outlive an invocation,
as Mangum's do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from shared.objects import created_objects
from vision.jobs import VisionJobs
from vision.service import run_upload

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from shared.engine import Engine

IDEMPOTENCY_DAYS = 7  # longer than S3's redelivery window


class UploadHandler:
    """Runs upload records once each (per bucket, key and ETag)."""

    def __init__(
        self,
        jobs: Callable[[], VisionJobs],
        engine: Callable[[], Engine | None],
        idempotency_table: str,
        dynamodb: Callable[[], DynamoDBClient],
        run: Callable[[Coroutine[Any, Any, dict[str, Any]]], dict[str, Any]] | None = None,
    ) -> None:
        """`run` drives a job's coroutine to its end: by default on this sandbox's own loop; the dev
        server passes one that runs it on its server's loop, where its engine lives."""
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        self._run_coroutine = run or asyncio.new_event_loop().run_until_complete
        self._jobs, self._engine = jobs, engine
        self.config = IdempotencyConfig(
            event_key_jmespath="[bucket, key, etag]",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=IDEMPOTENCY_DAYS * 86_400,
        )
        persistence = DynamoDBPersistenceLayer(table_name=idempotency_table, boto3_client=dynamodb())
        self._once = idempotent_function(
            data_keyword_argument="upload", persistence_store=persistence, config=self.config
        )(self._run)

    def _run(self, upload: dict[str, Any]) -> dict[str, Any]:
        coroutine = run_upload(
            upload["bucket"], upload["key"], jobs=self._jobs(), engine=self._engine(), request_id=upload["request_id"]
        )
        return self._run_coroutine(coroutine)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if context is not None:
            self.config.register_lambda_context(context)
        request_id = str(getattr(context, "aws_request_id", "") or "s3-event")
        outcomes = [self._once(upload={**upload, "request_id": request_id}) for upload in created_objects(event)]
        return {"jobs": outcomes}
