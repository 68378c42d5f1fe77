"""Everything a packet delivers, from its inputs: `packet.pdf`, `packet.docx`, `cover-letter.docx`,
`photos.zip` (the originals as uploaded), the report's exports, and `manifest.json` with every file's
SHA-256. The same inputs give byte-identical files: no clock is read, zip entries carry the packet's
date, and every list is in a fixed order.

GPS: the org decides. When it stays, the originals are byte for byte what was uploaded. When it goes,
a JPEG keeps its pixels and the rest of its metadata, and loses its EXIF GPS block and the GPS
fields drones write into XMP (segments rewritten, the image not re-encoded); another format is
re-encoded without metadata, and the manifest says so.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packets.build import Diagrams, PacketOptions, build_packet
from packets.model import LeftOut, Packet, PacketPhoto
from packets.pdf import moment, render_pdf
from packets.photos import Original, packet_photos
from packets.word import render_docx, render_letter_docx
from shared.typeset import png_of

MAX_PHOTOS = 200  # shown in one packet; the rest are listed as left out
MAX_PAGES = 150  # a packet past this is refused: split the claim's photos into several packets
EXPORTS = ("report.json", "facets.geojson", "facets.csv", "quantities.csv", "measurements.xml")
DIAGRAMS = ("facets.svg", "pitch.svg", "lengths.svg")
Progress = Callable[[str, float], None]


class TooManyPages(ValueError):
    """The packet would run past `MAX_PAGES`."""


@dataclass(frozen=True)
class PacketRequest:
    report: dict[str, Any]
    artifacts: dict[str, bytes]  # the report's files by name (report.json, the SVGs, damage-map.png, ...)
    originals: dict[str, Original]  # photo id -> the upload
    cover_letter: list[str] = field(default_factory=list)
    options: PacketOptions = field(default_factory=PacketOptions)
    keep_gps: bool = True
    pdfa: bool = False
    paper: str = "us-letter"
    template: bytes | None = None  # the org's Word template
    workdir: Path | None = None  # where photos.zip is written (a job's hundreds of MB stay on disk)


@dataclass(frozen=True)
class PacketFiles:
    files: dict[str, bytes]  # name -> bytes, manifest.json included (photos.zip too, unless spooled)
    packet: Packet
    pages: int
    spooled: dict[str, Path] = field(default_factory=dict)  # name -> a file in the request's workdir

    def names(self) -> list[str]:
        return sorted({*self.files, *self.spooled})


def make_packet(request: PacketRequest, progress: Progress | None = None) -> PacketFiles:
    say = progress or (lambda stage, fraction: None)
    say("photos", 0.05)
    photos, left_out = packet_photos(
        request.report,
        request.originals,
        MAX_PHOTOS,
        request.options.photos_per_page,
        lambda through, total: say("photos", 0.05 + 0.3 * through / total),
    )
    say("diagrams", 0.35)
    diagrams = _diagrams(request.artifacts)
    packet = build_packet(request.report, photos, left_out, diagrams, request.cover_letter, request.options)
    say("pdf", 0.45)
    pdf = render_pdf(packet, paper=request.paper, pdfa=request.pdfa)
    pages = count_pages(pdf)
    if pages > MAX_PAGES:
        raise TooManyPages(
            f"The packet would have {pages} pages, over the limit of {MAX_PAGES}: choose fewer sections or photos, "
            "or four photos a page instead of two."
        )
    say("docx", 0.7)
    files = {
        "packet.pdf": pdf,
        "packet.docx": render_docx(packet, request.template),
        "cover-letter.docx": render_letter_docx(packet, request.template),
    }
    say("photos.zip", 0.85)
    target: Path | io.BytesIO = request.workdir / "photos.zip" if request.workdir else io.BytesIO()
    reencoded = photos_zip(target, request.report, request.originals, photos, request.keep_gps, packet)
    spooled = {"photos.zip": target} if isinstance(target, Path) else {}
    if isinstance(target, io.BytesIO):
        files["photos.zip"] = target.getvalue()
    files.update({name: request.artifacts[name] for name in EXPORTS if name in request.artifacts})
    files["manifest.json"] = manifest(request, packet, {**files, **spooled}, left_out, reencoded, pages)
    say("done", 1.0)
    return PacketFiles(files, packet, pages, spooled)


def _diagrams(artifacts: dict[str, bytes]) -> Diagrams:
    png = {name.replace(".svg", ".png"): png_of(artifacts[name], ppi=200) for name in DIAGRAMS if name in artifacts}
    if "damage-map.png" in artifacts:
        png["damage-map.png"] = artifacts["damage-map.png"]
    return Diagrams(png)


_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def count_pages(pdf: bytes) -> int:
    """Page objects in a PDF Typst wrote (uncompressed object headers)."""
    return len(_PAGE.findall(pdf))


def _digest(data: bytes | Path) -> tuple[int, str]:
    if isinstance(data, bytes):
        return len(data), hashlib.sha256(data).hexdigest()
    digest, size = hashlib.sha256(), 0
    with data.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def manifest(
    request: PacketRequest,
    packet: Packet,
    files: dict[str, bytes | Path],
    left_out: list[LeftOut],
    reencoded: list[str],
    pages: int,
) -> bytes:
    document = {
        "report_id": request.report["report_id"],
        "claim_id": request.report.get("claim_id"),
        "date": packet.date,
        "sections": [s.key for s in packet.sections],
        "pages": pages,
        "pdfa": request.pdfa,
        "gps": "kept" if request.keep_gps else "removed",
        "photos_reencoded_to_remove_gps": reencoded,
        "left_out": [{"what": x.what, "why": x.why} for x in left_out],
        "files": [
            {"name": name, "bytes": size, "sha256": digest}
            for name, (size, digest) in sorted((name, _digest(data)) for name, data in files.items())
        ],
    }
    return json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"


def photos_zip(
    target: Path | io.BytesIO,
    report: dict[str, Any],
    originals: dict[str, Original],
    shown: list[PacketPhoto],
    keep_gps: bool,
    packet: Packet,
) -> list[str]:
    """The originals of the report's photos into `target`, named by their number in the packet where
    they have one; returns the photos re-encoded to lose their GPS."""
    numbers = {p.id: p.number for p in shown}
    when = moment(packet)
    stamp = (max(1980, when.year), when.month, when.day, 0, 0, 0)
    reencoded: list[str] = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:  # photos do not compress
        for photo in sorted(report.get("photos", []), key=lambda p: (numbers.get(p["id"], 10**6), p["id"])):
            original = originals.get(photo["id"])
            data = original.read() if original is not None else None
            if data is None:
                continue
            extension = extension_of(data)
            if not keep_gps:
                data, changed = without_gps(data)
                if changed:
                    reencoded.append(photo["id"])
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", photo["id"])[:80]
            name = (
                f"photo-{numbers[photo['id']]:03d}-{safe}{extension}"
                if photo["id"] in numbers
                else f"{safe}{extension}"
            )
            entry = zipfile.ZipInfo(name, date_time=stamp)
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data)
    return reencoded


def extension_of(data: bytes) -> str:
    if data.startswith(b"\xff\xd8"):
        return ".jpg"
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    if data[4:8] == b"ftyp":
        return ".heic"
    return ".bin"


_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_GPS_ATTRIBUTE = re.compile(rb'\s[\w-]+:(?:Gps|GPS|gps)\w*="[^"]*"|\s[\w-]+:\w*Altitude="[^"]*"')
_XMP_GPS_ELEMENT = re.compile(rb"<([\w-]+:(?:Gps|GPS|gps)\w*)\b[^>]*>.*?</\1>", re.DOTALL)


def without_gps(data: bytes) -> tuple[bytes, bool]:
    """The photo without its GPS; and whether it had to be re-encoded (not a JPEG)."""
    if not data.startswith(b"\xff\xd8"):
        return _reencoded(data), True
    out = bytearray(data[:2])
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == 0xDA:  # start of scan: the image data, kept as it is
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            out += data[at : at + 2]
            at += 2
            continue
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        payload = data[at + 4 : at + 2 + length]
        at += 2 + length
        if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            payload = _exif_without_gps(payload)
        elif marker == 0xE1 and payload.startswith(_XMP):
            payload = _XMP_GPS_ELEMENT.sub(b"", _XMP_GPS_ATTRIBUTE.sub(b"", payload))
        if payload:
            out += bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload
    return bytes(out + data[at:]), False


def _exif_without_gps(payload: bytes) -> bytes:
    """The EXIF segment without its GPS block; nothing (the segment dropped) when it cannot be read."""
    import piexif

    try:
        exif = piexif.load(payload)
        exif["GPS"] = {}
        exif["0th"].pop(piexif.ImageIFD.GPSTag, None)
        dumped: bytes = piexif.dump(exif)
    except Exception:  # a broken EXIF block is dropped whole, never passed on with its GPS
        return b""
    return dumped


def _reencoded(data: bytes) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        fmt = image.format or "PNG"
        out = io.BytesIO()
        image.save(out, fmt if fmt in ("PNG", "WEBP", "JPEG") else "PNG")
    return out.getvalue()
