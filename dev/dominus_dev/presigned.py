"""A presigned POST checked as S3 checks it, before the embedded S3 (moto, which checks nothing) stores it.

S3 refuses a form whose signature does not match its policy (SigV2 or SigV4), whose policy has
expired, that names another bucket, breaks a condition (`eq`, `starts-with`, exact-match fields,
`content-length-range`) or sends a field no condition covers. So does the dev server: an upload
accepted locally is one S3 would accept deployed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

# Fields S3 does not hold to the policy's conditions (the signature, the policy, the file itself).
_UNCHECKED = {"policy", "signature", "x-amz-signature", "file", "awsaccesskeyid"}


@dataclass(frozen=True)
class Refused(Exception):
    """What S3 answers to a form it refuses: a status and its XML error."""

    status: int
    code: str
    message: str

    def xml(self) -> bytes:
        return (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{self.code}</Code>'
            f"<Message>{escape(self.message)}</Message></Error>"
        ).encode()


def _failed(condition: Any) -> Refused:
    return Refused(
        403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {json.dumps(condition)}"
    )


def _signature_ok(fields: dict[str, str], policy_b64: str, secret_key: str) -> bool:
    if "x-amz-signature" in fields:  # SigV4
        credential = fields.get("x-amz-credential", "").split("/")
        if len(credential) != 5:
            return False
        _, day, region, service, terminal = credential
        key = ("AWS4" + secret_key).encode()
        for part in (day, region, service, terminal):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, fields["x-amz-signature"])
    digest = hmac.new(secret_key.encode(), policy_b64.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(base64.b64encode(digest).decode(), fields.get("signature", ""))


def _policy(fields: dict[str, str], secret_key: str, now: datetime) -> list[Any]:
    policy_b64 = fields.get("policy")
    if not policy_b64:
        raise Refused(400, "InvalidArgument", "Bucket POST must contain a field named 'policy'.")
    if not _signature_ok(fields, policy_b64, secret_key):
        raise Refused(403, "SignatureDoesNotMatch", "The request signature we calculated does not match.")
    try:
        policy = json.loads(base64.b64decode(policy_b64, validate=True))
        expires = datetime.fromisoformat(str(policy["expiration"]).replace("Z", "+00:00"))
        conditions = policy["conditions"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise Refused(400, "InvalidPolicyDocument", "Invalid Policy: the policy is not a valid document.") from None
    if expires <= now:
        raise Refused(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    if not isinstance(conditions, list):
        raise Refused(400, "InvalidPolicyDocument", "Invalid Policy: `conditions` must be a list.")
    return conditions


def check_post(bucket: str, fields: dict[str, str], size: int, secret_key: str, now: datetime | None = None) -> None:
    """Raise `Refused` as S3 would for this form (field names case-insensitive) and a file of `size`."""
    fields = {name.lower(): value for name, value in fields.items()} | {"bucket": bucket}
    if "key" not in fields:
        raise Refused(400, "InvalidArgument", "Bucket POST must contain a field named 'key'.")
    conditions = _policy(fields, secret_key, now or datetime.now(UTC))
    covered = {"bucket"}
    for condition in conditions:
        if isinstance(condition, dict):
            for name, value in condition.items():
                covered.add(name.lower())
                if fields.get(name.lower()) != value:
                    raise _failed(condition)
        elif isinstance(condition, list) and len(condition) == 3 and condition[0] == "content-length-range":
            low, high = int(condition[1]), int(condition[2])
            if size < low:
                raise Refused(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")
            if size > high:
                raise Refused(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
        elif isinstance(condition, list) and len(condition) == 3 and condition[0] in ("eq", "starts-with"):
            name = str(condition[1]).removeprefix("$").lower()
            covered.add(name)
            value = fields.get(name)
            matched = value == condition[2] if condition[0] == "eq" else (value or "").startswith(condition[2])
            if value is None or not matched:
                raise _failed(condition)
        else:
            raise Refused(400, "InvalidPolicyDocument", f"Invalid Policy: unknown condition {json.dumps(condition)}")
    extra = [name for name in sorted(set(fields) - covered - _UNCHECKED) if not name.startswith("x-ignore-")]
    if extra:
        raise Refused(403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {', '.join(extra)}")
