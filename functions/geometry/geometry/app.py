"""The deployed geometry function: its FastAPI app and the Mangum handler (GeometryFunction).

Settings are read and the boto3 clients and the engine's store built on the first request that
needs them (boto3 costs ~180 ms to import and load; /healthz never needs it), once per sandbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from geometry.function import MAX_UPLOAD_BYTES, geometry_router
from geometry.jobs import GeometryJobs, JobIndex
from shared.http import install_error_handling
from shared.runtime import build_store, once
from shared.settings import Settings, load_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Room for the multipart framing around the largest upload; the route enforces the upload limit.
_BODY_SLACK_BYTES = 64_000


def s3_client() -> S3Client:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client("s3", config=config)


def build_jobs(settings: Settings) -> GeometryJobs:
    from shared.runtime import dynamodb_client

    return GeometryJobs(dynamodb_client(), s3_client(), settings.dominus_jobs_table, settings.dominus_bucket)


def build_index(settings: Settings) -> JobIndex:
    """The engine's store (Upstash, Redis or Memory, as configured) in front of the DynamoDB index."""
    return JobIndex.configured(build_store(settings), settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    app = FastAPI(title="Dominus Geometry", version="1.0.0")
    install_error_handling(app, max_body_bytes=MAX_UPLOAD_BYTES + _BODY_SLACK_BYTES)
    jobs = once(lambda: build_jobs(settings))
    index = once(lambda: build_index(settings))
    app.include_router(geometry_router(jobs, settings.dominus_env, index=index))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "function": "geometry"}

    return app


app = create_app()


def _mangum() -> Any:
    from mangum import Mangum

    return Mangum(app, lifespan="off")


_adapter = once(_mangum)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response: dict[str, Any] = _adapter()(event, context)
    return response
