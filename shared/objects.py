"""An org's objects in the data bucket: which keys a caller may name, and reading them within a limit.

Every function that takes an S3 key from a client (geometry, vision) goes through here, so the rule
is one: a key is the caller's only under its own org's prefixes, decided from the key alone (before
any S3 call, so a refusal says nothing about whether the object exists).
"""

from __future__ import annotations

import contextlib
import re
import urllib.parse
from typing import TYPE_CHECKING, Any

from shared.cache_keys import check_org_id
from shared.errors import Forbidden, NotFound, PayloadTooLarge

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.client import Exceptions as S3Exceptions

MAX_KEY_LENGTH = 1024  # S3's own limit
UPLOADS_PREFIX = "uploads/"  # vision's direct uploads, in the upload bucket (shared.uploads)
_UNSAFE_KEY_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
# Without s3:ListBucket (not granted: it would list every org's keys) S3 answers a missing key with
# 403, not 404. The key is already known to be in the caller's own prefix, so both mean "missing".
_MISSING_CODES = frozenset({"404", "NoSuchKey", "403", "AccessDenied"})


def org_prefix(org_id: str) -> str:
    """Where an org's data and results live."""
    return f"orgs/{check_org_id(org_id)}/"


def upload_prefix(org_id: str) -> str:
    """Where an org's direct uploads land; an object created here starts a vision job."""
    return f"{UPLOADS_PREFIX}{check_org_id(org_id)}/"


def megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


def too_large(what: str, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"{what} is larger than the {megabytes(limit)} limit ({limit:,} bytes).")


def check_input_key(org_id: str, key: str, *, uploads: bool = False) -> str:
    """`key` if it names an object under the caller's own `orgs/<org_id>/` (or, with `uploads`, its
    `uploads/<org_id>/`), else 403. S3 keys are literal (no `..` resolution), but empty, `.` and `..`
    segments are refused anyway: a key that reads as a path escape is never what a client meant."""
    prefixes = [org_prefix(org_id)] + ([upload_prefix(org_id)] if uploads else [])
    rest = next((key.removeprefix(p) for p in prefixes if key.startswith(p)), None)
    if (
        rest is None
        or len(key) > MAX_KEY_LENGTH
        or _UNSAFE_KEY_CHARS.search(key)
        or any(segment in ("", ".", "..") for segment in rest.split("/"))
    ):
        names = " or ".join(f"`{p}`" for p in prefixes)
        raise Forbidden(f"`s3_key` must name an object under this org's prefix {names}.")
    return key


def is_missing(exc: Exception, exceptions: S3Exceptions) -> bool:
    if isinstance(exc, exceptions.NoSuchKey):
        return True
    return isinstance(exc, exceptions.ClientError) and exc.response.get("Error", {}).get("Code") in _MISSING_CODES


def read_object(s3: S3Client, bucket: str, key: str, max_bytes: int | None = None) -> bytes | None:
    """The object's bytes (at most `max_bytes`), or None when it is missing."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except Exception as exc:
        if is_missing(exc, s3.exceptions):
            return None
        raise
    with contextlib.closing(body):
        return body.read(max_bytes)


def read_input(s3: S3Client, bucket: str, org_id: str, key: str, limit: int, *, uploads: bool = False) -> bytes:
    """The bytes of an object the caller may name: 403 outside its prefixes, 404 when missing, 413
    over `limit` (from a HEAD, before any of it is downloaded)."""
    check_input_key(org_id, key, uploads=uploads)
    missing = NotFound(f"No object at `s3_key` {key!r} in this org's storage.")
    try:
        size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
    except Exception as exc:
        if is_missing(exc, s3.exceptions):
            raise missing from None
        raise
    if size > limit:
        raise too_large("The object at `s3_key`", limit)
    data = read_object(s3, bucket, key, limit + 1)  # at most one byte over: it may have been replaced since
    if data is None:
        raise missing
    if len(data) > limit:
        raise too_large("The object at `s3_key`", limit)
    return data


def created_objects(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The ObjectCreated records of an S3 event as {bucket, key, etag, size} (keys arrive URL-encoded,
    `+` for a space)."""
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


def object_created_event(bucket: str, key: str, etag: str, size: int) -> dict[str, Any]:
    """An S3 ObjectCreated event for one object, as S3 sends it (the key URL-encoded)."""
    obj = {"key": urllib.parse.quote_plus(key, safe="/"), "eTag": etag.strip('"'), "size": size}
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Post",
        "s3": {"bucket": {"name": bucket}, "object": obj},
    }
    return {"Records": [record]}
