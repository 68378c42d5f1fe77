"""Presigned uploads that start jobs: where an upload lands, the presigned POST that lets a client put
exactly that object, and the S3 ObjectCreated handler that runs each upload's job once.

Each function that takes uploads owns one prefix of the upload bucket (vision `uploads/`, geometry
`geometry-uploads/`), and its uploads land at `<prefix><org_id>/<job_id>/<name>`: the key names the
org and the job, so an event carries all its job needs, and the prefix says whose event it is (the
template's S3 filter deployed, the dev server's dispatch locally, `shared.deployment.Uploads` for a
record that reaches the wrong function anyway).

S3 delivers at least once, so each record runs through Powertools Idempotency on DynamoDB keyed by
bucket, key and ETag: a duplicate delivery (or a retry after the job finished) returns the stored
outcome and does nothing. A record whose job raised is not remembered, so the Lambda retry runs it
again. One event loop per sandbox runs the jobs, so clients made on it (the engine's HTTP clients)
outlive an invocation, as Mangum's do.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared.cache_keys import check_org_id
from shared.errors import BadRequest
from shared.objects import created_objects

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

UPLOAD_EXPIRES_S = 900  # a presigned POST is good for 15 minutes
IDEMPOTENCY_DAYS = 7  # longer than S3's redelivery window
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class UploadRef:
    """What an upload's key says: whose it is, its job, its file name."""

    org_id: str
    job_id: str
    name: str


def safe_name(name: str, fallback: str = "upload") -> str:
    """A file name fit for a key: its last path segment, unsafe characters replaced, bounded."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE_NAME.sub("-", base).strip(".-")[:100]
    return cleaned or fallback


@dataclass(frozen=True)
class UploadKeys:
    """One function's uploads: `<prefix><org_id>/<job_id>/<name>` in the upload bucket."""

    prefix: str  # "uploads/": ends with a slash, and no function's is the start of another's
    fallback: str = "upload"  # the name of an upload whose own name has nothing safe in it

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        job = "[0-9a-f]{32}"  # a job id: uuid4 hex
        return re.compile(rf"^{re.escape(self.prefix)}(?P<org>[^/]+)/(?P<job>{job})/(?P<name>[^/]+)$")

    def org_prefix(self, org_id: str) -> str:
        return f"{self.prefix}{check_org_id(org_id)}/"

    def key(self, org_id: str, job_id: str, name: str) -> str:
        return f"{self.org_prefix(org_id)}{job_id}/{safe_name(name, self.fallback)}"

    def parse(self, key: str) -> UploadRef | None:
        """The org and job an uploaded object belongs to, or None for a key that is not one of these."""
        match = self._pattern.fullmatch(key)
        if match is None:
            return None
        try:
            org_id = check_org_id(match["org"])
        except BadRequest:  # not an org id: an object no offer named
            return None
        return UploadRef(org_id, match["job"], match["name"])


def presigned_post(
    s3: S3Client,
    bucket: str,
    key: str,
    *,
    max_bytes: int,
    content_type: str,
    content_type_prefix: str | None = None,
    metadata: dict[str, str] | None = None,
    expires_s: int = UPLOAD_EXPIRES_S,
) -> dict[str, Any]:
    """A presigned POST for exactly `key`, 1 to `max_bytes` bytes, the content type (exactly, or any
    starting with `content_type_prefix`) and `metadata` as the object's user metadata: the form must
    send them unchanged, so what the job reads from the object is what the offer said."""
    fields: dict[str, Any] = {"Content-Type": content_type}
    conditions: list[Any] = [
        {"bucket": bucket},
        ["eq", "$key", key],
        ["starts-with", "$Content-Type", content_type_prefix]
        if content_type_prefix is not None
        else {"Content-Type": content_type},
        ["content-length-range", 1, max_bytes],
    ]
    for name, value in (metadata or {}).items():
        fields[f"x-amz-meta-{name}"] = value
        conditions.append({f"x-amz-meta-{name}": value})
    post = s3.generate_presigned_post(Bucket=bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=expires_s)
    return {"url": post["url"], "fields": post["fields"], "key": key}


# (bucket, key, request id) -> the job's coroutine, whose outcome (a JSON dict) idempotency stores.
UploadJob = Callable[[str, str, str], Coroutine[Any, Any, dict[str, Any]]]


class UploadHandler:
    """Runs upload records once each (per bucket, key and ETag): a function's `Uploads` handler."""

    def __init__(
        self,
        job: UploadJob,
        idempotency_table: str,
        dynamodb: Callable[[], DynamoDBClient],
        run: Callable[[Coroutine[Any, Any, dict[str, Any]]], dict[str, Any]] | None = None,
    ) -> None:
        """`run` drives a job's coroutine to its end: by default on this sandbox's own loop; the dev
        server passes one that runs it on its server's loop, where its engine lives."""
        from aws_lambda_powertools.utilities.idempotency import (  # loaded with the first upload event
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        self._run_coroutine = run or asyncio.new_event_loop().run_until_complete
        self._job = job
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
        return self._run_coroutine(self._job(upload["bucket"], upload["key"], upload["request_id"]))

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if context is not None:
            self.config.register_lambda_context(context)
        request_id = str(getattr(context, "aws_request_id", "") or "s3-event")
        outcomes = [self._once(upload={**upload, "request_id": request_id}) for upload in created_objects(event)]
        return {"jobs": outcomes}
