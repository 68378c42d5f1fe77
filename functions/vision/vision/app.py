"""The deployed vision function (VisionFunction): one handler for both of its event sources.

- API Gateway events: the FastAPI app through Mangum (vision.function's routes).
- S3 ObjectCreated events under `uploads/`: one job per record. S3 delivers at least once, so each
  record runs through Powertools Idempotency on DynamoDB keyed by bucket, key and ETag: a duplicate
  delivery (or a retry after the job finished) returns the stored outcome and does nothing. A record
  whose job raised is not remembered, so the Lambda retry runs it again.

Settings, boto3 clients and the engine are built on first use, once per sandbox. One event loop per
sandbox runs the S3 jobs, so the engine's HTTP clients outlive an invocation, as Mangum's do.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from shared.engine import Engine
from shared.http import install_error_handling
from shared.runtime import build_engine, dynamodb_client, once
from shared.settings import Settings, load_settings
from vision.function import vision_router
from vision.jobs import VisionJobs
from vision.service import MAX_PHOTO_BYTES, run_upload

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

_BODY_SLACK_BYTES = 64_000
IDEMPOTENCY_DAYS = 7  # longer than S3's redelivery window


def s3_client() -> S3Client:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=15, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client("s3", config=config)


def create_app(jobs: Callable[[], VisionJobs], engine: Callable[[], Engine | None], settings: Settings) -> FastAPI:
    app = FastAPI(title="Dominus Vision", version="1.0.0")
    install_error_handling(app, max_body_bytes=MAX_PHOTO_BYTES + _BODY_SLACK_BYTES)
    app.include_router(vision_router(jobs, engine, settings.dominus_env))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "function": "vision"}

    return app


def upload_records(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The S3 records of an event as {bucket, key, etag, size} (keys arrive URL-encoded, `+` for space)."""
    found = []
    for record in event.get("Records", []):
        if record.get("eventSource") != "aws:s3" or not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = record["s3"]
        found.append(
            {
                "bucket": s3["bucket"]["name"],
                "key": urllib.parse.unquote_plus(s3["object"]["key"]),
                "etag": s3["object"].get("eTag", ""),
                "size": int(s3["object"].get("size", 0)),
            }
        )
    return found


def s3_event(bucket: str, key: str, etag: str, size: int) -> dict[str, Any]:
    """An S3 ObjectCreated event for one object, as S3 sends it (the key URL-encoded)."""
    obj = {"key": urllib.parse.quote_plus(key, safe="/"), "eTag": etag.strip('"'), "size": size}
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Post",
        "s3": {"bucket": {"name": bucket}, "object": obj},
    }
    return {"Records": [record]}


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
        outcomes = [self._once(upload={**upload, "request_id": request_id}) for upload in upload_records(event)]
        return {"jobs": outcomes}


def _deployed() -> tuple[FastAPI, UploadHandler]:
    settings = load_settings()
    dynamodb = once(dynamodb_client)
    jobs = once(
        lambda: VisionJobs(
            dynamodb(),
            s3_client(),
            settings.dominus_jobs_table,
            settings.dominus_bucket,
            upload_bucket=settings.dominus_upload_bucket,
        )
    )
    engine_made = once(lambda: build_engine(settings, dynamodb=dynamodb()))

    def engine() -> Engine | None:
        return engine_made() if settings.has_model_credentials else None

    return create_app(jobs, engine, settings), UploadHandler(jobs, engine, settings.dominus_idempotency_table, dynamodb)


_parts = once(_deployed)


def _mangum() -> Any:
    from mangum import Mangum

    return Mangum(_parts()[0], lifespan="off")


_adapter = once(_mangum)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if upload_records(event):
        return _parts()[1](event, context)
    response: dict[str, Any] = _adapter()(event, context)
    return response
