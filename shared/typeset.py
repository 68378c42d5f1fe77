"""Typst as the one rasteriser of vector drawings: a report's SVG diagrams become the PNGs documents
embed. Typst comes with the functions that typeset (reports, packets) and is imported only here,
when called."""

from __future__ import annotations


def svg_size(svg: bytes) -> tuple[float, float]:
    """An SVG's width and height (px) from its root element's attributes."""
    head = svg[:400].decode(errors="replace")
    width = float(head.split('width="', 1)[1].split('"', 1)[0].removesuffix("px"))
    height = float(head.split('height="', 1)[1].split('"', 1)[0].removesuffix("px"))
    return width, height


def png_of(svg: bytes, ppi: float = 150.0) -> bytes:
    """An SVG as PNG at `ppi` (SVG px are 0.75 pt)."""
    import typst

    width, height = svg_size(svg)
    page = (
        f"#set page(width: {width * 0.75:.1f}pt, height: {height * 0.75:.1f}pt, margin: 0pt)\n"
        '#image(bytes(sys.inputs.svg), format: "svg", width: 100%)'
    )
    png: bytes = typst.compile(page.encode(), format="png", ppi=ppi, sys_inputs={"svg": svg.decode()})
    return png
