"""Vision jobs: a DynamoDB record per photo job, its results in S3, and the presigned upload that
starts one.

Table (JobsTable, pk `org_id`, sk `job_id`, shared with geometry; `kind` tells them apart):
`{org_id, job_id, kind "vision", status, reason (failed), created_at, updated_at, source_key, name,
tags..., image_sha256, detections, model, result_key, heatmap_key, expires_at}`.
Status: `awaiting_upload` (a presigned upload was handed out) -> `queued` (the object arrived) ->
`running` -> `done` | `failed` (with a reason a person can act on). A synchronous analysis is
stored straight as `done`.
Bucket: uploads at `uploads/<org_id>/<job_id>/<name>` (an object created under `uploads/` starts the
job: the key names the org and the job, so an event carries all the job needs); results at
`orgs/<org_id>/vision/<job_id>/detections.json` and `heatmap.png`.

Every key includes the org: another org's job is simply not found.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.cache_keys import check_org_id
from shared.jobs import job_item
from shared.objects import org_prefix, read_object, upload_prefix

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

Status = Literal["awaiting_upload", "queued", "running", "done", "failed"]
KIND = "vision"
DEFAULT_RETENTION_DAYS = 365
UPLOAD_EXPIRES_S = 900
_UPLOAD_KEY = re.compile(r"^uploads/(?P<org>[^/]+)/(?P<job>[0-9a-f]{32})/(?P<name>[^/]+)$")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
NO_JOB = "No vision job with that id in this org."


class PhotoTags(BaseModel):
    """What the CRM sends along with a photo; stored with the job and returned with its result."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    claim_id: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    slope: str | None = Field(
        None, max_length=8, pattern=r"^([A-Z]|N|NE|E|SE|S|SW|W|NW)$", description="a facet letter or a compass facing"
    )
    test_square: bool = Field(False, description="the photo is of a 10 x 10 ft test square")

    def metadata(self) -> dict[str, str]:
        """As S3 user metadata (x-amz-meta-*), the way the upload carries them to the job."""
        return {k.replace("_", "-"): str(v).lower() if isinstance(v, bool) else str(v) for k, v in self if v}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> PhotoTags:
        fields = {k.replace("-", "_"): v for k, v in metadata.items() if k.replace("-", "_") in cls.model_fields}
        if "test_square" in fields:
            fields["test_square"] = fields["test_square"] == "true"  # type: ignore[assignment]
        return cls.model_validate(fields)


@dataclass(frozen=True)
class UploadRef:
    org_id: str
    job_id: str
    name: str


def safe_name(name: str) -> str:
    """A file name fit for a key: its last path segment, unsafe characters replaced, bounded."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE_NAME.sub("-", base).strip(".-")[:100]
    return cleaned or "photo"


def upload_key(org_id: str, job_id: str, name: str) -> str:
    return f"{upload_prefix(org_id)}{job_id}/{safe_name(name)}"


def parse_upload_key(key: str) -> UploadRef | None:
    """The org and job an uploaded object belongs to, or None for a key that is not an upload's."""
    match = _UPLOAD_KEY.fullmatch(key)
    if match is None:
        return None
    try:
        org_id = check_org_id(match["org"])
    except ValueError:
        return None
    return UploadRef(org_id, match["job"], match["name"])


def result_key(org_id: str, job_id: str) -> str:
    return f"{org_prefix(org_id)}vision/{job_id}/detections.json"


def heatmap_key(org_id: str, job_id: str) -> str:
    return f"{org_prefix(org_id)}vision/{job_id}/heatmap.png"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class VisionJobs:
    """Job records, results and uploads of one deployment (thread-safe: boto3 clients are)."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        s3: S3Client,
        table: str,
        bucket: str,
        *,
        upload_bucket: str | None = None,
        retention_days: int = DEFAULT_RETENTION_DAYS,
    ) -> None:
        """`upload_bucket`: where presigned uploads land (deployed, its own bucket, whose events start
        jobs); the data bucket when not given."""
        self.dynamodb = dynamodb
        self.s3 = s3
        self.table = table
        self.bucket = bucket
        self.upload_bucket = upload_bucket or bucket
        self.retention_days = retention_days

    def bucket_of(self, key: str) -> str:
        """The bucket an org's key lives in: uploads in the upload bucket, the rest in the data bucket."""
        return self.upload_bucket if key.startswith("uploads/") else self.bucket

    # ---- records ------------------------------------------------------------------------------

    def open(self, org_id: str, *, status: Status, name: str, tags: PhotoTags, source_key: str | None = None) -> str:
        """A new job's record; returns its id."""
        job_id = uuid.uuid4().hex
        item: dict[str, AttributeValueTypeDef] = {
            "org_id": {"S": check_org_id(org_id)},
            "job_id": {"S": job_id},
            "kind": {"S": KIND},
            "status": {"S": status},
            "name": {"S": safe_name(name)},
            "created_at": {"S": _now()},
            "updated_at": {"S": _now()},
            "tags": {"S": tags.model_dump_json(exclude_defaults=True)},
            "expires_at": {"N": str(int(time.time()) + self.retention_days * 86_400)},
        }
        if source_key is not None:
            item["source_key"] = {"S": source_key}
        self.dynamodb.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(job_id)")
        return job_id

    def ensure(self, ref: UploadRef, tags: PhotoTags, source_key: str) -> None:
        """The record of an upload's job, made `queued`; created if the upload came without one (an
        object written to the upload prefix by another tool)."""
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"org_id": {"S": ref.org_id}, "job_id": {"S": ref.job_id}},
            UpdateExpression=(
                "SET #s = :queued, kind = :kind, source_key = :key, updated_at = :now, "
                "created_at = if_not_exists(created_at, :now), #n = if_not_exists(#n, :name), "
                "tags = if_not_exists(tags, :tags), expires_at = if_not_exists(expires_at, :exp)"
            ),
            ConditionExpression="attribute_not_exists(job_id) OR kind = :kind",
            ExpressionAttributeNames={"#s": "status", "#n": "name"},
            ExpressionAttributeValues={
                ":queued": {"S": "queued"},
                ":kind": {"S": KIND},
                ":key": {"S": source_key},
                ":now": {"S": _now()},
                ":name": {"S": ref.name},
                ":tags": {"S": tags.model_dump_json(exclude_defaults=True)},
                ":exp": {"N": str(int(time.time()) + self.retention_days * 86_400)},
            },
        )

    def mark(self, org_id: str, job_id: str, status: Status, *, reason: str | None = None) -> None:
        names = {"#s": "status"}
        values: dict[str, AttributeValueTypeDef] = {":s": {"S": status}, ":now": {"S": _now()}}
        expression = "SET #s = :s, updated_at = :now"
        if reason is not None:
            expression += ", reason = :r"
            values[":r"] = {"S": reason[:500]}
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"org_id": {"S": org_id}, "job_id": {"S": job_id}},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def finish(self, org_id: str, job_id: str, result: dict[str, Any], heatmap: bytes | None) -> bool:
        """Store the result (and heatmap) and mark the job done; whether a heatmap was stored (one that
        cannot be is logged and left out: the detections stand without it)."""
        key = result_key(org_id, job_id)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(result, separators=(",", ":")).encode(),
            ContentType="application/json",
        )
        values: dict[str, AttributeValueTypeDef] = {
            ":s": {"S": "done"},
            ":now": {"S": _now()},
            ":rk": {"S": key},
            ":sha": {"S": str(result["image"]["sha256"])},
            ":n": {"N": str(len(result["detections"]))},
            ":m": {"S": str(result["model"])},
        }
        expression = (
            "SET #s = :s, updated_at = :now, result_key = :rk, image_sha256 = :sha, detections = :n, model = :m"
        )
        stored = heatmap is not None and self._put_heatmap(org_id, job_id, heatmap)
        if stored:
            expression += ", heatmap_key = :hk"
            values[":hk"] = {"S": heatmap_key(org_id, job_id)}
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"org_id": {"S": org_id}, "job_id": {"S": job_id}},
            UpdateExpression=expression + " REMOVE reason",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values,
        )
        return stored

    def _put_heatmap(self, org_id: str, job_id: str, png: bytes) -> bool:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=heatmap_key(org_id, job_id), Body=png, ContentType="image/png")
        except Exception:  # the heatmap is a view of the detections: the job is stored without it
            logger.warning("vision job %s: could not store its heatmap", job_id, exc_info=True)
            return False
        return True

    def item(self, org_id: str, job_id: str) -> dict[str, Any] | None:
        """This org's vision job record, or None (unknown id, another org's, another kind)."""
        item = job_item(self.dynamodb, self.table, org_id, job_id)
        if item is None or item.get("kind", {}).get("S") != KIND:
            return None
        return item

    def view(self, org_id: str, job_id: str) -> dict[str, Any] | None:
        """The job as the API shows it: state, tags, and the result once done."""
        item = self.item(org_id, job_id)
        if item is None:
            return None
        status = item["status"]["S"]
        job: dict[str, Any] = {
            "job_id": job_id,
            "status": status,
            "name": item.get("name", {}).get("S"),
            "created_at": item.get("created_at", {}).get("S"),
            "updated_at": item.get("updated_at", {}).get("S"),
            "tags": json.loads(item.get("tags", {}).get("S") or "{}"),
        }
        if status == "failed":
            job["reason"] = item.get("reason", {}).get("S", "")
        if status == "done":
            body = read_object(self.s3, self.bucket, item.get("result_key", {}).get("S") or result_key(org_id, job_id))
            job["result"] = json.loads(body) if body is not None else None
            job["heatmap"] = "heatmap_key" in item
        return job

    def heatmap(self, org_id: str, job_id: str) -> bytes | None:
        item = self.item(org_id, job_id)
        key = (item or {}).get("heatmap_key", {}).get("S")
        return read_object(self.s3, self.bucket, key) if key else None

    # ---- uploads ------------------------------------------------------------------------------

    def presigned_upload(
        self, org_id: str, job_id: str, name: str, tags: PhotoTags, *, max_bytes: int, content_type: str
    ) -> dict[str, Any]:
        """A presigned POST for exactly this job's key, an image content type, at most `max_bytes`,
        and the tags as metadata (the form must send them unchanged)."""
        key = upload_key(org_id, job_id, name)
        fields: dict[str, Any] = {"Content-Type": content_type}
        conditions: list[Any] = [
            {"bucket": self.upload_bucket},
            ["eq", "$key", key],
            ["starts-with", "$Content-Type", "image/"],
            ["content-length-range", 1, max_bytes],
        ]
        for meta, value in tags.metadata().items():
            fields[f"x-amz-meta-{meta}"] = value
            conditions.append({f"x-amz-meta-{meta}": value})
        post = self.s3.generate_presigned_post(
            Bucket=self.upload_bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=UPLOAD_EXPIRES_S
        )
        return {"url": post["url"], "fields": post["fields"], "key": key}

    def upload_metadata(self, key: str) -> tuple[int, dict[str, str]]:
        """An uploaded object's size and user metadata (the tags)."""
        head = self.s3.head_object(Bucket=self.upload_bucket, Key=key)
        return int(head["ContentLength"]), dict(head.get("Metadata", {}))
