"""Drawing primitives of the two image renderers (geometry's preview, vision's heatmap).

Only the container-image functions import this module: OpenCV and numpy come with their images and
are never in the zip layer, whose functions do not draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]  # BGR, as OpenCV draws
Box = tuple[int, int, int, int]  # left, top, right, bottom
FONT = cv2.FONT_HERSHEY_SIMPLEX


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def png_bytes(image: Image, what: str, params: Sequence[int] = ()) -> bytes:
    ok, png = cv2.imencode(".png", image, list(params))
    if not ok:
        raise RuntimeError(f"OpenCV could not encode the {what} as PNG")
    return png.tobytes()
