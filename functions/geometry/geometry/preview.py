"""A PNG for a person to check a roof analysis at a glance.

The DSM as a hillshade (sun from the north-west, 45 degrees up), each facet tinted in its own colour
with its boundary drawn, its letter and pitch ("A 6/12") where the facet is widest, the roof lines
drawn over it in a colour per kind (ridge, hip, valley, eave, rake), and a legend (letter, pitch,
facing, sloped area; each kind of line and its total length) on a white band at the bottom.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from geometry.analysis import RoofAnalysis
from geometry.edges import EDGE_KINDS, EdgeKind
from geometry.grid import HeightGrid
from geometry.measure import Facet, RoofReport
from geometry.units import FT_PER_M, SQFT_PER_M2
from shared.drawing import FONT, Box, Image, overlaps, png_bytes

# Tableau 10, as BGR for OpenCV
PALETTE: tuple[tuple[int, int, int], ...] = (
    (180, 119, 31),  # blue
    (14, 127, 255),  # orange
    (44, 160, 44),  # green
    (40, 39, 214),  # red
    (189, 103, 148),  # purple
    (75, 86, 140),  # brown
    (194, 119, 227),  # pink
    (127, 127, 127),  # grey
    (34, 189, 188),  # olive
    (207, 190, 23),  # cyan
)
# Roof lines, BGR: warm for the convex creases, blue for valleys, green and violet for the outline
EDGE_COLOURS: dict[EdgeKind, tuple[int, int, int]] = {
    "ridge": (0, 0, 230),
    "hip": (0, 140, 255),
    "valley": (230, 90, 0),
    "eave": (60, 180, 0),
    "rake": (200, 60, 160),
}
ALPHA = 0.45  # the tint's weight over the hillshade
NODATA_GREY = 128
LINE = (40, 40, 40)  # facet boundaries
TEXT = (255, 255, 255)
OUTLINE = (20, 20, 20)
SUN_AZIMUTH_DEG = 315.0  # from the north-west, clockwise from north
SUN_ALTITUDE_DEG = 45.0
MIN_LABEL_SIZE = 0.55  # OpenCV font scale: smaller is hard to read
MIN_LEGEND_WIDTH = 420  # px: the canvas is padded to this so a narrow roof's legend still fits


def colour(index: int) -> tuple[int, int, int]:
    """The facet's tint (BGR): the palette, cycling after ten facets."""
    return PALETTE[index % len(PALETTE)]


def hillshade(grid: HeightGrid) -> npt.NDArray[np.float64]:
    """Illumination in [0, 1] (NaN where there is no data), z-factor 1, from the grid's dx and dy."""
    z = grid.z.astype(np.float64)
    valid = np.isfinite(z)
    if not valid.any():
        return np.full(z.shape, np.nan)
    filled = np.where(valid, z, float(np.nanmin(z)))
    if min(z.shape) < 2:
        gy = np.zeros_like(filled)
        gx = np.zeros_like(filled)
    else:
        gy, gx = np.gradient(filled)  # per row (south), per column (east)
    dzdx = gx / grid.dx  # east
    dzdy = -gy / grid.dy  # north
    normal = np.stack([-dzdx, -dzdy, np.ones_like(filled)])
    normal /= np.linalg.norm(normal, axis=0)
    azimuth, altitude = math.radians(SUN_AZIMUTH_DEG), math.radians(SUN_ALTITUDE_DEG)
    sun = np.array([math.sin(azimuth) * math.cos(altitude), math.cos(azimuth) * math.cos(altitude), math.sin(altitude)])
    shade = np.clip(np.tensordot(sun, normal, axes=1), 0.0, 1.0)
    return np.where(valid, shade, np.nan)


def render_preview(analysis: RoofAnalysis, *, max_side: int = 1200) -> bytes:
    """The preview as PNG bytes; its long side is about `max_side` and never more."""
    return png_bytes(render_image(analysis, max_side=max_side), "preview")


def write_preview(analysis: RoofAnalysis, path: Path) -> None:
    path.write_bytes(render_preview(analysis))


def render_image(analysis: RoofAnalysis, *, max_side: int = 1200) -> Image:
    """The preview as a BGR image."""
    grid, report = analysis.grid, analysis.report
    width, height = _output_size(grid, max_side, max_side)
    size = _font_scale(width, height)
    entries = _legend_entries(report)
    for _ in range(4):  # make room for the legend under the picture (a narrower picture: more lines)
        band_h = _legend_height(entries, size, min(max_side, max(width, MIN_LEGEND_WIDTH)))
        if height + band_h <= max_side:
            break
        width, height = _output_size(grid, max_side, max_side - band_h)
    else:  # the legend at its narrowest is the tallest it can be
        band_h = _legend_height(entries, size, min(max_side, MIN_LEGEND_WIDTH))
        width, height = _output_size(grid, max_side, max_side - band_h)

    shade = hillshade(grid)
    grey = np.where(np.isfinite(shade), 45.0 + 200.0 * np.nan_to_num(shade), NODATA_GREY)
    grey_big = cv2.resize(grey.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
    labels = np.asarray(
        cv2.resize(report.labels.astype(np.int32), (width, height), interpolation=cv2.INTER_NEAREST), dtype=np.int32
    )
    canvas = cv2.cvtColor(grey_big, cv2.COLOR_GRAY2BGR).astype(np.float64)
    for facet in report.facets:
        cells = labels == facet.label
        canvas[cells] = (1.0 - ALPHA) * canvas[cells] + ALPHA * np.array(colour(facet.label), dtype=np.float64)
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    image[_boundaries(labels, thickness=max(1, round(max(width, height) / 800)))] = LINE
    _draw_edges(image, report, grid, thickness=max(2, round(max(width, height) / 300)))

    if report.facets:
        placed: list[Box] = []
        for facet in report.facets:
            _label_facet(image, labels == facet.label, f"{facet.id} {facet.pitch}", size, placed)
    else:
        _put_centred(image, "No roof planes found", size * 1.4)
    return _with_legend(image, entries, size, max_side)


def _draw_edges(image: Image, report: RoofReport, grid: HeightGrid, *, thickness: int) -> None:
    """Each roof line from its world ends (x east, y north of the north-west corner) to image pixels."""
    rows, cols = grid.shape
    sx, sy = image.shape[1] / (cols * grid.dx), image.shape[0] / (rows * grid.dy)  # px per metre
    bits = 4  # sub-pixel ends (cv2's fixed-point shift)
    for edge in report.edges:
        ends = [(round(x * sx * (1 << bits)), round(-y * sy * (1 << bits))) for x, y, _ in (edge.start, edge.end)]
        cv2.line(image, ends[0], ends[1], EDGE_COLOURS[edge.kind], thickness, cv2.LINE_AA, shift=bits)


def _output_size(grid: HeightGrid, max_width: int, max_height: int) -> tuple[int, int]:
    """Width and height: the grid at its true aspect (dx, dy), as large as fits in the box."""
    rows, cols = grid.shape
    extent_x, extent_y = cols * grid.dx, rows * grid.dy
    scale = min(max_width / extent_x, max(1, max_height) / extent_y)  # px per metre
    width = max(1, min(max_width, round(extent_x * scale)))
    height = max(1, min(max_height, round(extent_y * scale)))
    return width, height


def _boundaries(labels: npt.NDArray[np.int32], *, thickness: int) -> npt.NDArray[np.bool_]:
    """Pixels whose right or lower neighbour has another label, next to a facet, thickened."""
    edge = np.zeros(labels.shape, dtype=np.bool_)
    across = labels[:, 1:] != labels[:, :-1]
    down = labels[1:, :] != labels[:-1, :]
    edge[:, :-1] |= across
    edge[:-1, :] |= down
    if thickness > 1:
        kernel = np.ones((thickness, thickness), dtype=np.uint8)
        edge = cv2.dilate(edge.astype(np.uint8), kernel).astype(np.bool_)
    return edge


def _font_scale(width: int, height: int) -> float:
    return float(np.clip(max(width, height) / 1100.0, 0.6, 1.1))


def _thickness(size: float) -> int:
    return max(2, round(size * 2))


def _put_outlined(image: Image, text: str, origin: tuple[int, int], size: float) -> None:
    thick = _thickness(size)
    cv2.putText(image, text, origin, FONT, size, OUTLINE, thick + 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, FONT, size, TEXT, thick, cv2.LINE_AA)


def _fit(image: Image, text: str, centre: tuple[int, int], size: float) -> tuple[int, int]:
    """The text's origin to centre it on `centre`, kept inside the image."""
    (w, h), base = cv2.getTextSize(text, FONT, size, _thickness(size) + 3)
    x = int(np.clip(centre[0] - w // 2, 2, max(2, image.shape[1] - w - 2)))
    y = int(np.clip(centre[1] + h // 2, h + 2, max(h + 2, image.shape[0] - base - 2)))
    return x, y


def _label_facet(image: Image, mask: npt.NDArray[np.bool_], text: str, size: float, placed: list[Box]) -> None:
    """The text at the facet's point farthest from its boundary (of those, the nearest its middle).

    Smaller in a narrow facet, though not below legibility; moved along the facet if it would cover
    a label already placed (`placed`, which it joins).
    """
    if not mask.any():
        return
    padded = np.pad(mask.astype(np.uint8), 1)  # the image edge counts as a boundary
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    best = float(distance.max())
    (w, _), _ = cv2.getTextSize(text, FONT, size, _thickness(size))
    if w > 2.0 * best:
        size = max(MIN_LABEL_SIZE, size * 2.0 * best / w)
    rows, cols = np.nonzero(distance >= 0.5 * best)
    middle = np.array([np.mean(np.nonzero(mask)[0]), np.mean(np.nonzero(mask)[1])])
    order = np.lexsort(
        (np.hypot(rows - middle[0], cols - middle[1]), -np.floor(distance[rows, cols] / max(1e-9, 0.1 * best)))
    )
    step = max(1, len(order) // 4000)
    choice: tuple[tuple[int, int], Box] | None = None
    for index in order[::step]:
        origin = _fit(image, text, (int(cols[index]), int(rows[index])), size)
        box = _box(text, origin, size)
        if choice is None:
            choice = origin, box
        if not any(overlaps(box, other) for other in placed):
            choice = origin, box
            break
    assert choice is not None
    placed.append(choice[1])
    _put_outlined(image, text, choice[0], size)


def _box(text: str, origin: tuple[int, int], size: float) -> Box:
    (w, h), base = cv2.getTextSize(text, FONT, size, _thickness(size) + 3)
    return origin[0] - 2, origin[1] - h - 2, origin[0] + w + 2, origin[1] + base + 2


def _put_centred(image: Image, text: str, size: float) -> None:
    """The text in the middle of the image on a darkened box, legible whatever lies under it."""
    (w, h), base = cv2.getTextSize(text, FONT, size, _thickness(size))
    while w > image.shape[1] - 8 and size > 0.4:
        size *= 0.9
        (w, h), base = cv2.getTextSize(text, FONT, size, _thickness(size))
    x, y = _fit(image, text, (image.shape[1] // 2, image.shape[0] // 2), size)
    m = max(6, h // 2)
    top, bottom = max(0, y - h - m), min(image.shape[0], y + base + m)
    left, right = max(0, x - m), min(image.shape[1], x + w + m)
    box = image[top:bottom, left:right].astype(np.float64)
    image[top:bottom, left:right] = np.rint(0.35 * box + 0.65 * np.array(OUTLINE)).astype(np.uint8)
    _put_outlined(image, text, (x, y), size)


Entry = tuple[str, tuple[int, int, int]]  # text and swatch colour


def _legend_entry(facet: Facet) -> str:
    return f"{facet.id}  {facet.pitch}  {facet.facing}  {facet.area_m2 * SQFT_PER_M2:,.0f} sq ft"


def _legend_entries(report: RoofReport) -> list[Entry]:
    """A facet per entry, then each kind of roof line present with its total length."""
    entries = [(_legend_entry(f), colour(f.label)) for f in report.facets]
    totals = report.edge_totals_m()
    entries += [
        (f"{kind}  {totals[kind] * FT_PER_M:,.0f} ft", EDGE_COLOURS[kind]) for kind in EDGE_KINDS if totals[kind]
    ]
    return entries


class _Layout:
    """Where the legend's entries go: a grid of `columns` entries per line."""

    def __init__(self, entries: list[Entry], size: float, width: int) -> None:
        self.size = max(0.45, size * 0.75)
        self.thick = max(1, round(self.size * 1.6))
        self.entries = entries
        text_w = max((cv2.getTextSize(e, FONT, self.size, self.thick)[0][0] for e, _ in entries), default=0)
        text_h = cv2.getTextSize("Ag", FONT, self.size, self.thick)[0][1]
        self.pad, self.swatch = max(6, text_h // 2), text_h + 4
        self.entry_w = self.swatch + self.pad + text_w + 3 * self.pad
        self.line_h = text_h + self.pad + 4
        self.width = max(width, self.entry_w + 2 * self.pad)
        self.columns = max(1, min(len(self.entries), (self.width - 2 * self.pad) // self.entry_w))
        self.rows = math.ceil(len(self.entries) / self.columns)
        self.height = self.rows * self.line_h + 2 * self.pad if self.entries else 0


def _legend_height(entries: list[Entry], size: float, width: int) -> int:
    return _Layout(entries, size, width).height


def _with_legend(image: Image, entries: list[Entry], size: float, max_side: int) -> Image:
    """The image over a white band listing each entry beside its colour swatch."""
    if not entries:
        return image
    layout = _Layout(entries, size, min(max_side, max(image.shape[1], MIN_LEGEND_WIDTH)))
    width = min(max_side, layout.width)
    if width > image.shape[1]:  # a narrow roof: pad the picture on white so the legend fits
        left = (width - image.shape[1]) // 2
        image = np.asarray(
            cv2.copyMakeBorder(
                image, 0, 0, left, width - image.shape[1] - left, cv2.BORDER_CONSTANT, value=(255, 255, 255)
            ),
            dtype=np.uint8,
        )
    band = np.full((layout.height, width, 3), 255, dtype=np.uint8)
    pad, swatch = layout.pad, layout.swatch
    for index, (text, swatch_colour) in enumerate(entries):
        row, col = divmod(index, layout.columns)
        x, y = pad + col * layout.entry_w, pad + row * layout.line_h
        cv2.rectangle(band, (x, y), (x + swatch, y + swatch), swatch_colour, -1)
        cv2.rectangle(band, (x, y), (x + swatch, y + swatch), LINE, 1)
        cv2.putText(
            band, text, (x + swatch + pad, y + swatch - 2), FONT, layout.size, (30, 30, 30), layout.thick, cv2.LINE_AA
        )
    return np.vstack([image, band])
