"""The packet's photos: each original checked against the photo the report analysed, numbered in the
order a reviewer reads them (overview, slope, test square, close-up; then those not tied to a
facet), captioned with what it shows
and counts, and copied for the document (oriented, downscaled, its detections boxed). A photo that
is missing, corrupt or not the one analysed is left out and listed, and the packet still renders.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from packets.model import LeftOut, PacketPhoto

# The copy's long side: about 200 ppi where it is printed (two to a page: 6.5 in wide; four: 3.2 in).
DOCUMENT_PX = {2: 1400, 4: 1000}
JPEG_QUALITY = 78
MAX_PIXELS = 80_000_000  # a photo larger than this is not decoded (a decompression bomb)
ROLES = ("overview", "slope", "test square", "close-up", "unassigned")
PROGRESS_EVERY = 10  # photos between progress reports (each is a job record's update)
CLOSE_UP_PX_PER_FT = 40.0  # a frame under about 100 ft across at 4000 px: a close-up
COUNTED = (200, 30, 30)
NOT_COUNTED = (230, 160, 20)
REJECTED = (140, 140, 140)
EXIF_IFD, DATETIME_ORIGINAL, DATETIME = 0x8769, 0x9003, 0x0132


@dataclass(frozen=True)
class Original:
    """A photo as uploaded: in memory, or spooled to a file (a packet job's hundreds of MB of photos
    stay on disk); neither when it could not be fetched."""

    id: str
    data: bytes | None = None
    path: Path | None = None

    def read(self) -> bytes | None:
        if self.data is not None:
            return self.data
        return self.path.read_bytes() if self.path is not None and self.path.is_file() else None


def role_of(photo: dict[str, Any], attribution: dict[str, Any] | None) -> str:
    tags = photo.get("tags") or {}
    if tags.get("test_square"):
        return "test square"
    if (photo.get("pixels_per_foot") or 0.0) >= CLOSE_UP_PX_PER_FT:
        return "close-up"
    if photo.get("placed"):  # a drone's view, placed on the roof by its camera pose
        return "overview"
    return "slope" if (attribution or {}).get("facets") else "unassigned"


def taken_at(image: Image.Image) -> str | None:
    """The capture time the camera wrote (EXIF DateTimeOriginal), as "2026-05-28 14:02"."""
    exif = image.getexif()
    raw = exif.get_ifd(EXIF_IFD).get(DATETIME_ORIGINAL) or exif.get(DATETIME)
    if not isinstance(raw, str) or len(raw) < 16:
        return None
    day, _, clock = raw.strip().partition(" ")
    return f"{day.replace(':', '-')} {clock[:5]}" if clock else None


def shows(facets: dict[str, dict[str, Any]], attribution: dict[str, Any] | None) -> str:
    """What the photo is tied to: "facet A (S, 6/12)", "facets B, C", or "not tied to a facet"."""
    named = list(attribution.get("facets") or []) if attribution else []
    if len(named) == 1 and named[0] in facets:
        f = facets[named[0]]
        return f"facet {named[0]} ({f['facing']}, {f['pitch']})"
    if named:
        return "facets " + ", ".join(named[:6]) + (" ..." if len(named) > 6 else "")
    return "not tied to a facet"


def caption(number: int, photo: dict[str, Any], where: str, role: str, when: str | None) -> str:
    """ "Photo 14: facet A (S, 6/12), test square, 14 functional hits, 2026-05-28 14:02"."""
    counted = sum(1 for d in photo.get("detections", []) if d.get("counted"))
    parts = [f"Photo {number}: {where}", role, f"{counted} functional hit{'' if counted == 1 else 's'}"]
    if when:
        parts.append(when)
    return ", ".join(parts)


def ordered(report: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any] | None, str]]:
    """The report's photos in reading order, each with its attribution and role."""
    attributions = {a["photo"]: a for a in report.get("attributions", [])}
    rows = []
    for photo in report.get("photos", []):
        attribution = attributions.get(photo["id"])
        role = role_of(photo, attribution)
        first = min(attribution["facets"]) if attribution and attribution.get("facets") else "~"
        rows.append((ROLES.index(role), first, photo["id"], photo, attribution, role))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return [(photo, attribution, role) for _, _, _, photo, attribution, role in rows]


def document_copy(
    data: bytes, photo: dict[str, Any], long_side: int = DOCUMENT_PX[4]
) -> tuple[bytes, tuple[int, int], str | None]:
    """The photo upright (as the detector saw it: its boxes are on those pixels), downscaled, its
    detections boxed (red: counted; amber: not counted; grey: rejected by a reviewer) and numbered,
    as a JPEG without metadata; its size; and its capture time."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    with Image.open(io.BytesIO(data)) as opened:
        when = taken_at(opened)
        opened.draft("RGB", (long_side, long_side))  # a JPEG decodes at 1/2, 1/4 or 1/8 scale: 2-8x faster
        upright = ImageOps.exif_transpose(opened).convert("RGB")
    upright.thumbnail((long_side, long_side))
    boxed = _boxed(upright, photo["detections"], upright.width / max(1, photo["image"]["width"]))
    out = io.BytesIO()
    boxed.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue(), boxed.size, when


def _boxed(image: Image.Image, detections: list[dict[str, Any]], scale: float) -> Image.Image:
    draw = ImageDraw.Draw(image)
    width = max(2, round(max(image.size) / 500))
    for d in detections:
        x0, y0, x1, y1 = (v * scale for v in d["box"])
        colour = REJECTED if d.get("review") == "reject" else COUNTED if d.get("counted") else NOT_COUNTED
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width if d.get("counted") else max(1, width // 2))
        draw.text((x0 + width, max(0.0, y0 - 11 * width)), str(d["id"]), fill=colour)
    return image


def packet_photos(
    report: dict[str, Any],
    originals: dict[str, Original],
    limit: int,
    per_page: int = 4,
    done: Callable[[int, int], None] | None = None,
) -> tuple[list[PacketPhoto], list[LeftOut]]:
    """The report's photos as the packet shows them, and those it cannot show, with why; `done` hears
    how many of how many are through, every `PROGRESS_EVERY`."""
    facets = {f["id"]: f for f in report.get("facets", [])}
    shown: list[PacketPhoto] = []
    left: list[LeftOut] = []
    reading = ordered(report)
    for index, (photo, attribution, role) in enumerate(reading):
        if done is not None and index and index % PROGRESS_EVERY == 0:
            done(index, len(reading))
        if len(shown) >= limit:
            left.append(LeftOut(photo["id"], f"the packet shows at most {limit} photos"))
            continue
        original = originals.get(photo["id"])
        data = original.read() if original is not None else None
        if data is None:
            left.append(LeftOut(photo["id"], "its original could not be found"))
            continue
        expected = photo["image"].get("sha256", "")
        if len(expected) == 64 and hashlib.sha256(data).hexdigest() != expected:
            left.append(LeftOut(photo["id"], "the file is not the photo the report analysed (its SHA-256 differs)"))
            continue
        try:
            jpeg, size, when = document_copy(data, photo, DOCUMENT_PX.get(per_page, DOCUMENT_PX[4]))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError) as why:
            left.append(LeftOut(photo["id"], f"the image could not be read ({type(why).__name__})"))
            continue
        number = len(shown) + 1
        where = shows(facets, attribution)
        text = caption(number, photo, where, role, when)
        shown.append(PacketPhoto(number, photo["id"], f"photo-{number:03d}.jpg", jpeg, size, text, role, where))
    return shown, left
