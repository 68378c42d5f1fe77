"""Job records in JobsTable (pk `org_id`, sk `job_id`): one typed record, and the repository every
function that runs jobs reads and writes them through.

A job is only ever read under its own org, so another org's job is simply not found; and only a
job id (uuid4 hex) is looked up, never another kind of item the table holds (an input index item,
sk `input#<sha256>` -> `target` job id, which lets identical input find its earlier job).

A job tagged with a claim (`tags.claim_id`) is also indexed by it: the item carries `claim_key`
(`<org_id>#<claim_id>`), the partition key of the sparse index `by_claim` (sorted by `created_at`),
so an org's jobs for one claim (geometry, vision, report, packet) are one query, never a scan.

`DynamoJobRepository` is the only code that knows the items' DynamoDB shape; `MemoryJobRepository`
keeps the same semantics (conditions included) in memory, for unit tests. One contract test suite
holds both to the same behaviour.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self, cast

from pydantic import BaseModel, ConfigDict, Field

from shared.cache_keys import check_org_id
from shared.perf import utc_now

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef
    from mypy_boto3_s3 import S3Client

    from shared.job_events import JobEvents

JobStatus = Literal["awaiting_upload", "queued", "running", "done", "failed"]
Scalar = str | int | float | None  # a function's own attribute; None is stored as NULL
INPUT_PREFIX = "input#"
CLAIM_INDEX = "by_claim"
MAX_CLAIM_JOBS = 500  # a claim's listing is bounded: a claim has a roof or two and its photos
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# What a job was made with: an upsert over an existing job keeps these.
_KEPT_ON_UPSERT = ("created_at", "name", "tags", "claim_key", "expires_at")


def is_job_id(value: str) -> bool:
    return bool(_JOB_ID.fullmatch(value))


def check_sha256(value: str) -> str:
    if not _SHA256.fullmatch(value):
        raise ValueError("input_sha256 must be 64 lowercase hex digits")
    return value


def expiry(now: datetime, retention_days: int) -> int:
    """The epoch second after which DynamoDB's TTL removes a record."""
    return int(now.timestamp()) + retention_days * 86_400


def _ms(moment: datetime) -> datetime:
    """UTC, to the millisecond: what a stored record keeps (a naive time is taken as UTC)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso_ms(moment: datetime) -> str:
    """A record's timestamp as stored and shown: UTC ISO 8601 with milliseconds."""
    return _ms(moment).isoformat(timespec="milliseconds")


TAG_PATTERN = r"^[A-Za-z0-9_.:-]+$"


class JobTags(BaseModel):
    """What the CRM sends with any job (geometry, vision, report, packet), stored with it and returned
    with its result: the claim ties a roof's jobs together (`GET /v1/claims/{claim_id}/jobs`), the
    structure names which building on the claim a job is about."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: str | None = Field(None, max_length=64, pattern=TAG_PATTERN)
    claim_id: str | None = Field(None, max_length=64, pattern=TAG_PATTERN)
    structure: str | None = Field(None, max_length=8, pattern=TAG_PATTERN, description="the building on the claim")

    def stored(self) -> dict[str, Any]:
        """As the job record keeps them: the tags that are set."""
        return self.model_dump(mode="json", exclude_defaults=True)

    def metadata(self) -> dict[str, str]:
        """As S3 user metadata (x-amz-meta-*), the way a presigned upload carries them to its job."""
        return {k.replace("_", "-"): str(v).lower() if isinstance(v, bool) else str(v) for k, v in self if v}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> Self:
        """The tags an uploaded object carries (other metadata ignored); ValueError when they do not
        validate. Text as S3 keeps it: a flag's `true` is True."""
        fields = {k.replace("-", "_"): v for k, v in metadata.items() if k.replace("-", "_") in cls.model_fields}
        return cls.model_validate(fields)


class JobConflict(Exception):
    """The id already holds a job (create), or another kind's job (upsert)."""


class JobNotFound(Exception):
    """An update of a job that is not there (expired, or never made)."""


@dataclass(frozen=True)
class JobRecord:
    org_id: str
    job_id: str
    status: JobStatus
    created_at: datetime
    expires_at: int  # epoch seconds (DynamoDB TTL)
    kind: str | None = None  # "vision"; geometry's records carry none
    updated_at: datetime | None = None
    name: str | None = None
    tags: Mapping[str, Any] | None = None  # as the CRM sent them (stored as JSON)
    reason: str | None = None  # why a failed job failed, for a person to act on
    # The function's own attributes, under the names stored today (report_key, detections, ...).
    attributes: Mapping[str, Scalar] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # As stored: times to the millisecond; copies, so a caller's dict changed later changes no record.
        object.__setattr__(self, "created_at", _ms(self.created_at))
        if self.updated_at is not None:
            object.__setattr__(self, "updated_at", _ms(self.updated_at))
        object.__setattr__(self, "attributes", dict(self.attributes))
        if self.tags is not None:
            object.__setattr__(self, "tags", dict(self.tags))
        check_org_id(self.org_id)
        if self.claim_id is not None and not _CLAIM_ID.fullmatch(self.claim_id):
            raise ValueError("a claim id is 1-64 letters, digits and . _ : -")
        if not is_job_id(self.job_id):
            raise ValueError(f"not a job id: {self.job_id[:40]!r}")
        clash = set(self.attributes) & _COMMON
        if clash:
            raise ValueError(f"attributes may not be named as the record's own fields: {sorted(clash)}")

    @property
    def claim_id(self) -> str | None:
        """The claim the job was tagged with, if any."""
        value = (self.tags or {}).get("claim_id")
        return value if isinstance(value, str) and value else None

    def text(self, name: str) -> str | None:
        """A string attribute, or None (absent, NULL, or not a string)."""
        value = self.attributes.get(name)
        return value if isinstance(value, str) else None


_COMMON = {
    "org_id", "job_id", "status", "created_at", "expires_at", "kind", "updated_at", "name", "tags", "reason",
    "claim_key",
}  # fmt: skip
_CLAIM_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def claim_key(org_id: str, claim_id: str) -> str:
    if not _CLAIM_ID.fullmatch(claim_id):
        raise ValueError("a claim id is 1-64 letters, digits and . _ : -")
    return f"{check_org_id(org_id)}#{claim_id}"


class JobRepository(Protocol):
    def create(self, record: JobRecord) -> None:
        """Store a new job; JobConflict when its id is taken."""

    def get(self, org_id: str, job_id: str) -> JobRecord | None:
        """This org's job, or None: unknown, another org's, or not a job id."""

    def upsert(self, record: JobRecord) -> None:
        """Create `record`, or write its status, updated_at, reason (when set) and attributes over an
        existing job of the same kind, keeping what that job was made with (created_at, name, tags,
        expires_at); JobConflict when the id holds another kind's job. `record.kind` is required."""

    def update(
        self,
        org_id: str,
        job_id: str,
        *,
        status: JobStatus,
        updated_at: datetime,
        reason: str | None = None,
        attributes: Mapping[str, Scalar] | None = None,
    ) -> None:
        """Set an existing job's status, updated_at and `attributes`; its reason is set when given
        and removed otherwise. JobNotFound when there is no such job."""

    def claim_jobs(self, org_id: str, claim_id: str) -> list[JobRecord]:
        """This org's jobs tagged with the claim, oldest first (at most MAX_CLAIM_JOBS)."""

    def find_input(self, org_id: str, input_sha256: str) -> str | None:
        """The job id indexed for this input in this org, if any."""

    def put_input(self, org_id: str, input_sha256: str, job_id: str, expires_at: int) -> bool:
        """Index `job_id` for this input unless one is indexed already; whether it was stored."""


def _check_upsert(record: JobRecord) -> str:
    if record.kind is None:
        raise ValueError("an upsert needs the job's kind")
    return record.kind


# ---- DynamoDB ------------------------------------------------------------------------------------


def _value(value: Scalar) -> AttributeValueTypeDef:
    if value is None:
        return {"NULL": True}
    if isinstance(value, str):
        return {"S": value}
    return {"N": repr(float(value)) if isinstance(value, float) else str(int(value))}


def _scalar(value: Mapping[str, Any]) -> Scalar:
    if "S" in value:
        return str(value["S"])
    if "N" in value:
        text = str(value["N"])
        return int(text) if text.lstrip("-").isdigit() else float(text)
    return None


def _item(record: JobRecord) -> dict[str, AttributeValueTypeDef]:
    item: dict[str, AttributeValueTypeDef] = {
        "org_id": {"S": record.org_id},
        "job_id": {"S": record.job_id},
        "status": {"S": record.status},
        "created_at": {"S": iso_ms(record.created_at)},
        "expires_at": {"N": str(record.expires_at)},
    }
    optional: dict[str, str | None] = {
        "kind": record.kind,
        "updated_at": iso_ms(record.updated_at) if record.updated_at is not None else None,
        "name": record.name,
        "tags": json.dumps(record.tags, separators=(",", ":"), ensure_ascii=False) if record.tags is not None else None,
        "reason": record.reason,
    }
    if record.claim_id is not None:
        optional["claim_key"] = claim_key(record.org_id, record.claim_id)
    item |= {name: {"S": value} for name, value in optional.items() if value is not None}
    item |= {name: _value(value) for name, value in record.attributes.items()}
    return item


def _record(item: Mapping[str, Mapping[str, Any]]) -> JobRecord:
    def text(name: str) -> str | None:
        value = item.get(name, {}).get("S")
        return str(value) if value is not None else None

    updated_at, tags = text("updated_at"), text("tags")
    return JobRecord(
        org_id=str(item["org_id"]["S"]),
        job_id=str(item["job_id"]["S"]),
        status=cast("JobStatus", item["status"]["S"]),
        created_at=datetime.fromisoformat(str(item["created_at"]["S"])),
        expires_at=int(item["expires_at"]["N"]),
        kind=text("kind"),
        updated_at=datetime.fromisoformat(updated_at) if updated_at is not None else None,
        name=text("name"),
        tags=json.loads(tags) if tags is not None else None,
        reason=text("reason"),
        attributes={name: _scalar(value) for name, value in item.items() if name not in _COMMON},
    )


class _Update:
    """An UpdateExpression built from named values: every name through a placeholder (`status`,
    `name` and others are DynamoDB reserved words)."""

    def __init__(self) -> None:
        self.sets: list[str] = []
        self.removes: list[str] = []
        self.names: dict[str, str] = {}
        self.values: dict[str, AttributeValueTypeDef] = {}

    def _name(self, attribute: str) -> str:
        placeholder = f"#a{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: AttributeValueTypeDef) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def set(self, attribute: str, value: AttributeValueTypeDef, *, if_absent: bool = False) -> None:
        name, placeholder = self._name(attribute), self.value(value)
        self.sets.append(f"{name} = if_not_exists({name}, {placeholder})" if if_absent else f"{name} = {placeholder}")

    def remove(self, attribute: str) -> None:
        self.removes.append(self._name(attribute))

    def expression(self) -> str:
        clauses = [f"SET {', '.join(self.sets)}"] if self.sets else []
        if self.removes:
            clauses.append(f"REMOVE {', '.join(self.removes)}")
        return " ".join(clauses)


_ABSENT = "attribute_not_exists(job_id)"


class DynamoJobRepository:
    """JobsTable: the one place that reads and writes job items (thread-safe: boto3 clients are)."""

    def __init__(self, client: DynamoDBClient | Callable[[], DynamoDBClient], table: str) -> None:
        # A factory defers building the client (and importing boto3) until a job is really touched.
        self._client = client if callable(client) else (lambda: client)
        self.table = table

    def _key(self, org_id: str, sk: str) -> dict[str, AttributeValueTypeDef]:
        return {"org_id": {"S": check_org_id(org_id)}, "job_id": {"S": sk}}

    def create(self, record: JobRecord) -> None:
        client = self._client()
        try:
            client.put_item(TableName=self.table, Item=_item(record), ConditionExpression=_ABSENT)
        except client.exceptions.ConditionalCheckFailedException:
            raise JobConflict(f"job {record.job_id} exists") from None

    def get(self, org_id: str, job_id: str) -> JobRecord | None:
        if not is_job_id(job_id):
            return None
        item = self._client().get_item(TableName=self.table, Key=self._key(org_id, job_id), ConsistentRead=True)
        found = item.get("Item")
        return _record(found) if found is not None else None

    def upsert(self, record: JobRecord) -> None:
        kind = _check_upsert(record)
        update = _Update()
        for name, value in _item(record).items():
            if name not in ("org_id", "job_id"):
                update.set(name, value, if_absent=name in _KEPT_ON_UPSERT)
        kind_name = next(placeholder for placeholder, name in update.names.items() if name == "kind")
        client = self._client()
        try:
            client.update_item(
                TableName=self.table,
                Key=self._key(record.org_id, record.job_id),
                UpdateExpression=update.expression(),
                ConditionExpression=f"{_ABSENT} OR {kind_name} = {update.value({'S': kind})}",
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
            )
        except client.exceptions.ConditionalCheckFailedException:
            raise JobConflict(f"job {record.job_id} is not a {kind} job") from None

    def update(
        self,
        org_id: str,
        job_id: str,
        *,
        status: JobStatus,
        updated_at: datetime,
        reason: str | None = None,
        attributes: Mapping[str, Scalar] | None = None,
    ) -> None:
        update = _Update()
        update.set("status", {"S": status})
        update.set("updated_at", {"S": iso_ms(updated_at)})
        if reason is not None:
            update.set("reason", {"S": reason})
        else:
            update.remove("reason")
        for name, value in (attributes or {}).items():
            if name in _COMMON:
                raise ValueError(f"{name} is the record's own field, not an attribute")
            update.set(name, _value(value))
        client = self._client()
        try:
            client.update_item(
                TableName=self.table,
                Key=self._key(org_id, job_id),
                UpdateExpression=update.expression(),
                ConditionExpression="attribute_exists(job_id)",
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
            )
        except client.exceptions.ConditionalCheckFailedException:
            raise JobNotFound(f"no job {job_id}") from None

    def claim_jobs(self, org_id: str, claim_id: str) -> list[JobRecord]:
        client = self._client()
        records: list[JobRecord] = []
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": CLAIM_INDEX,
            "KeyConditionExpression": "claim_key = :claim",
            "ExpressionAttributeValues": {":claim": {"S": claim_key(org_id, claim_id)}},
        }
        while len(records) < MAX_CLAIM_JOBS:
            page = client.query(**query, Limit=MAX_CLAIM_JOBS - len(records))
            records += [_record(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return records

    def find_input(self, org_id: str, input_sha256: str) -> str | None:
        key = self._key(org_id, INPUT_PREFIX + check_sha256(input_sha256))
        item = self._client().get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        target = (item or {}).get("target", {}).get("S")
        return target if target and is_job_id(target) else None

    def put_input(self, org_id: str, input_sha256: str, job_id: str, expires_at: int) -> bool:
        if not is_job_id(job_id):
            raise ValueError(f"not a job id: {job_id[:40]!r}")
        item: dict[str, AttributeValueTypeDef] = {
            **self._key(org_id, INPUT_PREFIX + check_sha256(input_sha256)),
            "target": {"S": job_id},
            "expires_at": {"N": str(expires_at)},
        }
        client = self._client()
        try:
            client.put_item(TableName=self.table, Item=item, ConditionExpression=_ABSENT)
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True


# ---- memory ----------------------------------------------------------------------------------------


class MemoryJobRepository:
    """The same semantics in one process's memory (unit tests). TTL never expires a record, as under
    moto; a lock stands in for DynamoDB's per-item atomicity."""

    def __init__(self) -> None:
        self._jobs: dict[tuple[str, str], JobRecord] = {}
        self._inputs: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def create(self, record: JobRecord) -> None:
        with self._lock:
            if (record.org_id, record.job_id) in self._jobs:
                raise JobConflict(f"job {record.job_id} exists")
            self._jobs[record.org_id, record.job_id] = record

    def get(self, org_id: str, job_id: str) -> JobRecord | None:
        if not is_job_id(job_id):
            return None
        with self._lock:
            return self._jobs.get((check_org_id(org_id), job_id))

    def upsert(self, record: JobRecord) -> None:
        kind = _check_upsert(record)
        with self._lock:
            existing = self._jobs.get((record.org_id, record.job_id))
            if existing is not None and existing.kind != kind:
                raise JobConflict(f"job {record.job_id} is not a {kind} job")
            if existing is not None:
                record = replace(
                    record,
                    created_at=existing.created_at,
                    expires_at=existing.expires_at,
                    name=existing.name if existing.name is not None else record.name,
                    tags=existing.tags if existing.tags is not None else record.tags,
                    updated_at=record.updated_at or existing.updated_at,
                    reason=record.reason if record.reason is not None else existing.reason,
                    attributes={**existing.attributes, **record.attributes},
                )
            self._jobs[record.org_id, record.job_id] = record

    def update(
        self,
        org_id: str,
        job_id: str,
        *,
        status: JobStatus,
        updated_at: datetime,
        reason: str | None = None,
        attributes: Mapping[str, Scalar] | None = None,
    ) -> None:
        with self._lock:
            existing = self._jobs.get((check_org_id(org_id), job_id))
            if existing is None:
                raise JobNotFound(f"no job {job_id}")
            self._jobs[org_id, job_id] = replace(
                existing,
                status=status,
                updated_at=updated_at,
                reason=reason,
                attributes={**existing.attributes, **(attributes or {})},
            )

    def claim_jobs(self, org_id: str, claim_id: str) -> list[JobRecord]:
        claim_key(org_id, claim_id)  # the same checks as the index's key
        with self._lock:
            found = [r for (org, _), r in self._jobs.items() if org == org_id and r.claim_id == claim_id]
        return sorted(found, key=lambda r: (iso_ms(r.created_at), r.job_id))[:MAX_CLAIM_JOBS]

    def find_input(self, org_id: str, input_sha256: str) -> str | None:
        with self._lock:
            return self._inputs.get((check_org_id(org_id), check_sha256(input_sha256)))

    def put_input(self, org_id: str, input_sha256: str, job_id: str, expires_at: int) -> bool:
        if not is_job_id(job_id):
            raise ValueError(f"not a job id: {job_id[:40]!r}")
        with self._lock:
            key = (check_org_id(org_id), check_sha256(input_sha256))
            if key in self._inputs:
                return False
            self._inputs[key] = job_id
            return True


DEFAULT_RETENTION_DAYS = 365


class JobStore:
    """What each function's jobs live in: their records (through the repository), the data bucket
    (every key under the org's prefix), the upload bucket where presigned uploads land (the data
    bucket when there is none), how long a job is kept, the clock, and where finished jobs are
    announced (none: not published). Thread-safe as boto3 clients are."""

    def __init__(
        self,
        records: JobRepository,
        s3: S3Client,
        bucket: str,
        *,
        upload_bucket: str | None = None,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        clock: Callable[[], datetime] = utc_now,
        events: JobEvents | None = None,
    ) -> None:
        self.records = records
        self.s3 = s3
        self.bucket = bucket
        self.upload_bucket = upload_bucket or bucket
        self.retention_days = retention_days
        self.clock = clock
        self.events = events
