"""The packet as DOCX (python-docx), for a contractor to edit and brand, and the cover letter as its
own DOCX. Rendered natively from the same packet model as the PDF (no conversion between them).

An org's Word template (a .docx) is the starting document: its styles, page setup, headers,
footers and logo carry over, and the packet is appended to its body. python-docx writes the current
time into the file's properties and its zip entries; both are fixed here to the packet's date, so
the same inputs give the same bytes.
"""

from __future__ import annotations

import io
import zipfile

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.shared import Inches, Pt, RGBColor

from packets.model import Figure, Packet, Paragraph, PhotoGrid, Table
from packets.pdf import moment

TEXT_WIDTH_IN = 6.5
MUTED = RGBColor(0x6E, 0x6E, 0x6E)


def render_docx(packet: Packet, template: bytes | None = None) -> bytes:
    document = _start(packet, template)
    _title(document, packet)
    for number, section in enumerate(packet.sections):
        if number:
            _page_break(document)
        document.add_heading(section.title, level=1)
        for block in section.blocks:
            _block(document, block)
    return _fixed(document, packet)


def render_letter_docx(packet: Packet, template: bytes | None = None) -> bytes:
    document = _start(packet, template)
    for paragraph in packet.cover_letter:
        document.add_paragraph(paragraph.text)
    return _fixed(document, packet)


def _start(packet: Packet, template: bytes | None) -> DocumentObject:
    document = Document(io.BytesIO(template)) if template else Document()
    properties = document.core_properties
    properties.title = f"{packet.title}: {packet.subtitle}"
    properties.author = packet.org or "Dominus"
    properties.last_modified_by = packet.org or "Dominus"
    properties.revision = 1
    when = moment(packet).replace(tzinfo=None)
    properties.created = when
    properties.modified = when
    properties.last_printed = when
    return document


def _title(document: DocumentObject, packet: Packet) -> None:
    document.add_heading(packet.title, level=0)
    subtitle = document.add_paragraph(packet.subtitle)
    subtitle.runs[0].font.size = Pt(12)
    meta = " · ".join(x for x in (packet.org, packet.date) if x)
    if meta:
        _muted(document.add_paragraph(meta))


def _muted(paragraph: object) -> None:
    for run in paragraph.runs:  # type: ignore[attr-defined]
        run.font.size = Pt(8.5)
        run.font.color.rgb = MUTED


def _block(document: DocumentObject, block: Paragraph | Table | Figure | PhotoGrid) -> None:
    if isinstance(block, Paragraph):
        paragraph = document.add_paragraph(block.text)
        if block.style == "lead":
            paragraph.runs[0].bold = True
        elif block.style == "note":
            _muted(paragraph)
    elif isinstance(block, Table):
        _table(document, block)
    elif isinstance(block, Figure):
        document.add_picture(io.BytesIO(block.png), width=Inches(TEXT_WIDTH_IN * block.width))
        _muted(document.add_paragraph(block.caption))
    else:
        _photos(document, block)


def _table(document: DocumentObject, block: Table) -> None:
    if block.caption:
        document.add_paragraph().add_run(block.caption).bold = True
    table = document.add_table(rows=1, cols=len(block.columns))
    _style(document, table)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, name in zip(table.rows[0].cells, block.columns, strict=True):
        cell.text = name
        cell.paragraphs[0].runs[0].bold = True
    for row in block.rows:
        cells = table.add_row().cells
        for index, (cell, value) in enumerate(zip(cells, row, strict=True)):
            cell.text = value
            if index in block.numeric:
                cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    for row in table.rows:
        for cell in row.cells:
            for run in cell.paragraphs[0].runs:
                run.font.size = Pt(8)
    if block.widths and len(block.widths) == len(block.columns):
        for column, share in zip(table.columns, block.widths, strict=True):
            for cell in column.cells:
                cell.width = Inches(TEXT_WIDTH_IN * share)
    document.add_paragraph()


def _style(document: DocumentObject, table: object) -> None:
    """Word's "Table Grid" when the document has it (an org's template may not)."""
    names = {s.name for s in document.styles}
    if "Table Grid" in names:
        table.style = document.styles["Table Grid"]  # type: ignore[attr-defined]


def _photos(document: DocumentObject, block: PhotoGrid) -> None:
    across = 1 if block.per_page == 2 else 2
    width = TEXT_WIDTH_IN / across - 0.15
    height = 3.9 if block.per_page == 2 else 3.0
    for start in range(0, len(block.photos), block.per_page):
        if start:
            _page_break(document)
        page = block.photos[start : start + block.per_page]
        table = document.add_table(rows=(len(page) + across - 1) // across, cols=across)
        for k, photo in enumerate(page):
            cell = table.rows[k // across].cells[k % across]
            run = cell.paragraphs[0].add_run()
            w, h = _fit(photo.ratio, width, height)
            run.add_picture(io.BytesIO(photo.jpeg), width=w, height=h)
            caption = cell.add_paragraph(photo.caption)
            for r in caption.runs:
                r.font.size = Pt(8)


def _page_break(document: DocumentObject) -> None:
    document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)


def _fit(ratio: float, width_in: float, height_in: float) -> tuple[int, int]:
    """The picture's size (EMU) within `width_in` x `height_in`, its aspect ratio (height over
    width) kept: a tall photo cannot run off the page."""
    width = min(width_in, height_in / ratio)
    return int(Inches(width)), int(Inches(width * ratio))


def _fixed(document: DocumentObject, packet: Packet) -> bytes:
    """The document's bytes with every zip entry dated the packet's date, in a fixed order."""
    raw = io.BytesIO()
    document.save(raw)
    when = moment(packet)
    stamp = (max(1980, when.year), when.month, when.day, 0, 0, 0)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(raw.getvalue())) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            target.writestr(entry, source.read(info.filename))
    return out.getvalue()
