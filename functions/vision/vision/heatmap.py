"""The damage heatmap: where on the photo the damage is dense enough to matter to a carrier.

Insurers judge hail by the hits counted in a 10 ft x 10 ft test square on a slope (commonly 8 or
more = replace). So the map's value at a point is the severity-weighted number of detections a test
square centred there would count, in hits per 100 sq ft, and the colour scale is fixed: 0 at the
bottom, `TEST_SQUARE_HITS` at the top (more is clipped). It never normalises to the photo's own
maximum, so a single minor hit reads 1/32 of the scale (faint blue), not red.

Kernel: each detection adds its weight (`SEVERITY_WEIGHTS`: severity 3 = one hit) times a test
square centred on its box centre, softened by a Gaussian (`SOFTEN_FT`) so there are no hard edges:
per axis `Phi((u + 5 ft) / s) - Phi((u - 5 ft) / s)`. Its peak is ~1 and its integral is exactly
100 sq ft, so all three calibration points hold: one hit reads one hit, 8 hits within a test square
read 8 (the top), and hits spread evenly at 8 per 100 sq ft also read 8. (A plain Gaussian with the
same integral reads only ~5 for 8 hits spread over one square: it would under-call a failing square.)

Scale: `pixels_per_foot` of the original photo; when unknown the long side is assumed to span
`DEFAULT_SPAN_FT` (a close-up of a slope) and the legend says so.

Speed (a 12 MP photo in well under 250 ms): the density is computed on a coarse grid (about half a
foot a cell, 128 to 512 cells on the long side) by depositing weighted impulses bilinearly and one
separable filter, then resized to the output with the photo. Colour (Turbo, perceptually ordered)
and opacity are looked up per output pixel; the tint is blended only where the density exceeds
`FLOOR_HITS`, its opacity growing with the density, so undamaged roof looks like the photo. Boxes
(colour = severity) and labels are drawn after the resize, and the legend is a white band under the
photo (colour bar in hits per test square, the scale assumption, the severity key). The PNG is
written by OpenCV with the fast settings measured in bench/vision_heatmap.py and carries only IHDR,
IDAT and IEND (no EXIF or text).

Input pixels are RGB uint8 H x W x 3, upright; boxes are in those pixels (detections.py). The output
is at most `long_side` on its long side (legend included) and never larger than the photo.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from shared.drawing import FONT, Box, Image, overlaps, png_bytes
from vision.detections import Detection, clamp_box

Grid = npt.NDArray[np.float32]

TEST_SQUARE_FT = 10.0  # the carrier's test square side
TEST_SQUARE_HITS = 8.0  # hits per test square at the top of the colour scale (carrier threshold)
# Hits a detection counts for, by severity: 3 is one ordinary hit.
SEVERITY_WEIGHTS: dict[int, float] = {1: 0.25, 2: 0.5, 3: 1.0, 4: 1.5, 5: 2.0}
SOFTEN_FT = 1.5  # Gaussian softening of the test square's edges
DEFAULT_SPAN_FT = 12.0  # the long side's span when the scale is unknown (close-up of a slope)
CELL_FT = 0.5  # density grid cell, before the limits below
MIN_CELLS, MAX_CELLS = 128, 512  # on the grid's long side
FLOOR_HITS = 0.1  # below this nothing is tinted
ALPHA_LOW, ALPHA_HIGH = 0.25, 0.65  # tint opacity just above the floor and at the top of the scale
LONG_SIDE = 2048
MIN_LEGEND_WIDTH = 420  # px: a narrower photo is padded so the legend still reads
PNG_PARAMS = (cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_AVG)

# Box colours by severity (BGR), minor to severe, each drawn over a dark outline
SEVERITY_COLOURS: dict[int, tuple[int, int, int]] = {
    1: (230, 216, 173),  # pale blue
    2: (80, 220, 80),  # green
    3: (0, 230, 255),  # yellow
    4: (0, 140, 255),  # orange
    5: (255, 0, 255),  # magenta: stands out even on the red end of the tint
}
OUTLINE = (20, 20, 20)
INK = (30, 30, 30)  # text on the legend's white and on the label tags


# ---- density ---------------------------------------------------------------------------------------


def feet_scale(width: int, height: int, pixels_per_foot: float | None) -> tuple[float, bool]:
    """Pixels per foot and whether it was assumed (no scale given)."""
    if pixels_per_foot is None:
        return max(width, height) / DEFAULT_SPAN_FT, True
    if not (math.isfinite(pixels_per_foot) and pixels_per_foot > 0):
        raise ValueError("pixels_per_foot must be a positive number")
    return float(pixels_per_foot), False


def grid_shape(width: int, height: int, pixels_per_foot: float) -> tuple[int, int]:
    """Rows and columns of the density grid covering the photo."""
    long_px = max(width, height)
    cells = math.ceil(long_px / (CELL_FT * pixels_per_foot))
    cells = min(long_px, max(MIN_CELLS, min(MAX_CELLS, cells)))
    cell_px = long_px / cells
    return max(1, round(height / cell_px)), max(1, round(width / cell_px))


def soft_square(cell_ft: float) -> Grid:
    """The softened test square along one axis, sampled every `cell_ft` (a column vector)."""
    half, s = TEST_SQUARE_FT / 2, SOFTEN_FT * math.sqrt(2)
    reach = math.ceil((half + 4 * SOFTEN_FT) / cell_ft)
    u = np.arange(-reach, reach + 1) * cell_ft
    values = [0.5 * (math.erf((x + half) / s) - math.erf((x - half) / s)) for x in u]
    return np.asarray(values, dtype=np.float32).reshape(-1, 1)


def density_map(
    detections: Sequence[Detection], width: int, height: int, *, pixels_per_foot: float | None = None
) -> Grid:
    """Severity-weighted hits per 10 ft x 10 ft test square on a coarse grid covering the photo
    (rows x columns from `grid_shape`; a cell is width / columns by height / rows pixels)."""
    ppf, _ = feet_scale(width, height, pixels_per_foot)
    rows, cols = grid_shape(width, height, ppf)
    cell_x, cell_y = width / cols, height / rows
    impulses = np.zeros((rows, cols), dtype=np.float32)
    for det in detections:
        box = clamp_box(det.box, width, height)
        if box is not None:
            centre = ((box[0] + box[2]) / 2 / cell_x - 0.5, (box[1] + box[3]) / 2 / cell_y - 0.5)
            _deposit(impulses, centre, SEVERITY_WEIGHTS[det.severity])
    if not impulses.any():
        return impulses
    kernel_x, kernel_y = soft_square(cell_x / ppf), soft_square(cell_y / ppf)
    density = cv2.sepFilter2D(impulses, cv2.CV_32F, kernel_x, kernel_y, borderType=cv2.BORDER_CONSTANT)
    return np.maximum(density, 0.0, dtype=np.float32)  # float rounding can leave -1e-8 far from any hit


def _deposit(grid: Grid, centre: tuple[float, float], weight: float) -> None:
    """`weight` split bilinearly among the four cells around `centre` (column, row in cell units):
    sub-cell positions survive the coarse grid. Weight falling outside the grid is dropped."""
    u, v = centre
    c0, r0 = math.floor(u), math.floor(v)
    fu, fv = u - c0, v - r0
    rows, cols = grid.shape
    for dr, dc, share in ((0, 0, (1 - fu) * (1 - fv)), (0, 1, fu * (1 - fv)), (1, 0, (1 - fu) * fv), (1, 1, fu * fv)):
        r, c = r0 + dr, c0 + dc
        if 0 <= r < rows and 0 <= c < cols:
            grid[r, c] += weight * share


def opacity(density: Grid) -> Grid:
    """Tint opacity: 0 up to the floor, ramping in over one more floor's width (no hard rim), then
    growing with the density from ALPHA_LOW to ALPHA_HIGH at the top of the scale."""
    t = np.clip(density / TEST_SQUARE_HITS, 0.0, 1.0)
    rim = np.clip((density - FLOOR_HITS) / FLOOR_HITS, 0.0, 1.0)
    return np.asarray(rim * (ALPHA_LOW + (ALPHA_HIGH - ALPHA_LOW) * t), dtype=np.float32)


def scale_index(density: Grid) -> Image:
    """Position on the colour scale, 0-255 (the top is TEST_SQUARE_HITS, beyond it clipped)."""
    return np.asarray(cv2.convertScaleAbs(density, alpha=255.0 / TEST_SQUARE_HITS), dtype=np.uint8)


def turbo(index: Image) -> Image:
    """Turbo colours (BGR) for colour-scale positions."""
    return np.asarray(cv2.applyColorMap(index, cv2.COLORMAP_TURBO), dtype=np.uint8)


# ---- rendering -------------------------------------------------------------------------------------


def render_heatmap(
    pixels: Image,
    detections: Sequence[Detection],
    *,
    pixels_per_foot: float | None = None,
    long_side: int = LONG_SIDE,
    boxes: bool = True,
    labels: bool = True,
) -> bytes:
    """The heatmap as PNG bytes (no metadata chunks)."""
    image = render_image(
        pixels, detections, pixels_per_foot=pixels_per_foot, long_side=long_side, boxes=boxes, labels=labels
    )
    return png_bytes(image, "heatmap", PNG_PARAMS)


def render_image(
    pixels: Image,
    detections: Sequence[Detection],
    *,
    pixels_per_foot: float | None = None,
    long_side: int = LONG_SIDE,
    boxes: bool = True,
    labels: bool = True,
) -> Image:
    """The heatmap as a BGR image: the photo, tinted, with boxes and labels, over the legend band."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError("pixels must be an RGB uint8 array of shape (height, width, 3)")
    if long_side < 64:
        raise ValueError("long_side must be at least 64 px")
    height, width = pixels.shape[:2]
    ppf, assumed = feet_scale(width, height, pixels_per_foot)
    caption = _caption(ppf, assumed)
    out_w, out_h, band = _fit(width, height, long_side, caption, boxes)

    photo = cv2.resize(pixels, (out_w, out_h), interpolation=cv2.INTER_AREA) if out_w != width else pixels
    photo = np.asarray(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), dtype=np.uint8)
    if detections:
        photo = _tint(photo, density_map(detections, width, height, pixels_per_foot=ppf))
        size = _font_scale(out_w, out_h)
        if boxes:
            _draw_boxes(photo, detections, out_w / width, out_h / height, size, labels=labels)
    return _stack(photo, band)


def _tint(photo: Image, density: Grid) -> Image:
    """The Turbo tint blended over the photo where the density is above the floor."""
    size = (photo.shape[1], photo.shape[0])
    dense = np.asarray(cv2.resize(density, size, interpolation=cv2.INTER_LINEAR), dtype=np.float32)
    alpha = np.asarray(cv2.resize(opacity(density), size, interpolation=cv2.INTER_LINEAR), dtype=np.float32)
    if not alpha.any():
        return photo
    heat = turbo(scale_index(dense))
    return np.asarray(cv2.blendLinear(heat, photo, alpha, 1.0 - alpha), dtype=np.uint8)


def _fit(width: int, height: int, long_side: int, caption: str, boxes: bool) -> tuple[int, int, Image]:
    """The photo's output size and the legend band: the whole (photo over band, padded to the
    band's width) fits in `long_side`, the photo keeps its aspect and is never enlarged."""
    scale = min(1.0, long_side / max(width, height))
    for _ in range(4):  # a smaller photo gets a narrower band, which may wrap onto more lines
        out_w, out_h = max(1, round(width * scale)), max(1, round(height * scale))
        band = _legend(min(long_side, max(out_w, MIN_LEGEND_WIDTH)), _font_scale(out_w, out_h), caption, boxes)
        if out_h + band.shape[0] <= long_side:
            return out_w, out_h, band
        scale = min(scale, (long_side - band.shape[0]) / height) * 0.999
    return out_w, out_h, band


def _stack(photo: Image, band: Image) -> Image:
    width = band.shape[1]
    if width > photo.shape[1]:  # a narrow photo: centred on white above the legend
        left = (width - photo.shape[1]) // 2
        photo = np.asarray(
            cv2.copyMakeBorder(
                photo, 0, 0, left, width - photo.shape[1] - left, cv2.BORDER_CONSTANT, value=(255, 255, 255)
            ),
            dtype=np.uint8,
        )
    return np.vstack([photo, band])


# ---- boxes and labels ------------------------------------------------------------------------------


def _font_scale(width: int, height: int) -> float:
    """OpenCV font scale: ~25 px capitals at 2048 px, still legible (~12 px) on a small image."""
    return float(np.clip(max(width, height) / 1800.0, 0.45, 1.1))


def _thickness(size: float) -> int:
    return max(1, round(size * 2))


def _label(det: Detection) -> str:
    return f"#{det.id} {det.type.replace('_', ' ')} {det.severity}/5"


def _draw_boxes(
    image: Image, detections: Sequence[Detection], sx: float, sy: float, size: float, *, labels: bool
) -> None:
    """Each box scaled to the output, in its severity's colour over a dark outline, and its label on a
    tag of the same colour (above the box, else below, else inside; just the id when all of those
    would cover a tag already placed)."""
    height, width = image.shape[:2]
    line = max(2, round(max(width, height) / 700))
    placed: list[Box] = []
    for det in sorted(detections, key=lambda d: (d.severity, d.id)):  # the worst drawn last, on top
        box = clamp_box((det.box[0] * sx, det.box[1] * sy, det.box[2] * sx, det.box[3] * sy), width, height)
        if box is None:
            continue
        x0, y0, x1, y1 = box[0], box[1], box[2] - 1, box[3] - 1  # inclusive corners for cv2
        colour = SEVERITY_COLOURS[det.severity]
        cv2.rectangle(image, (x0, y0), (x1, y1), OUTLINE, line + 2, cv2.LINE_AA)
        cv2.rectangle(image, (x0, y0), (x1, y1), colour, line, cv2.LINE_AA)
        if labels:
            _put_tag(image, det, box, size, line, placed)


def _put_tag(image: Image, det: Detection, box: Box, size: float, line: int, placed: list[Box]) -> None:
    """Dark text on a filled tag in the box's colour: legible over any photo or tint. (OpenCV 5 draws
    the Hershey font names with a TrueType face whose weight stops growing with thickness, so the
    outlined text of geometry's preview shows no outline.)"""
    thick = _thickness(size)
    for text in (_label(det), f"#{det.id}"):
        (w, h), base = cv2.getTextSize(text, FONT, size, thick)
        m = max(2, h // 4)
        tag_w, tag_h = w + 2 * m, h + base + 2 * m
        candidates = [(box[0], box[1] - line - tag_h), (box[0], box[3] + line), (box[0] + line, box[1] + line)]
        tags = [_clip_tag(x, y, tag_w, tag_h, image.shape[1], image.shape[0]) for x, y in candidates]
        free = [t for t in tags if not any(overlaps(t, other) for other in placed)]
        if free:
            break
    tag = free[0] if free else tags[0]
    placed.append(tag)
    cv2.rectangle(image, (tag[0], tag[1]), (tag[2] - 1, tag[3] - 1), SEVERITY_COLOURS[det.severity], -1)
    cv2.putText(image, text, (tag[0] + m, tag[3] - m - base), FONT, size, INK, thick, cv2.LINE_AA)


def _clip_tag(x: int, y: int, w: int, h: int, width: int, height: int) -> Box:
    x = int(np.clip(x, 0, max(0, width - w)))
    y = int(np.clip(y, 0, max(0, height - h)))
    return x, y, x + w, y + h


# ---- legend ----------------------------------------------------------------------------------------


def _caption(ppf: float, assumed: bool) -> str:
    if assumed:
        return f"Scale unknown: assumed the photo's long side spans {DEFAULT_SPAN_FT:g} ft."
    return f"Scale: {ppf:.3g} px per ft."


def _weights_note() -> str:
    parts = ", ".join(f"{s}: {w:g}" for s, w in SEVERITY_WEIGHTS.items())
    return f"Severity counts as hits ({parts}); {TEST_SQUARE_HITS:g}+ per square is the top of the scale."


def _wrap(text: str, size: float, thick: int, width: int) -> list[str]:
    """Words greedily packed into lines no wider than `width` px (a long word gets its own line)."""
    lines: list[str] = []
    for word in text.split():
        trial = f"{lines[-1]} {word}" if lines else word
        if lines and cv2.getTextSize(trial, FONT, size, thick)[0][0] <= width:
            lines[-1] = trial
        else:
            lines.append(word)
    return lines


def _legend(width: int, photo_size: float, caption: str, boxes: bool) -> Image:
    """White band: title, the colour bar with ticks 0 .. 8+, the scale caption and weights, and the
    severity key for the boxes."""
    size = max(0.4, photo_size * 0.7)
    thick = max(1, round(size * 1.6))
    (_, text_h), base = cv2.getTextSize("Ag", FONT, size, thick)
    pad, line_h = max(6, text_h // 2), text_h + max(6, text_h // 2)
    inner = width - 2 * pad
    title = _wrap("Damage density: severity-weighted hits per 10 x 10 ft test square", size, thick, inner)
    notes = _wrap(f"{caption} {_weights_note()}", size, thick, inner)
    bar_h, ticks_h = text_h + 6, 6 + text_h + base + pad  # the bar, then its tick labels
    key_h = line_h if boxes else 0
    height = pad + len(title) * line_h + bar_h + ticks_h + len(notes) * line_h + key_h + pad
    band = np.full((height, width, 3), 255, dtype=np.uint8)
    y = pad
    for text in title:
        cv2.putText(band, text, (pad, y + text_h), FONT, size, INK, thick, cv2.LINE_AA)
        y += line_h
    _colour_bar(band, (pad, y, width - pad, y + bar_h), size, thick, text_h)
    y += bar_h + ticks_h
    for text in notes:
        cv2.putText(band, text, (pad, y + text_h), FONT, size, INK, thick, cv2.LINE_AA)
        y += line_h
    if boxes:
        _severity_key(band, (pad, y), size, thick, text_h)
    return band


def _colour_bar(band: Image, rect: Box, size: float, thick: int, text_h: int) -> None:
    """The Turbo scale across `rect` (at full strength) and tick labels under it, each whole hit
    when there is room, else every other."""
    x0, y0, x1, y1 = rect
    ramp = np.linspace(0, 255, x1 - x0).round().astype(np.uint8).reshape(1, -1)
    band[y0:y1, x0:x1] = turbo(np.repeat(ramp, y1 - y0, axis=0))
    cv2.rectangle(band, (x0, y0), (x1 - 1, y1 - 1), INK, 1)
    top = int(TEST_SQUARE_HITS)
    label_w = cv2.getTextSize(f"{top}+", FONT, size, thick)[0][0]
    step = 1 if (x1 - x0) / top > 1.6 * label_w else 2
    for hits in range(0, top + 1, step):
        x = x0 + round((x1 - x0 - 1) * hits / top)
        text = f"{hits}+" if hits == top else str(hits)
        w = cv2.getTextSize(text, FONT, size, thick)[0][0]
        cv2.line(band, (x, y1), (x, y1 + 4), INK, 1)
        tx = int(np.clip(x - w // 2, 0, band.shape[1] - w))
        cv2.putText(band, text, (tx, y1 + 6 + text_h), FONT, size, INK, thick, cv2.LINE_AA)


def _severity_key(band: Image, origin: tuple[int, int], size: float, thick: int, text_h: int) -> None:
    x, y = origin
    label = "Boxes by severity:"
    cv2.putText(band, label, (x, y + text_h), FONT, size, INK, thick, cv2.LINE_AA)
    x += cv2.getTextSize(label, FONT, size, thick)[0][0] + text_h
    for severity, colour in SEVERITY_COLOURS.items():
        if x + 2 * text_h > band.shape[1]:
            break
        cv2.rectangle(band, (x, y), (x + text_h, y + text_h), colour, -1)
        cv2.rectangle(band, (x, y), (x + text_h, y + text_h), OUTLINE, 1)
        x += text_h + 4
        cv2.putText(band, str(severity), (x, y + text_h), FONT, size, INK, thick, cv2.LINE_AA)
        x += cv2.getTextSize(str(severity), FONT, size, thick)[0][0] + text_h
