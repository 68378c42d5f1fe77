"""The report's roof diagrams as SVG (and PNG for documents, rasterised by Typst): facets lettered
with their area, pitch with down-slope arrows coloured by steep band, roof lines by kind with their
lengths in feet and inches, and the roof-plan damage map. Every diagram has a north arrow and a
scale bar, and is drawn from the geometry's own outlines (metres, x east, y north), so what is drawn
is what was measured.

Readable at print size for a roof of 40 facets: the plan fills a fixed width (`WIDTH` px at 96 per
inch is a letter page's text width at 1:1), labels sit at each facet's most interior point with a
white halo, and a facet too small for its label gets its letter alone.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from reports.inputs import Geometry, Plane, Point2
from reports.polygons import distance_to_sides, inside

WIDTH = 1000.0
MARGIN = 48.0
TITLE_H = 40.0
LEGEND_H = 70.0
FONT = "Helvetica, Arial, sans-serif"
FT_PER_M = 1 / 0.3048
BAND_COLOURS = {"0-6/12": "#c6dbef", "7-9/12": "#fdd49e", "10-12/12": "#fc8d59", "13+/12": "#d7301f"}
EDGE_COLOURS = {"ridge": "#d62728", "hip": "#ff7f0e", "valley": "#1f77b4", "eave": "#2ca02c", "rake": "#9467bd"}
# The damage map's fixed scale in hits per 100 sq ft (the same on every report, whatever the roof).
DAMAGE_STEPS = (0.0, 2.0, 4.0, 6.0, 8.0, 12.0, 16.0)
DAMAGE_COLOURS = ("#f7fcb9", "#d9f0a3", "#fed976", "#feb24c", "#fd8d3c", "#e31a1c", "#800026")
NOT_SEEN = "#e0e0e0"


@dataclass(frozen=True)
class Frame:
    """Metres on the ground to SVG pixels: north up, the roof's extent filling the drawing width."""

    min_x: float
    max_y: float
    scale: float  # px per metre
    height: float  # the whole drawing's

    def at(self, point: Sequence[float]) -> tuple[float, float]:
        return (
            MARGIN + (point[0] - self.min_x) * self.scale,
            TITLE_H + MARGIN + (self.max_y - point[1]) * self.scale,
        )


def frame_of(geometry: Geometry) -> Frame | None:
    corners = [c for p in geometry.planes if p.outline for c in p.outline]
    if not corners:
        return None
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    span_x, span_y = max(max(xs) - min(xs), 1.0), max(max(ys) - min(ys), 1.0)
    scale = (WIDTH - 2 * MARGIN) / max(span_x, span_y * 0.75)
    plan_h = span_y * scale
    return Frame(min(xs), max(ys), scale, TITLE_H + 2 * MARGIN + plan_h + LEGEND_H)


def feet_inches(feet: float) -> str:
    whole = math.floor(feet)
    inches = round((feet - whole) * 12)
    if inches == 12:
        whole, inches = whole + 1, 0
    return f"{whole}' {inches}\""


def label_point(outline: Sequence[Point2]) -> tuple[Point2, float]:
    """The point inside the polygon farthest from its sides, and that distance: where a label fits
    best, even in an L-shaped facet whose centroid lies outside it. A 12 x 12 grid over the polygon's
    box, then two finer 6 x 6 grids around the best point so far (each a third of the last's span)."""
    return _label_point(tuple((float(x), float(y)) for x, y in outline))


@functools.lru_cache(maxsize=1024)
def _label_point(outline: tuple[Point2, ...]) -> tuple[Point2, float]:
    polygon = np.array(outline, dtype=np.float64)
    low, high = polygon.min(axis=0), polygon.max(axis=0)
    best: tuple[Point2, float] = ((float(polygon[:, 0].mean()), float(polygon[:, 1].mean())), 0.0)
    centre, span, steps = (low + high) / 2.0, high - low, 12
    for _ in range(3):
        offsets = (np.arange(steps) + 0.5) / steps - 0.5
        gx, gy = np.meshgrid(centre[0] + offsets * span[0], centre[1] + offsets * span[1])
        points = np.stack([gx.ravel(), gy.ravel()], axis=1)
        points = points[inside(points, polygon)]
        if len(points):
            clearance = distance_to_sides(points, polygon)
            k = int(np.argmax(clearance))
            if clearance[k] > best[1]:
                best = ((float(points[k, 0]), float(points[k, 1])), float(clearance[k]))
        centre, span, steps = np.array(best[0]), span / 3.0, 6
    return best


def text(x: float, y: float, content: str, size: float, *, weight: str = "normal", anchor: str = "middle") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:.1f}" font-weight="{weight}" text-anchor="{anchor}" '
        f'dominant-baseline="central" stroke="white" stroke-width="{size / 5:.1f}" paint-order="stroke" '
        f'fill="#111">{escape(content)}</text>'
    )


def polygon(frame: Frame, outline: Sequence[Point2], fill: str, extra: str = "") -> str:
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (frame.at(p) for p in outline))
    return f'<polygon points="{points}" fill="{fill}" stroke="#333" stroke-width="1.2" {extra}/>'


def _document(frame: Frame, title: str, body: list[str], legend: list[str]) -> bytes:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH:.0f}" height="{frame.height:.0f}" '
        f'viewBox="0 0 {WIDTH:.0f} {frame.height:.0f}" font-family="{FONT}">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f"{text(MARGIN, TITLE_H / 2 + 6, title, 18, weight='bold', anchor='start')}"
    )
    return (head + "".join(body) + _north_arrow() + _scale_bar(frame) + "".join(legend) + "</svg>").encode()


def _north_arrow() -> str:
    x, y = WIDTH - MARGIN, TITLE_H + 10
    return (
        f'<g><polygon points="{x:.1f},{y:.1f} {x - 9:.1f},{y + 26:.1f} {x:.1f},{y + 20:.1f} {x + 9:.1f},{y + 26:.1f}" '
        f'fill="#111"/>{text(x, y + 40, "N", 14, weight="bold")}</g>'
    )


def _scale_bar(frame: Frame) -> str:
    """A bar of a round number of feet, about a fifth of the drawing wide."""
    target_ft = (WIDTH / 5) / frame.scale * FT_PER_M
    feet = min((n for n in (5, 10, 20, 25, 50, 100, 200, 500) if n >= target_ft * 0.6), default=500)
    length = feet / FT_PER_M * frame.scale
    x, y = MARGIN, frame.height - LEGEND_H - 12
    return (
        f'<g><rect x="{x:.1f}" y="{y:.1f}" width="{length:.1f}" height="6" fill="#111"/>'
        f"{text(x + length / 2, y - 10, f'{feet} ft', 12)}</g>"
    )


def _legend(frame: Frame, items: Sequence[tuple[str, str]], note: str = "", marked: int | None = None) -> list[str]:
    """Swatches in a row along the bottom and a note under them; the `marked` swatch is outlined
    heavily and flagged (a carrier's threshold)."""
    y = frame.height - LEGEND_H + 14
    parts, x = [], MARGIN
    for i, (colour, label) in enumerate(items):
        heavy = i == marked
        stroke = 'stroke="#000" stroke-width="3"' if heavy else 'stroke="#333"'
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="16" height="12" fill="{colour}" {stroke}/>')
        parts.append(text(x + 22, y + 6, label, 12, anchor="start"))
        if heavy:
            parts.append(text(x + 8, y - 9, "threshold", 10, weight="bold"))
        x += 30 + 6.6 * len(label)
    if note:
        parts.append(text(MARGIN, y + 34, note, 11, anchor="start"))
    return parts


def _facet_layer(
    frame: Frame,
    planes: Sequence[Plane],
    fill: Callable[[Plane], str],
    label: Callable[[Plane], list[str]],
    between: Sequence[str] = (),
) -> list[str]:
    """The facets filled, then `between` (marks drawn on them), then their labels on top."""
    shapes, labels = [], []
    for plane in planes:
        if not plane.outline:
            continue
        shapes.append(polygon(frame, plane.outline, fill(plane)))
        (px, py), room_m = label_point(plane.outline)
        x, y = frame.at((px, py))
        room = room_m * frame.scale
        lines = label(plane)
        size = max(9.0, min(16.0, room * 0.55))
        if room < 14:
            lines = lines[:1]
        for i, line in enumerate(lines):
            labels.append(
                text(
                    x,
                    y + (i - (len(lines) - 1) / 2) * size * 1.15,
                    line,
                    size if i else size * 1.1,
                    weight="bold" if i == 0 else "normal",
                )
            )
    return [*shapes, *between, *labels]


def facets_svg(geometry: Geometry, report: dict[str, Any]) -> bytes | None:
    frame = frame_of(geometry)
    if frame is None:
        return None
    total = report["totals"]
    body = _facet_layer(frame, geometry.planes, lambda p: "#f4f4f4", lambda p: [p.id, f"{p.area_sqft:,.0f} sq ft"])
    note = (
        f"{total['facets']} facets, {total['area_sqft']:,.0f} sq ft ({total['squares']:.2f} squares); areas are sloped"
    )
    return _document(frame, "Facets and areas", body, _legend(frame, [], note))


def pitch_svg(geometry: Geometry, report: dict[str, Any]) -> bytes | None:
    frame = frame_of(geometry)
    if frame is None:
        return None
    bands = {f["id"]: f["steep_band"] for f in report["facets"]}
    pitches = {f["id"]: f["pitch"] for f in report["facets"]}
    body = _facet_layer(frame, geometry.planes, lambda p: BAND_COLOURS[bands[p.id]], lambda p: [p.id, pitches[p.id]])
    body += [_arrow(frame, p) for p in geometry.planes if p.outline and p.facing != "flat"]
    legend = _legend(
        frame, [(c, b) for b, c in BAND_COLOURS.items()], "arrows point down the slope; colours are the steep bands"
    )
    return _document(frame, "Pitch and steep bands", body, legend)


def _arrow(frame: Frame, plane: Plane) -> str:
    assert plane.outline is not None
    (px, py), room_m = label_point(plane.outline)
    x, y = frame.at((px, py))
    reach = max(10.0, min(40.0, room_m * frame.scale * 0.8))
    angle = math.radians(plane.azimuth_deg)
    dx, dy = math.sin(angle), -math.cos(angle)  # azimuth clockwise from north; SVG y points down
    x0, y0 = x + dx * reach * 0.55, y + dy * reach * 0.55
    x1, y1 = x0 + dx * reach * 0.6, y0 + dy * reach * 0.6
    head = (
        f"{x1 + dx * 7:.1f},{y1 + dy * 7:.1f} {x1 - dy * 5:.1f},{y1 + dx * 5:.1f} {x1 + dy * 5:.1f},{y1 - dx * 5:.1f}"
    )
    return (
        f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="#111" stroke-width="2"/>'
        f'<polygon points="{head}" fill="#111"/>'
    )


def lengths_svg(geometry: Geometry, report: dict[str, Any]) -> bytes | None:
    frame = frame_of(geometry)
    if frame is None:
        return None
    body = _facet_layer(frame, geometry.planes, lambda p: "#fafafa", lambda p: [p.id])
    for edge in geometry.edges:
        if edge.start is None or edge.end is None:
            continue
        (x0, y0), (x1, y1) = frame.at(edge.start), frame.at(edge.end)
        colour = EDGE_COLOURS[edge.kind]
        body.append(
            f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="{colour}" stroke-width="3"/>'
        )
        if math.hypot(x1 - x0, y1 - y0) > 40:
            body.append(text((x0 + x1) / 2, (y0 + y1) / 2, feet_inches(edge.length_ft), 11))
    lengths = report["lengths"]
    legend = _legend(
        frame, [(EDGE_COLOURS[k], f"{k} {feet_inches(lengths[k]['ft'])} ({lengths[k]['count']})") for k in EDGE_COLOURS]
    )
    return _document(frame, "Roof lines and lengths", body, legend)


def damage_colour(rate: float) -> str:
    """The colour of the legend step a rate falls in (steps are lower bounds: 2.0 is in 2-4)."""
    return DAMAGE_COLOURS[max(0, bisect.bisect_right(DAMAGE_STEPS, rate) - 1)]


def damage_svg(geometry: Geometry, report: dict[str, Any], threshold: float | None) -> bytes | None:
    frame = frame_of(geometry)
    if frame is None:
        return None
    damage = {f["id"]: f["damage"] for f in report["facets"]}

    def fill(plane: Plane) -> str:
        d = damage[plane.id]
        rate = d["hits_per_100sqft"]["value"]
        if rate is None or d["decision"] == "insufficient_evidence":
            return NOT_SEEN
        return damage_colour(rate)

    def label(plane: Plane) -> list[str]:
        d = damage[plane.id]
        rate = d["hits_per_100sqft"]["value"]
        hits = f"{d['hail_hits']} hit" + ("" if d["hail_hits"] == 1 else "s")
        lines = [plane.id, "not enough seen" if rate is None else f"{rate:.1f} / 100 sq ft", hits]
        return lines + ([d["decision"].replace("_", " ")] if d["decision"] else [])

    # Each placed mark where it is (drone photos): the per-plane heatmap's points, under the labels.
    dots = []
    for mark in report.get("placements", []):
        x, y = frame.at((mark["x_m"], mark["y_m"]))
        dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#111" stroke="white" stroke-width="1"/>')
    body = _facet_layer(frame, geometry.planes, fill, label, dots)
    steps = [(NOT_SEEN, "not enough seen")] + [
        (c, f"{lo:g}+" if i == len(DAMAGE_STEPS) - 1 else f"{lo:g}-{DAMAGE_STEPS[i + 1]:g}")
        for i, (lo, c) in enumerate(zip(DAMAGE_STEPS, DAMAGE_COLOURS, strict=True))
    ]
    marked = (
        f"hits per 100 sq ft, a fixed scale; the profile replaces a slope at {threshold:g}"
        if threshold is not None
        else "hits per 100 sq ft, a fixed scale; the profile sets no threshold"
    )
    swatch = None if threshold is None else 1 + max(i for i, step in enumerate(DAMAGE_STEPS) if step <= threshold)
    note = f"{marked} ({report['profile']['name']} v{report['profile']['version']})"
    return _document(frame, "Hail damage by facet", body, _legend(frame, steps, note, swatch))
