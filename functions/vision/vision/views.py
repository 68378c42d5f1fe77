"""What the model is shown: views of the photo (the whole of it, or tiles), their size, and the
numbered marks drawn on them.

Tokens decide the cost of an image call, and OpenAI's tile rule decides the tokens (shared.catalog):
an image is fitted within 2048 x 2048, then its short side within 768, and billed per 512 px tile.
So sending more than that is waste, and the mode picks how many tiles:
- CHEAP: one view of the whole photo, at most 2 tiles (short side 512, long side 1024): the
  fewest image tokens that still show shingle-scale damage on a close-up photo;
- SMART: one view at the full billed size (short side 768) when that shows the photo at half its
  resolution or better; a larger photo is cut into overlapping tiles, each shown at that size, so a
  hail hit of a few pixels in a 12 MP photo is still a few pixels to the model. At most 3 x 3 tiles.
Tiles overlap, so damage on a seam is whole in one of them; merging (NMS) removes the doubles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from shared.modes import Mode
from vision.detections import Box

Pixels = npt.NDArray[np.uint8]

BILLED_SHORT_SIDE = 768  # OpenAI's high-detail short side: more is scaled away
BILLED_LONG_SIDE = 2048
CHEAP_SHORT_SIDE = 512  # with a long side of at most 1024: 2 tiles
CHEAP_LONG_SIDE = 1024
MIN_VIEW_SCALE = 0.5  # tile when one view would show the photo at less than this
MAX_GRID = 3
OVERLAP = 0.08  # of a tile's size, on each inner edge
MARK_COLOUR = (255, 0, 255)  # magenta: rare on a roof, so a mark is never read as part of it


@dataclass(frozen=True)
class View:
    """A region of the photo (photo pixels, x1/y1 exclusive) and the size it is sent at."""

    box: Box
    sent_width: int
    sent_height: int
    where: str  # for the prompt: "the whole photo", "tile 2 of 4 (top right)"

    @property
    def scale(self) -> float:
        """Sent pixels per photo pixel."""
        return self.sent_width / (self.box[2] - self.box[0])


def plan_views(width: int, height: int, mode: Mode) -> list[View]:
    """The views of a `width` x `height` photo for a call in `mode` (CHEAP, or SMART; AUTO is
    resolved by the caller)."""
    whole = (0, 0, width, height)
    if mode is Mode.CHEAP:
        return [View(whole, *sent_size(width, height, CHEAP_SHORT_SIDE, CHEAP_LONG_SIDE), "the whole photo")]
    short = min(width, height)
    if short * MIN_VIEW_SCALE <= BILLED_SHORT_SIDE:
        return [View(whole, *sent_size(width, height), "the whole photo")]
    per_tile = BILLED_SHORT_SIDE / MIN_VIEW_SCALE  # photo pixels a tile's short side may span
    cols = min(MAX_GRID, math.ceil(width / (per_tile * max(1.0, width / height))))
    rows = min(MAX_GRID, math.ceil(height / (per_tile * max(1.0, height / width))))
    cols, rows = max(cols, 1), max(rows, 1)
    if cols * rows == 1:
        return [View(whole, *sent_size(width, height), "the whole photo")]
    return [_tile(width, height, col, row, cols, rows) for row in range(rows) for col in range(cols)]


def _tile(width: int, height: int, col: int, row: int, cols: int, rows: int) -> View:
    tile_w, tile_h = width / cols, height / rows
    pad_x, pad_y = OVERLAP * tile_w, OVERLAP * tile_h
    x0 = max(0, math.floor(col * tile_w - pad_x))
    y0 = max(0, math.floor(row * tile_h - pad_y))
    x1 = min(width, math.ceil((col + 1) * tile_w + pad_x))
    y1 = min(height, math.ceil((row + 1) * tile_h + pad_y))
    vertical = ("top", "middle", "bottom")[row if rows == 3 else (0 if row == 0 else 2)]
    horizontal = ("left", "centre", "right")[col if cols == 3 else (0 if col == 0 else 2)]
    place = f"{vertical} {horizontal}" if rows > 1 and cols > 1 else (vertical if rows > 1 else horizontal)
    number = row * cols + col + 1
    return View((x0, y0, x1, y1), *sent_size(x1 - x0, y1 - y0), f"tile {number} of {cols * rows} ({place})")


def sent_size(
    width: int, height: int, short_side: int = BILLED_SHORT_SIDE, long_side: int = BILLED_LONG_SIDE
) -> tuple[int, int]:
    """The size a region is sent at: fitted within both bounds, never enlarged."""
    scale = min(1.0, short_side / min(width, height), long_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def crop(pixels: Pixels, view: View) -> Pixels:
    """The view's region at the size it is sent at."""
    x0, y0, x1, y1 = view.box
    region = pixels[y0:y1, x0:x1]
    if (view.sent_width, view.sent_height) == (x1 - x0, y1 - y0):
        return np.ascontiguousarray(region)
    return np.asarray(cv2.resize(region, (view.sent_width, view.sent_height), interpolation=cv2.INTER_AREA))


def to_view(box: Box, view: View) -> tuple[int, int, int, int]:
    """A photo box in the sent image's pixels."""
    s, (vx, vy) = view.scale, view.box[:2]
    return (
        math.floor((box[0] - vx) * s),
        math.floor((box[1] - vy) * s),
        math.ceil((box[2] - vx) * s),
        math.ceil((box[3] - vy) * s),
    )


def from_normalised(box: list[int], view: View) -> tuple[float, float, float, float]:
    """A box in 0..1000 of the sent image, in photo pixels (not yet clamped: the caller validates)."""
    vx0, vy0, vx1, vy1 = view.box
    w, h = vx1 - vx0, vy1 - vy0
    return (
        vx0 + box[0] / 1000 * w,
        vy0 + box[1] / 1000 * h,
        vx0 + box[2] / 1000 * w,
        vy0 + box[3] / 1000 * h,
    )


def inside(box: Box, view: View) -> bool:
    """Whether the box's centre lies in the view: each candidate is marked in the views that hold it."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return view.box[0] <= cx < view.box[2] and view.box[1] <= cy < view.box[3]


def draw_marks(image: Pixels, boxes: list[tuple[int, int, int, int]]) -> Pixels:
    """The image with each box drawn a little outside the candidate (so the mark never hides the
    damage) and numbered 1..n on a dark tag above it."""
    out = image.copy()
    height, width = out.shape[:2]
    scale = max(0.4, min(width, height) / 1400)
    thickness = max(1, round(scale * 2))
    for number, (x0, y0, x1, y1) in enumerate(boxes, start=1):
        pad = thickness + 1
        top_left = (max(0, x0 - pad), max(0, y0 - pad))
        bottom_right = (min(width - 1, x1 + pad), min(height - 1, y1 + pad))
        cv2.rectangle(out, top_left, bottom_right, MARK_COLOUR, thickness, cv2.LINE_AA)
        label = str(number)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        tx = min(max(0, top_left[0]), width - tw - 2)
        ty = top_left[1] - 2 if top_left[1] - th - base - 2 >= 0 else min(height - 2, bottom_right[1] + th + 2)
        cv2.rectangle(out, (tx, ty - th - 2), (tx + tw + 2, ty + base), (0, 0, 0), -1)
        cv2.putText(out, label, (tx + 1, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, MARK_COLOUR, thickness, cv2.LINE_AA)
    return out
