"""An org's packet templates, by name: the sections and layout (`PacketTemplate`) and, optionally, the
org's own Word document the DOCX files start from (its styles, headers, footers, logo). Stored in the
data bucket under the org's prefix; a small interface with an in-memory twin for unit tests."""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import TYPE_CHECKING, Protocol

from packets.requests import PacketTemplate
from shared.errors import InvalidInput, NotFound
from shared.objects import is_missing, org_prefix, read_object

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.&'-]{0,63}$")
MAX_DOCX_BYTES = 2_000_000
MAX_TEMPLATES = 100


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise InvalidInput(
            "A template name is 1-64 letters, digits, spaces and _ . & ' -, starting with a letter or digit."
        )
    return name


def check_docx(data: bytes) -> bytes:
    """A Word document python-docx can start from: refused with what to fix otherwise."""
    if len(data) > MAX_DOCX_BYTES:
        raise InvalidInput(
            f"A Word template is at most {MAX_DOCX_BYTES // 1_000_000} MB; this one is {len(data) / 1e6:.1f} MB."
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            if "word/document.xml" not in package.namelist():
                raise InvalidInput("That is not a Word document (.docx): it has no word/document.xml.")
        from docx import Document

        Document(io.BytesIO(data))
    except InvalidInput:
        raise
    except Exception:
        raise InvalidInput(
            "The Word template could not be read: save it as .docx (not .doc or .dotx) and upload it again."
        ) from None
    return data


class TemplateStore(Protocol):
    def save(self, org_id: str, name: str, template: PacketTemplate) -> None: ...
    def template(self, org_id: str, name: str) -> PacketTemplate: ...
    def names(self, org_id: str) -> list[str]: ...
    def save_docx(self, org_id: str, name: str, data: bytes) -> None: ...
    def docx(self, org_id: str, name: str) -> bytes | None: ...
    def has_docx(self, org_id: str, name: str) -> bool: ...


class S3TemplateStore:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    @staticmethod
    def _prefix(org_id: str) -> str:
        return f"{org_prefix(org_id)}packet-templates/"

    def save(self, org_id: str, name: str, template: PacketTemplate) -> None:
        if name not in self.names(org_id) and len(self.names(org_id)) >= MAX_TEMPLATES:
            raise InvalidInput(f"An org keeps at most {MAX_TEMPLATES} packet templates; replace one.")
        body = template.model_dump_json().encode()
        key = self._prefix(org_id) + check_name(name) + ".json"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def template(self, org_id: str, name: str) -> PacketTemplate:
        raw = read_object(self.s3, self.bucket, self._prefix(org_id) + check_name(name) + ".json")
        if raw is None:
            raise NotFound("No packet template with that name in this org.")
        return PacketTemplate.model_validate(json.loads(raw))

    def names(self, org_id: str) -> list[str]:
        found = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=self._prefix(org_id), MaxKeys=1000)
        keys = [o["Key"] for o in found.get("Contents", [])]
        return sorted(k.rsplit("/", 1)[1].removesuffix(".json") for k in keys if k.endswith(".json"))

    def save_docx(self, org_id: str, name: str, data: bytes) -> None:
        self.template(org_id, name)  # a template's Word document belongs to a saved template
        key = self._docx_key(org_id, name)
        content_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=check_docx(data), ContentType=content_type)

    def docx(self, org_id: str, name: str) -> bytes | None:
        return read_object(self.s3, self.bucket, self._docx_key(org_id, name), MAX_DOCX_BYTES)

    def has_docx(self, org_id: str, name: str) -> bool:
        """Whether the template has a Word document, without reading it."""
        try:
            self.s3.head_object(Bucket=self.bucket, Key=self._docx_key(org_id, name))
        except Exception as exc:
            if is_missing(exc, self.s3.exceptions):
                return False
            raise
        return True

    def _docx_key(self, org_id: str, name: str) -> str:
        return self._prefix(org_id) + check_name(name) + ".docx"


class MemoryTemplateStore:
    def __init__(self) -> None:
        self._templates: dict[tuple[str, str], PacketTemplate] = {}
        self._docx: dict[tuple[str, str], bytes] = {}

    def save(self, org_id: str, name: str, template: PacketTemplate) -> None:
        self._templates[org_id, check_name(name)] = template

    def template(self, org_id: str, name: str) -> PacketTemplate:
        found = self._templates.get((org_id, check_name(name)))
        if found is None:
            raise NotFound("No packet template with that name in this org.")
        return found

    def names(self, org_id: str) -> list[str]:
        return sorted(name for org, name in self._templates if org == org_id)

    def save_docx(self, org_id: str, name: str, data: bytes) -> None:
        self.template(org_id, name)
        self._docx[org_id, name] = check_docx(data)

    def docx(self, org_id: str, name: str) -> bytes | None:
        return self._docx.get((org_id, check_name(name)))

    def has_docx(self, org_id: str, name: str) -> bool:
        return (org_id, check_name(name)) in self._docx
