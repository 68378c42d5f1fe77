"""Dark spots that are not lines: what a hail bruise is and a roof's own structure is not.

A shingle roof is drawn in dark lines: the shadow under every butt edge, keyways between 3-tab tabs,
the sides of laminated teeth, the joints of ridge caps. Where two meet (a keyway on a course line:
a T-junction every foot on a 3-tab roof) a blob filter sees a dark blob. A morphological test tells
them apart without knowing how the roof was drawn: a grey-level *closing* with a line segment fills
every dark feature that the segment cannot lie inside. Take the smallest closing over segments of
every orientation, and a pixel stays dark (residue 0) when any segment of `SPOT_LENGTH_IN` through
it fits in dark: on a line, a line's end, a T or a cross, the segment along the line fits. A spot
smaller than the segment in every direction (a bruise 0.5 to 2.5 inches across) is filled by every
orientation: its residue is its depth. Wide dark areas (shade, wet patches, a missing tab, the
laminates' bottom layer) are wider than the segment, so it fits there too.

The segment is `SPOT_LENGTH_IN` long, longer than the largest hit and shorter than a keyway (one
exposure, 5 inches) or a laminated tooth's side; orientations every `ANGLE_STEP_DEG`, so a line two
pixels wide at any angle holds a segment of that length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vision.local.image_ops import F32, Mask, bounding_box

SPOT_LENGTH_IN = 3.0
ANGLE_STEP_DEG = 3.0
# A spot's pixels: residue above GROW_Z robust spreads of the roof's texture, and somewhere above
# SEED_Z; and at least MIN_DEPTH (log luminance: 6% darker than what fills it), whatever the spread.
SEED_Z = 1.2
GROW_Z = 0.6
MIN_DEPTH = 0.06
SOFTEN_IN = 0.12
MIN_SPOT_IN = 0.3  # equivalent diameter: smaller is granule noise
MAX_SPOTS = 200


@dataclass(frozen=True)
class Spot:
    """A connected dark spot at working resolution."""

    x: float  # centroid, working pixels
    y: float
    box: tuple[int, int, int, int]  # working pixels, x1 and y1 exclusive
    area: int  # pixels
    peak: float  # deepest residue (log luminance)
    mean: float  # mean residue over the spot
    z: float  # peak in robust spreads of the roof's texture
    elongation: float  # sqrt of the ratio of the spot's second moments on the roof plane (1 for a disc)
    solidity: float  # area over its convex hull's area


def line_kernel(length: float, angle: float) -> npt.NDArray[np.uint8]:
    """A one-pixel line segment `length` pixels long at `angle` radians, as a structuring element."""
    size = math.ceil(length) | 1
    kernel = np.zeros((size, size), np.uint8)
    c, half = size // 2, (length - 1) / 2
    dx, dy = math.cos(angle) * half, math.sin(angle) * half
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1, 1)
    return kernel


def residue(flat: F32, length_px: float, across: float = math.pi / 2, stretch: float = 1.0) -> F32:
    """How much darker each pixel is than the smallest closing of `flat` by a line segment over all
    orientations: the depth of the dark spots no segment fits in. The segment is `length_px` long
    across the courses (`across`, radians) and `stretch` times that along them, in between as an
    ellipse: a roof seen at a slant is foreshortened across its courses, not along them.

    The closings run on `flat` quantised to 16 bits, which is exact up to one quantum (a grey-level
    closing commutes with any increasing map; 1/65535 of the image's range is far below any depth
    that counts) and 1.6 times as fast as on floats."""
    low, high = float(flat.min()), float(flat.max())
    quantum = max(high - low, 1e-6) / 65535.0
    levels = np.asarray(np.round((flat - low) / quantum), np.uint16)
    closed: npt.NDArray[np.uint16] | None = None
    seen: set[tuple[tuple[int, ...], bytes]] = set()
    for step in range(round(180 / ANGLE_STEP_DEG)):
        angle = math.radians(step * ANGLE_STEP_DEG)
        along = math.sin(angle - across)  # 1 along the courses, 0 across them
        length = length_px * math.hypot(stretch * along, math.cos(angle - across))
        kernel = line_kernel(length, angle)
        key = (kernel.shape, kernel.tobytes())
        if key in seen:  # neighbouring angles often draw the same pixels: their closing is done
            continue
        seen.add(key)
        one = np.asarray(cv2.morphologyEx(levels, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE), np.uint16)
        closed = one if closed is None else np.asarray(np.minimum(closed, one), np.uint16)
    assert closed is not None
    return np.asarray((closed.astype(np.float32) - levels) * np.float32(quantum), np.float32)


def dark_spots(flat: F32, roof: Mask, ppi: float, across: float = math.pi / 2, stretch: float = 1.0) -> list[Spot]:
    """The dark spots of the roof, deepest first: `ppi` pixels per inch across the courses (the
    direction `across`, radians), `stretch` times more along them (foreshortening). The
    image is first softened over a granule or two (`SOFTEN_IN`): a closing takes the brightest pixel
    under the segment, and one light granule inside a keyway would stop the segment fitting there."""
    sigma, length = max(0.7, SOFTEN_IN * ppi), SPOT_LENGTH_IN * ppi
    # Only the roof's bounding box is filtered, grown by the blur's and the closings' reach: within
    # the roof every value is as on the whole image.
    window = bounding_box(roof, math.ceil(4 * sigma + length * max(1.0, stretch)) + 2)
    if window is None:
        return []
    rows, cols = window
    flat, roof = flat[rows, cols], roof[rows, cols]
    soft = np.asarray(cv2.GaussianBlur(flat, (0, 0), sigma), np.float32)
    depth = residue(soft, length, across, stretch)
    values = soft[roof]
    if values.size < 100:
        return []
    ox, oy = cols.start, rows.start
    # The roof's texture (granules, shade variety) at this softness: the unit a spot's depth is judged in.
    spread = 1.4826 * float(np.median(np.abs(values - np.median(values)))) + 1e-6
    grow = roof & (depth >= max(MIN_DEPTH, GROW_Z * spread))
    count, found, stats, centroids = cv2.connectedComponentsWithStats(grow.astype(np.uint8), connectivity=8)
    labels = np.asarray(found, np.int32)
    min_area = math.pi * (MIN_SPOT_IN / 2) ** 2 * ppi**2 * stretch
    seed_level = max(MIN_DEPTH, SEED_Z * spread)
    peaks = np.zeros(count, np.float32)
    np.maximum.at(peaks, labels[grow], depth[grow])
    areas = stats[:, cv2.CC_STAT_AREA]
    seeded = [int(i) for i in np.flatnonzero((areas >= max(3.0, min_area)) & (peaks >= seed_level)) if i > 0]
    # Deepest first; only the spots kept are measured (shape moments and hulls cost per spot).
    seeded.sort(key=lambda i: (-float(peaks[i]) * int(areas[i]), tuple(int(v) for v in stats[i, :4])))
    spots: list[Spot] = []
    for i in seeded[:MAX_SPOTS]:
        x, y, w, h = (int(v) for v in stats[i, :4])
        inside = labels[y : y + h, x : x + w] == i
        peak = float(peaks[i])
        spots.append(
            Spot(
                x=float(centroids[i, 0]) + ox,
                y=float(centroids[i, 1]) + oy,
                box=(x + ox, y + oy, x + w + ox, y + h + oy),
                area=int(areas[i]),
                peak=peak,
                mean=float(depth[y : y + h, x : x + w][inside].mean()),
                z=peak / spread,
                elongation=_elongation(inside, across, stretch),
                solidity=_solidity(inside),
            )
        )
    return spots


def _elongation(inside: Mask, across: float, stretch: float) -> float:
    """How elongated the spot is on the roof plane: its pixel moments with the foreshortening taken
    out (a round bruise seen at a slant is an ellipse `stretch` times wider along the courses)."""
    moments = cv2.moments(inside.astype(np.uint8), binaryImage=True)
    if moments["m00"] <= 0:
        return 1.0
    # The covariance in pixels, turned into (along the courses, across them), along shrunk by stretch.
    cov = np.array([[moments["mu20"], moments["mu11"]], [moments["mu11"], moments["mu02"]]])
    u = np.array([-math.sin(across), math.cos(across)]) / stretch  # along the courses, per plane unit
    v = np.array([math.cos(across), math.sin(across)])  # across them
    frame = np.vstack([u, v])
    plane = frame @ cov @ frame.T
    a, b, c = float(plane[0, 0]), float(plane[0, 1]), float(plane[1, 1])
    spread = math.sqrt(((a - c) / 2) ** 2 + b**2)
    low, high = (a + c) / 2 - spread, (a + c) / 2 + spread
    return math.sqrt(max(high, 1e-6) / max(low, 1e-6 * max(high, 1.0), 1e-6))


def _solidity(inside: Mask) -> float:
    points = np.column_stack(np.nonzero(inside)[::-1]).astype(np.int32)
    if len(points) < 3:
        return 1.0
    hull = cv2.convexHull(points)
    hull_area = float(cv2.contourArea(hull)) + 0.5 * float(cv2.arcLength(hull, True)) + 1.0  # pixel-centre hull
    return min(1.0, float(inside.sum()) / hull_area)
