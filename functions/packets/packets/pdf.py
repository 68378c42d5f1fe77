"""The packet as PDF, typeset by Typst (its Python wheel: no system libraries, fonts embedded).

The template (`packet.typ`) is fixed; the packet arrives as `packet.json` beside the images it names,
so no text of a report or a person is ever spliced into markup (a caption reading `#panic()` is
text). The creation time is the packet's date, so the same inputs give the same bytes. PDF/A-2b on
request, for archiving.
"""

from __future__ import annotations

import datetime
import json
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from packets.model import Figure, Packet, Paragraph, PhotoGrid, Table

PAPERS = ("us-letter", "a4")
# A photo's column width and its share of the page's height (in), by photos a page, on the
# template's 7 in text block: the template lays the photos out by these.
PHOTO_BOX_IN = {2: (7.0, 4.1), 4: (3.4, 3.4)}


def packet_json(packet: Packet, paper: str) -> dict[str, Any]:
    return {
        "title": packet.title,
        "subtitle": packet.subtitle,
        "org": packet.org,
        "date": packet.date,
        "paper": paper,
        "sections": [
            {"key": s.key, "title": s.title, "blocks": [_block(b) for b in s.blocks]} for s in packet.sections
        ],
    }


def _block(b: Paragraph | Table | Figure | PhotoGrid) -> dict[str, Any]:
    if isinstance(b, Paragraph):
        return {"kind": "paragraph", "text": b.text, "style": b.style}
    if isinstance(b, Table):
        return {
            "kind": "table",
            "columns": list(b.columns),
            "rows": [list(r) for r in b.rows],
            "caption": b.caption,
            "numeric": list(b.numeric),
            "widths": list(b.widths),
        }
    if isinstance(b, Figure):
        return {"kind": "figure", "name": b.name, "caption": b.caption, "width": b.width}
    column_in, height_in = PHOTO_BOX_IN[b.per_page]
    return {
        "kind": "photos",
        "per_page": b.per_page,
        "height_in": height_in,
        # As wide as its column, unless that would make it taller than its share of the page.
        "photos": [{"name": p.name, "caption": p.caption, "tall": p.ratio * column_in > height_in} for p in b.photos],
    }


def moment(packet: Packet) -> datetime.datetime:
    """The PDF's creation time: the packet's date at midnight UTC (the epoch when it has none)."""
    try:
        day = datetime.date.fromisoformat(packet.date)
    except ValueError:
        return datetime.datetime(1980, 1, 1, tzinfo=datetime.UTC)
    return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)


def render_pdf(packet: Packet, *, paper: str = "us-letter", pdfa: bool = False) -> bytes:
    """Typst reads images from files only (its in-memory projects take UTF-8 sources), so the
    template, the packet's JSON and its images go into a private temporary folder for the compile."""
    import typst  # the packet's only typesetter; imported where it is used

    with tempfile.TemporaryDirectory(prefix="packet-") as folder:
        root = Path(folder)
        (root / "main.typ").write_bytes(resources.files("packets").joinpath("packet.typ").read_bytes())
        (root / "packet.json").write_text(json.dumps(packet_json(packet, paper), ensure_ascii=False))
        for figure in packet.figures():
            (root / figure.name).write_bytes(figure.png)
        for photo in packet.photos():
            (root / photo.name).write_bytes(photo.jpeg)
        pdf: bytes = typst.compile(
            str(root / "main.typ"),
            root=str(root),
            format="pdf",
            ignore_system_fonts=True,
            timestamp=moment(packet),
            pdf_standards=["a-2b"] if pdfa else [],
        )
    return pdf
