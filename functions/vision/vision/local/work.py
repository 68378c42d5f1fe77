"""The photo at working resolution (about `WORK_PPI` pixels per inch), as every detector sees it."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from vision.local.image_ops import F32, Mask, RGBImage
from vision.local.scale import Scale

WORK_PPI = 9.0  # working resolution: a 0.5 inch hit is 4.5 px
MAX_WORK_SIDE = 2400  # and never more pixels than this along a side
# Nor more pixels than this: a 12 MP photo's roof at WORK_PPI is 3 to 4 MP, and every detector's
# cost grows with the pixels. The detectors were fitted on 1280 x 960 photos (at most 1.2 MP, 1 to 9
# px per inch); on the fitting families' larger photos (1.6 to 4 MP) this cap found as many hits
# with as many false spots as none (1.2 MP drew more false spots on 3-tab close-ups).
MAX_WORK_PIXELS = 2_000_000


@dataclass(frozen=True)
class Work:
    rgb: RGBImage
    flat: F32  # illumination-normalised log luminance
    roof: Mask  # eroded: nothing is judged on the roof's own border
    ppi: float  # working pixels per inch across the courses (up and down the slope)
    factor: float  # working pixels per original pixel
    soft: F32  # `flat` lightly blurred, for sampling along rays
    direction: float  # radians: across the courses
    scale: Scale | None
    roof_wide: Mask  # the roof mask before erosion
    stretch: float = 1.0  # pixels per inch along the courses over `ppi` (across them): foreshortening

    @property
    def area_ppi(self) -> float:
        """Pixels per inch as an area scale (a disc of d inches covers pi (d area_ppi / 2)^2 pixels)."""
        return self.ppi * math.sqrt(self.stretch)


def original_size(work: Work) -> tuple[int, int]:
    """The original image's (width, height)."""
    h, w = work.flat.shape
    return round(w / work.factor), round(h / work.factor)


def cropped(work: Work, rows: slice, cols: slice) -> Work:
    """The working image's `rows` and `cols` (slices with a start): a detector run on the roof's
    bounding box spares the filtering of sky, lawn and walls."""
    return replace(
        work,
        rgb=work.rgb[rows, cols],
        flat=work.flat[rows, cols],
        roof=work.roof[rows, cols],
        soft=work.soft[rows, cols],
        roof_wide=work.roof_wide[rows, cols],
    )
