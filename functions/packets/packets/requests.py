"""What a packet is asked for: the report, the org's template (which sections, in which order, photos
per page, paper, PDF/A, whether GPS stays in the originals), and the cover letter as a person edited
it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from packets.model import SECTION_KEYS, SectionKey

JOB_ID = r"^[0-9a-f]{32}$"
MAX_LETTER_CHARS = 20_000
MAX_PARAGRAPHS = 60


class PacketTemplate(BaseModel):
    """An org's packet template: the sections (each optional, in the order given), photos per page,
    paper, PDF/A, and whether the originals keep their GPS."""

    model_config = ConfigDict(extra="forbid")

    sections: list[SectionKey] = Field(default_factory=lambda: list(SECTION_KEYS), min_length=1, max_length=9)
    photos_per_page: Literal[2, 4] = 4
    paper: Literal["us-letter", "a4"] = "us-letter"
    pdfa: bool = False
    keep_gps: bool = True
    org_name: str = Field("", max_length=120)
    title: str = Field("Roof claim packet", min_length=1, max_length=120)

    @field_validator("sections")
    @classmethod
    def _once_each(cls, sections: list[SectionKey]) -> list[SectionKey]:
        if len(set(sections)) != len(sections):
            raise ValueError("name each section once")
        return sections


Paragraphs = Annotated[list[Annotated[str, Field(max_length=4000)]], Field(max_length=MAX_PARAGRAPHS)]


class PacketCreate(BaseModel):
    """`POST /v1/packets`."""

    model_config = ConfigDict(extra="forbid")

    report_id: str = Field(pattern=JOB_ID, description="a report of the caller's org")
    template: PacketTemplate | Annotated[str, Field(min_length=1, max_length=64)] = Field(
        default_factory=PacketTemplate,
        description="the layout, or the name of one the org saved (PUT /v1/orgs/me/packet-templates/{name})",
    )
    sections: list[SectionKey] | None = Field(
        None, max_length=9, description="this packet's sections in order, over the template's"
    )
    cover_letter: Paragraphs = Field(
        default_factory=list, description="the letter's paragraphs as a person edited them (a draft: /cover-letter)"
    )
    letter_by_ai: bool = Field(False, description="the letter was drafted by /v1/packets/cover-letter")
    template_name: str | None = Field(None, description="set by the service: the saved template used, for its DOCX")

    @field_validator("cover_letter")
    @classmethod
    def _not_too_long(cls, paragraphs: list[str]) -> list[str]:
        if sum(len(p) for p in paragraphs) > MAX_LETTER_CHARS:
            raise ValueError(f"the cover letter is at most {MAX_LETTER_CHARS} characters")
        return paragraphs

    @field_validator("sections")
    @classmethod
    def _sections_once_each(cls, sections: list[SectionKey] | None) -> list[SectionKey] | None:
        if sections is not None and (not sections or len(set(sections)) != len(sections)):
            raise ValueError("name at least one section, each once")
        return sections

    def layout(self) -> PacketTemplate:
        """The template itself (a named one is resolved into the request when it is queued)."""
        if isinstance(self.template, str):
            raise ValueError("the template's name is resolved before the packet is queued")
        return self.template

    def chosen_sections(self) -> list[SectionKey]:
        return self.sections if self.sections is not None else self.layout().sections
