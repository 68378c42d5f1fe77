"""One packet model, two renderers: the packet is built once as sections of plain blocks (headings,
paragraphs, tables, figures, photo grids), and the PDF and the DOCX each render those blocks
natively. What a section says is decided here and in `build`, never in a renderer, so the two
documents cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

SectionKey = Literal[
    "cover_letter",
    "evidence_index",
    "summary",
    "scorecard",
    "measurements",
    "photos",
    "damage_summary",
    "quantities",
    "methodology",
]
SECTION_KEYS: tuple[SectionKey, ...] = get_args(SectionKey)  # every section, in the default order


@dataclass(frozen=True)
class Paragraph:
    text: str
    style: Literal["body", "lead", "note"] = "body"


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    numeric: tuple[int, ...] = ()  # columns right-aligned
    widths: tuple[float, ...] = ()  # shares of the text width; equal when empty


@dataclass(frozen=True)
class Figure:
    name: str  # the file it is stored under in the document (unique in the packet)
    png: bytes
    caption: str
    width: float = 1.0  # share of the text width


@dataclass(frozen=True)
class PacketPhoto:
    number: int  # "Photo 14"
    id: str
    name: str  # the file it is stored under in the document
    jpeg: bytes  # the document's copy: downscaled, detection boxes drawn
    size: tuple[int, int]  # the copy's width and height, pixels
    caption: str
    role: str  # overview, slope, test square, close-up, unassigned
    shows: str  # the facet(s) it is tied to, as the caption says

    @property
    def ratio(self) -> float:
        """Height over width."""
        return self.size[1] / max(1, self.size[0])


@dataclass(frozen=True)
class PhotoGrid:
    photos: tuple[PacketPhoto, ...]
    per_page: Literal[2, 4] = 4


Block = Paragraph | Table | Figure | PhotoGrid


@dataclass(frozen=True)
class Section:
    key: SectionKey
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class LeftOut:
    what: str  # a photo's id, or a section
    why: str


@dataclass(frozen=True)
class Packet:
    title: str
    subtitle: str
    org: str
    date: str  # the report's, so the same inputs give the same document
    sections: tuple[Section, ...]
    left_out: tuple[LeftOut, ...] = field(default=())
    cover_letter: tuple[Paragraph, ...] = field(default=())  # also its own DOCX

    def figures(self) -> list[Figure]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]

    def photos(self) -> list[PacketPhoto]:
        return [p for s in self.sections for b in s.blocks if isinstance(b, PhotoGrid) for p in b.photos]
