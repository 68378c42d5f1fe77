"""Request bodies with files: read within a limit, and multipart/form-data parsed losslessly.

Parsed here (a few lines, binary parts untouched) rather than through python-multipart, which the
shared layer does not otherwise need. Geometry (DSM uploads) and vision (photos) both use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from shared.errors import BadRequest, InvalidInput, UnsupportedMediaType
from shared.objects import too_large

# Room for the multipart framing (boundaries, part headers, tag fields) around the largest upload.
MULTIPART_SLACK_BYTES = 64_000
_BOUNDARY = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]{1,70}$")


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace").strip()


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 (naming the limit) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    refusal = too_large("The upload", limit)
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise refusal
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise refusal
        chunks.append(chunk)
    return b"".join(chunks)


def parse_multipart(content_type: str, body: bytes, expected: str) -> list[Part]:
    """The parts of a multipart/form-data body (RFC 7578), their bytes untouched. `expected` says what
    to send instead when the body is something else (415)."""
    header = HeaderParser().parsestr(f"Content-Type: {content_type}\r\n\r\n")
    if header.get_content_type() != "multipart/form-data":
        raise UnsupportedMediaType(expected)
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not _BOUNDARY.fullmatch(boundary):
        raise BadRequest("The multipart/form-data Content-Type has no valid boundary.")
    delimiter = b"\r\n--" + boundary.encode("ascii")
    sections = (b"\r\n" + body).split(delimiter)
    parts: list[Part] = []
    closed = False
    for section in sections[1:]:  # sections[0] is the preamble
        if section.startswith(b"--"):
            closed = True
            break
        head, sep, data = section.partition(b"\r\n\r\n")
        if not sep:
            raise BadRequest("A multipart part has no header/body separator.")
        headers: Message = HeaderParser().parsestr(head.lstrip(b" \t").removeprefix(b"\r\n").decode("utf-8", "replace"))
        if headers.get_content_disposition() != "form-data":
            raise BadRequest("Every multipart part needs `Content-Disposition: form-data; name=...`.")
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            raise BadRequest("A multipart part has no field name.")
        parts.append(Part(name, headers.get_filename(), data))
    if not closed:
        raise BadRequest("The multipart body is cut short (no closing boundary).")
    return parts


def form_field(parts: list[Part], name: str) -> Part | None:
    """The one part named `name`, or None; a field sent twice is a 400 (which one was meant?)."""
    found = [p for p in parts if p.name == name]
    if len(found) > 1:
        raise BadRequest(f"The form field `{name}` is given {len(found)} times; send it once.")
    return found[0] if found else None


T = TypeVar("T", bound=BaseModel)
_TRUE = ("1", "true", "yes", "on")


def form_tags(parts: list[Part], model: type[T]) -> T:
    """A job's tags from the form fields named as the model's fields (a checkbox's "on" is true);
    422 naming the tag when one is not valid."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        part = form_field(parts, name)
        if part is not None and part.text:
            fields[name] = part.text.lower() in _TRUE if info.annotation is bool else part.text
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(v) for v in error["loc"])
        raise InvalidInput(f"Invalid tag `{where}`: {error['msg']}.") from None
