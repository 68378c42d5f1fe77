"""The local stage of damage detection: candidate hail hits, missing shingles and shingle edge
anomalies from OpenCV alone.

It proposes; a vision model later verifies and classifies the numbered candidates (and without a
model, the confident candidates are the answer). The method, in the order it runs:

1. **Shingle scale.** Courses of shingles are the one ruler every roof photo carries: the shadow
   line under each butt edge repeats every exposure (5 to 5 5/8 inches, `EXPOSURE_IN` taken as 5.3).
   On a small copy of the photo, the power spectrum of a few windows (high-passed, Hann-windowed)
   has a sharp peak at the course frequency; its period gives pixels per inch, and its strength says
   there is a shingled roof at all. No periodic window: no roof, no candidates.
2. **Roof area** (unless the caller gives a mask). Half-course blocks of the photo's central part
   (a damage photo is aimed at the roof) that are typical of that part seed a model of chromaticity
   (r, g of normalised RGB, blind to lighting) and fine texture; if the seeds are not near grey (a
   lawn, a sky) there is no roof. Blocks that fit the model and connect to a seed are roof, holes
   filled (a hole is a torn-off tab, not sky). This drops sky (blue, smooth), gutters (smooth) and
   lawns (green).
3. **Working resolution.** Everything after runs at about `WORK_PPI` pixels per inch (never above
   the photo's own), so a 12 MP photo costs little more than a 1 MP one and blob sizes in inches
   mean the same thing on every photo.
4. **Hail hits.** Granules knocked off leave dark, roundish spots of bare asphalt 0.5 to 2 inches
   across. On illumination-normalised log luminance (log L minus its heavy blur: lighting gradients
   and vignetting are multiplicative, so they vanish, and granule texture has the same contrast in
   sun and shade), the smaller eigenvalue of the scale-normalised Hessian is large only for dark
   *blobs*: shadow lines, keyways and the edges between shingle shades are lines or steps, whose
   smaller eigenvalue is near zero. Responses are measured in units of their own spread over the
   roof (the granule texture's noise), at five scales from 0.55 to 2.2 inches. Each local maximum
   is then judged on its contrast against its surrounding ring, its roundness (eigenvalue ratio)
   and its colour (bare asphalt is neutral; leaves and moss are not).
5. **Missing shingles.** A torn-off tab exposes felt, deck or the unweathered course below: a patch
   roughly one exposure tall and several inches wide whose tone, colour or texture is unlike the
   roof's. At a coarse scale each pixel gets a robust distance from the roof's typical (log
   luminance, chromaticity, texture); connected regions of large distance that are tab-sized and
   rectangular (they fill most of their rotated bounding box, not long and thin like a pipe's
   shadow) are candidates. Hail candidates inside one are its corners, and are dropped.
   The course structure proposes more: a torn-off tab takes its butt edge along, so the shadow
   line it threw is missing for a tab's width (5 to 24 inches) where the courses one local period
   up and down the slope have theirs (nothing else on a roof removes that line: moss, leaves,
   streaks and shadows tint or darken a shingle, but the line's log contrast stays). The patch one
   course above such a gap is the hole; it is scored by how unlike the roof its material is (the
   appearance distance above). This finds felt on charcoal and holes on laminated courses of
   varied shades, whose appearance alone is not extreme enough to stand out.
6. **Shingle edge anomalies** (wind creases, lifted tabs). Courses repeat, so a spot is compared
   with the same spot one course period up and down the slope (the period measured per tile at
   working resolution, as perspective can double it from top to bottom of a photo). An oriented
   bright-over-dark thin edge stronger than at both neighbours is a crease candidate; a wide dark
   band (a butt edge's shadow widened) stronger than at both neighbours is a lifted-tab candidate.
   On the development set these are not yet separable from normal variety (laminates' bottom layer,
   tab shade steps), so they are scored below `REPORT_SCORE`: proposals for the model stage only.
7. Candidates are ranked by score, overlapping ones merged, and at most `MAX_CANDIDATES` kept (the
   model stage draws their numbers on the photo).

Nothing here knows how the synthetic photos are made beyond what a roofer knows: exposure, hail
sizes, and that bare asphalt is dark and grey.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from vision.detections import Box, DamageType, Detection, clamp_box, iou, merge

EXPOSURE_IN = 5.3  # typical shingle exposure (3-tab 5", laminated 5 5/8")
WORK_PPI = 9.0  # working resolution: a 0.5 inch hit is 4.5 px
MAX_WORK_SIDE = 2400  # and never more pixels than this along a side
SCALE_SIDE = 640  # the small copy that finds the course period and the roof
FALLBACK_SPAN_IN = 100.0  # a photo whose courses cannot be measured is taken to span this much roof
MAX_CANDIDATES = 30
REPORT_SCORE = 0.4  # the local-only answer reports candidates at or above this score (set on the development set)
HAIL_DIAMETERS_IN = (0.55, 0.8, 1.15, 1.6, 2.2)
MIN_HAIL_Z = 4.0  # blob response, in units of its spread over the roof
MODEL_NAME = "local-opencv"
# Logistic weights of a hail candidate's evidence (see `hail_candidates`), fitted on the development set.
HAIL_WEIGHTS = {
    "bias": -1.14,
    "z": 0.75,
    "contrast": 4.77,
    "elongation": -0.59,
    "chroma": -152.0,
    "line": -1.40,
    "ray": -3.45,
}
MAX_COURSE_TILT_DEG = 35.0
MAX_GREY_CHROMA = 0.055  # grey, charcoal, slate and green blends are near grey (<= 0.04)
MAX_ROOF_CHROMA = 0.1  # warm browns and tans reach 0.075; a blue sky or green lawn that far out is not roof

RGBImage = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Candidate:
    box: Box  # pixels of the original image
    kind: DamageType
    score: float  # 0..1
    severity: int  # 1..5
    features: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Scale:
    """The course period found on the small copy, and how sure we are a shingled roof is there."""

    period_px: float  # in pixels of the original photo
    windows: int  # windows with a clear course peak
    direction: float  # radians: the direction across the courses (up/down the slope) in the image
    gx: float = 0.0  # change of the period per pixel across the photo (perspective), unitless
    gy: float = 0.0
    cx: float = 0.0  # where period_px holds: the photo's centre
    cy: float = 0.0

    @property
    def ppi(self) -> float:
        return self.period_px / EXPOSURE_IN

    def period_map(self, x: npt.NDArray[Any], y: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        """The course period in original pixels at original pixel positions (clipped to a sane range)."""
        period = self.period_px + self.gx * (x - self.cx) + self.gy * (y - self.cy)
        return np.asarray(np.clip(period, 0.4 * self.period_px, 2.5 * self.period_px), np.float64)


# ---------------------------------------------------------------------------------------------------
# Preparation


def _check(pixels: RGBImage) -> None:
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError("pixels must be an RGB uint8 array of shape (height, width, 3)")


def _resize(img: npt.NDArray[Any], factor: float) -> npt.NDArray[Any]:
    if abs(factor - 1.0) < 1e-3:
        return img
    h, w = img.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(cv2.resize(img, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR))


def _log_luminance(rgb: RGBImage) -> F32:
    lum = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.asarray(np.log(lum + 8.0), np.float32)


def _normalised(log_lum: F32, sigma: float) -> F32:
    """Log luminance minus its heavy blur: lighting gradients and vignetting are gone."""
    return np.asarray(log_lum - _blur(log_lum, sigma), np.float32)


def _blur(img: F32, sigma: float) -> F32:
    """A Gaussian blur; a wide one runs on a copy reduced so the kernel stays ~8 pixels (a blur of
    sigma 100 px at full size took most of a second on a 1 MP photo)."""
    if sigma <= 8.0:
        return np.asarray(cv2.GaussianBlur(img, (0, 0), sigma), np.float32)
    shrink = 4.0 / sigma
    small = np.asarray(_resize(img, shrink), np.float32)
    blurred = cv2.GaussianBlur(small, (0, 0), 4.0)
    h, w = img.shape[:2]
    return np.asarray(cv2.resize(blurred, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)


def _chroma(rgb: RGBImage) -> tuple[F32, F32]:
    f = rgb.astype(np.float32) + 1.0
    total = f.sum(axis=2)
    return f[..., 0] / total, f[..., 1] / total


# ---------------------------------------------------------------------------------------------------
# 1. Shingle scale


def _window_peak(patch: F32) -> tuple[float, float, float]:
    """(period px, direction, strength) of the strongest comb of a window's dark-line image: the
    fundamental whose first three harmonics carry the most power, among directions within
    `MAX_COURSE_TILT_DEG` of vertical (courses run across a photo, give or take a held tilt)."""
    n = patch.shape[0]
    hann = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
    power = np.abs(np.fft.fftshift(np.fft.fft2((patch - patch.mean()) * hann))) ** 2
    f = np.fft.fftshift(np.fft.fftfreq(n))
    fy, fx = np.meshgrid(f, f, indexing="ij")
    radius = np.hypot(fx, fy)
    c = n // 2
    band = (radius >= 3.0 / n) & (radius <= 0.2)
    tilt = np.degrees(np.arctan2(np.abs(fx), np.maximum(fy, 1e-9)))
    ys, xs = np.nonzero(band & (fy > 0) & (radius <= 0.1) & (tilt <= MAX_COURSE_TILT_DEG))
    dy, dx = ys - c, xs - c
    total = np.zeros(len(ys))
    for k in (1, 2, 3):
        yy, xx = c + k * dy, c + k * dx
        ok = (yy >= 0) & (yy < n) & (xx >= 0) & (xx < n)
        total[ok] += power[yy[ok], xx[ok]]
    i = int(np.argmax(total))
    fy0, fx0 = float(dy[i]), float(dx[i])
    strongest = power[c + dy[i], c + dx[i]]
    for k in (3, 2):  # a thin line's comb is flat: the best sum may sit on a harmonic
        y, x = round(c + fy0 / k), round(c + fx0 / k)
        if math.hypot(fy0 / k, fx0 / k) >= 2.0 and power[y - 1 : y + 2, x - 1 : x + 2].max() >= 0.25 * strongest:
            fy0, fx0 = fy0 / k, fx0 / k
            break
    return n / math.hypot(fy0, fx0), math.atan2(fy0, fx0), float(total[i] / np.median(power[band]))


def _profile_period(patch: F32, direction: float, shortest: float, longest: float) -> tuple[float, float] | None:
    """(period px, autocorrelation there) of a window's dark-line image projected across the courses
    (averaged along them): the first lag whose autocorrelation is near the best. Finer than the
    spectrum's integer bins, and not fooled by a comb that fits the laminated tabs' second line."""
    n = patch.shape[0]
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    hann = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
    t = (xx - n / 2) * math.cos(direction) + (yy - n / 2) * math.sin(direction)
    bins = np.round(t + n).astype(np.int64).ravel()
    num = np.bincount(bins, (patch * hann).ravel(), 2 * n + 2)
    den = np.bincount(bins, hann.ravel(), 2 * n + 2)
    idx = np.nonzero(den > 0.3 * den.max())[0]
    prof = (num / np.maximum(den, 1e-6))[idx[0] : idx[-1] + 1]
    prof = prof - prof.mean()
    size = len(prof)
    if size < 16 or not np.any(prof):
        return None
    ac = np.correlate(prof, prof, "full")[size - 1 :] / np.arange(size, 0, -1)
    ac = ac / ac[0]
    top = min(size // 2, int(longest))
    peaks = [
        k for k in range(max(3, int(shortest)), top - 1) if ac[k] > ac[k - 1] and ac[k] >= ac[k + 1] and ac[k] > 0.15
    ]
    if not peaks:
        return None
    best = max(float(ac[k]) for k in peaks)
    k = next(k for k in peaks if ac[k] >= 0.7 * best)
    curve = float(ac[k - 1] - 2 * ac[k] + ac[k + 1])
    shift = 0.5 * float(ac[k - 1] - ac[k + 1]) / curve if curve < 0 else 0.0
    return k + shift, float(ac[k])


def course_scale(pixels: RGBImage, min_strength: float = 300.0) -> Scale | None:
    """The course period and how it changes across the photo (perspective), from a 4 x 4 grid of
    windows of a small copy; None if no window shows a clear comb. Each window's period comes from
    its projected profile; windows in sky or lawn give stray periods, so the largest group of
    windows that agree (within 20%) is kept and a plane period(x, y) fitted to them."""
    factor = min(1.0, SCALE_SIDE / max(pixels.shape[:2]))
    small = _resize(pixels, factor)
    _, lines = _hessian_min(_log_luminance(np.asarray(small, np.uint8)), 1.2)
    flat = np.maximum(lines, 0.0)  # dark lines: shadow lines under the butt edges, keyways
    h, w = flat.shape
    n = min(256, h // 2 * 2, w // 2 * 2)
    if n < 32:
        return None
    found: list[tuple[float, float, float, float, float]] = []  # (x, y, period, direction, weight)
    for fy in (0.25, 0.5, 0.75):
        for fx in (0.25, 0.5, 0.75):
            y0 = int(np.clip(fy * h - n / 2, 0, h - n))
            x0 = int(np.clip(fx * w - n / 2, 0, w - n))
            patch = flat[y0 : y0 + n, x0 : x0 + n]
            period, direction, strength = _window_peak(patch)
            if strength < min_strength:
                continue
            refined = _profile_period(patch, direction, 0.45 * period, 1.6 * period)
            if refined is not None:
                found.append((x0 + n / 2, y0 + n / 2, refined[0], direction, refined[1]))
    if not found:
        return None  # (a comb without a clear profile still counts below as a window)
    logs = np.log([f[2] for f in found])
    weights = np.array([f[4] for f in found])
    support = [
        (int((np.abs(logs - lp) < 0.2).sum()), float(weights[np.abs(logs - lp) < 0.2].sum()), i)
        for i, lp in enumerate(logs)
    ]
    centre = logs[max(support)[2]]
    members = [f for f, lp in zip(found, logs, strict=True) if abs(lp - centre) < 0.2]
    xs = np.array([f[0] for f in members]) - w / 2
    ys = np.array([f[1] for f in members]) - h / 2
    periods = np.array([f[2] for f in members])
    gx = gy = 0.0
    base = float(np.median(periods))
    if len(members) >= 6 and np.ptp(xs) > 0 and np.ptp(ys) > 0:
        design = np.column_stack([np.ones(len(members)), xs, ys])
        coef, *_ = np.linalg.lstsq(design, periods, rcond=None)
        base, gx, gy = (float(c) for c in coef)
        if base <= 0:
            base, gx, gy = float(np.median(periods)), 0.0, 0.0
    direction = float(np.median([f[3] % math.pi for f in members]))
    return Scale(base / factor, len(found), direction, gx, gy, pixels.shape[1] / 2, pixels.shape[0] / 2)


# ---------------------------------------------------------------------------------------------------
# 2. Roof area


def estimate_roof(pixels: RGBImage, scale: Scale) -> Mask:
    """Blocks that look like the periodic (certainly roof) windows, connected to them, holes filled."""
    factor = min(1.0, SCALE_SIDE / max(pixels.shape[:2]))
    small = np.asarray(_resize(pixels, factor), np.uint8)
    block = max(4, round(scale.period_px * factor / 2))  # half a course
    h, w = small.shape[:2]
    bh, bw = max(1, h // block), max(1, w // block)
    crop = small[: bh * block, : bw * block]
    r, g = _chroma(crop)
    fine = np.abs(_normalised(_log_luminance(crop), 1.5))
    feats = [
        np.asarray(cv2.resize(x, (bw, bh), interpolation=cv2.INTER_AREA), np.float32)
        for x in (r, g, np.log(fine + 1e-3).astype(np.float32))
    ]
    centre = np.zeros((bh, bw), bool)
    centre[bh // 4 : bh - bh // 4, bw // 4 : bw - bw // 4] = True
    # Seeds: the central blocks whose colour and texture are typical of the centre (photos of roof
    # damage are aimed at the roof; the periodicity check already said a roof is in the picture).
    dist_centre = _robust_distance(feats, centre, floors=(0.012, 0.012, 0.25))
    seeds = centre & (dist_centre < 2.0)
    neutral = float(np.median(np.hypot(feats[0][seeds] - 1 / 3, feats[1][seeds] - 1 / 3))) if seeds.any() else 1.0
    if not _roof_colour(neutral, float(np.median(feats[0][seeds])), float(np.median(feats[1][seeds]))):
        return np.zeros(pixels.shape[:2], bool)
    dist = _robust_distance(feats, seeds, floors=(0.012, 0.012, 0.25))
    like = (dist < 4.0).astype(np.uint8)
    _, labels = cv2.connectedComponents(like, connectivity=4)
    keep = np.unique(labels[seeds & (like > 0)])
    mask = np.isin(labels, keep[keep > 0])
    mask = _fill_holes(mask)
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    full = cv2.resize(mask.astype(np.uint8), (bw * block, bh * block), interpolation=cv2.INTER_NEAREST)
    padded = np.zeros((h, w), np.uint8)
    padded[: full.shape[0], : full.shape[1]] = full
    if full.shape[0] < h:
        padded[full.shape[0] :] = padded[full.shape[0] - 1]
    if full.shape[1] < w:
        padded[:, full.shape[1] :] = padded[:, full.shape[1] - 1 : full.shape[1]]
    out = cv2.resize(padded, (pixels.shape[1], pixels.shape[0]), interpolation=cv2.INTER_NEAREST)
    return np.asarray(out, np.uint8) > 0


def _roof_colour(chroma: float, r: float, g: float) -> bool:
    """Whether seed blocks of typical chroma `chroma` (median distance from grey) and median
    chromaticity (r, g) can be a shingle blend: near grey, or a warm brown or tan (red over green
    over blue) a little further out. Sky is blue, lawns and shrubs green, both further out."""
    b = 1.0 - r - g
    return chroma <= MAX_GREY_CHROMA or (chroma <= MAX_ROOF_CHROMA and r >= g >= b)


def _robust_distance(feats: list[F32], where: Mask, floors: tuple[float, ...]) -> F32:
    """Per-pixel RMS of robust z-scores against the features' median and MAD over `where`."""
    total = np.zeros(feats[0].shape, np.float32)
    for x, floor in zip(feats, floors, strict=True):
        values = x[where]
        med = float(np.median(values))
        mad = max(1.4826 * float(np.median(np.abs(values - med))), floor)
        total += ((x - med) / mad) ** 2
    return np.sqrt(total / len(feats))


def _fill_holes(mask: Mask) -> Mask:
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    holes = flood[1:-1, 1:-1] == 0
    return np.asarray(mask | holes, bool)


# ---------------------------------------------------------------------------------------------------
# 4. Hail hits


@dataclass(frozen=True)
class _Work:
    rgb: RGBImage
    flat: F32  # illumination-normalised log luminance
    roof: Mask  # eroded: nothing is judged on the roof's own border
    ppi: float
    factor: float  # working pixels per original pixel
    soft: F32  # `flat` lightly blurred, for sampling along rays
    direction: float  # radians: across the courses
    scale: Scale | None
    roof_wide: Mask  # the roof mask before erosion


def _hessian_min(img: F32, sigma: float) -> tuple[F32, F32]:
    """The scale-normalised smaller and larger Hessian eigenvalues of the blurred image."""
    s = cv2.GaussianBlur(img, (0, 0), sigma)
    dxx = cv2.Sobel(s, cv2.CV_32F, 2, 0, ksize=3)
    dyy = cv2.Sobel(s, cv2.CV_32F, 0, 2, ksize=3)
    dxy = cv2.Sobel(s, cv2.CV_32F, 1, 1, ksize=3)
    mean = (dxx + dyy) / 2
    spread = np.sqrt(((dxx - dyy) / 2) ** 2 + dxy**2)
    norm = np.float32(sigma**2)
    return np.asarray((mean - spread) * norm, np.float32), np.asarray((mean + spread) * norm, np.float32)


def _ring_stats(work: _Work, x: int, y: int, radius: float) -> tuple[float, float, float, float] | None:
    """(contrast in log units, core chroma offset, darkest ring sector) of a disc against its ring.
    The last is how much darker than the ring's median its darkest eighth is, relative to the
    contrast: near 0 round an isolated spot, near 1 where a dark line (keyway, shadow) leaves it."""
    h, w = work.flat.shape
    reach = math.ceil(radius * 2.5) + 1
    x0, x1, y0, y1 = max(0, x - reach), min(w, x + reach + 1), max(0, y - reach), min(h, y + reach + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    d = np.hypot(xx - x, yy - y)
    core = d <= max(1.0, radius * 0.8)
    ring = (d >= radius * 1.5) & (d <= radius * 2.5)
    if core.sum() < 2 or ring.sum() < 6:
        return None
    patch = work.flat[y0:y1, x0:x1]
    contrast = float(np.median(patch[ring]) - patch[core].mean())
    r, g = _chroma(work.rgb[y0:y1, x0:x1])
    chroma = math.hypot(float(r[core].mean() - 1 / 3), float(g[core].mean() - 1 / 3))
    chroma_ring = math.hypot(float(np.median(r[ring]) - 1 / 3), float(np.median(g[ring]) - 1 / 3))
    near = (d >= radius * 1.2) & (d <= radius * 2.2)
    sector = ((np.arctan2(yy - y, xx - x) + math.pi) / (2 * math.pi) * 8).astype(int) % 8
    means = [float(patch[near & (sector == k)].mean()) for k in range(8) if (near & (sector == k)).sum() >= 2]
    ring_median = float(np.median(patch[ring]))
    line = (ring_median - min(means)) / max(contrast, 1e-3) if means else 0.0
    return contrast, chroma - chroma_ring, line, ring_median


def _rays(work: _Work, x: int, y: int, radius: float, ring: float, contrast: float) -> tuple[float, float]:
    """How dark the two darkest of eight rays leaving a blob are, as shares of its contrast. The
    rays start past the blob's rim and run an inch and a half, along and across the courses and
    diagonally. A hail hit is an isolated blemish: every ray sees plain shingle. A keyway's or a
    laminated tab's side shadow ending on (or starting from) a course's shadow line is a dark blob
    with a dark line leaving it: one ray (a line's end) or two or three (a T-junction) are dark."""
    h, w = work.soft.shape
    start = radius * 1.4 + 1.0
    steps = np.linspace(start, start + max(1.5 * work.ppi, 2.0 * radius), 8)
    darkness = []
    for k in range(8):
        angle = work.direction + k * math.pi / 4
        xs = np.clip(np.round(x + steps * math.cos(angle)).astype(int), 0, w - 1)
        ys = np.clip(np.round(y + steps * math.sin(angle)).astype(int), 0, h - 1)
        darkness.append((ring - float(work.soft[ys, xs].mean())) / max(contrast, 0.05))
    darkness.sort(reverse=True)
    return darkness[0], darkness[1]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def hail_candidates(work: _Work) -> list[Candidate]:
    responses, ratios, sizes = [], [], []
    roof_values = work.roof
    for diameter in HAIL_DIAMETERS_IN:
        sigma = max(0.7, diameter * work.ppi / (2 * math.sqrt(2)))
        low, high = _hessian_min(work.flat, sigma)
        values = low[roof_values]
        spread = 1.4826 * float(np.median(np.abs(values - np.median(values)))) + 1e-6
        responses.append(low / spread)
        ratios.append(high / np.maximum(low, 1e-6))
        sizes.append(diameter)
    stack = np.stack(responses)
    best = stack.argmax(axis=0)
    z = np.take_along_axis(stack, best[None], axis=0)[0]
    ratio = np.take_along_axis(np.stack(ratios), best[None], axis=0)[0]
    z = np.where(work.roof, z, 0.0).astype(np.float32)
    radius_px = max(2, round(HAIL_DIAMETERS_IN[0] * work.ppi / 2))
    peaks = (z >= MIN_HAIL_Z) & (z == cv2.dilate(z, np.ones((2 * radius_px + 1,) * 2, np.uint8)))
    ys, xs = np.nonzero(peaks)
    order = np.argsort(-z[ys, xs])[: 4 * MAX_CANDIDATES]
    out = []
    for y, x in zip(ys[order], xs[order], strict=True):
        diameter = sizes[int(best[y, x])]
        radius = diameter * work.ppi / 2
        stats = _ring_stats(work, int(x), int(y), radius)
        if stats is None:
            continue
        contrast, chroma, line, ring = stats
        ray1, ray2 = _rays(work, int(x), int(y), radius, ring, contrast)
        elong = float(ratio[y, x])
        # A bruise is markedly darker than its ring, round, no more colourful than the shingle, and
        # isolated: no dark line leaves it. A logistic model over these features, its weights
        # fitted on the development set (`vision.scoring.development_set`), never the test set.
        evidence = (
            HAIL_WEIGHTS["bias"]
            + HAIL_WEIGHTS["z"] * math.log(float(z[y, x]) / MIN_HAIL_Z + 1e-6)
            + HAIL_WEIGHTS["contrast"] * contrast
            + HAIL_WEIGHTS["elongation"] * max(0.0, elong - 1.5)
            + HAIL_WEIGHTS["chroma"] * max(0.0, chroma)
            + HAIL_WEIGHTS["line"] * line
            + HAIL_WEIGHTS["ray"] * ray1
        )
        score = _sigmoid(evidence)
        half = radius * 1.3
        box = clamp_box(
            ((x - half) / work.factor, (y - half) / work.factor, (x + half) / work.factor, (y + half) / work.factor),
            *_size(work),
        )
        if box is None:
            continue
        severity = 2 if diameter < 0.75 else 3 if diameter < 1.3 else 4
        features = {
            "z": float(z[y, x]),
            "contrast": contrast,
            "elongation": elong,
            "chroma": chroma,
            "line": line,
            "ray1": ray1,
            "ray2": ray2,
            "diameter_in": diameter,
        }
        out.append(Candidate(box, "hail_hit", round(score, 4), severity, features))
    return out


def _size(work: _Work) -> tuple[int, int]:
    """The original image's (width, height)."""
    h, w = work.flat.shape
    return round(w / work.factor), round(h / work.factor)


# ---------------------------------------------------------------------------------------------------
# 5. Missing shingles


def _appearance_distance(work: _Work) -> tuple[F32, Mask, float]:
    """At a coarse scale (about 3 px per inch): each pixel's robust distance from the roof's typical
    (log luminance, chromaticity, texture), the roof mask there, and the coarse pixels per working
    pixel."""
    coarse_ppi = 3.0
    factor = min(1.0, coarse_ppi / work.ppi)
    rgb = np.asarray(_resize(work.rgb, factor), np.uint8)
    flat = np.asarray(_resize(work.flat, factor), np.float32)
    roof = np.asarray(_resize(work.roof.astype(np.uint8), factor), np.uint8) > 0
    ppi = work.ppi * factor
    texture = np.abs(_normalised(_log_luminance(work.rgb), 1.0))
    texture = np.asarray(_resize(cv2.GaussianBlur(texture, (0, 0), 0.5 * work.ppi), factor), np.float32)
    r, g = _chroma(rgb)
    smooth = 0.5 * ppi
    feats = [
        np.asarray(cv2.GaussianBlur(x, (0, 0), smooth), np.float32)
        for x in (flat, r, g, np.log(texture + 1e-3).astype(np.float32))
    ]
    if roof.sum() < 50:
        return np.zeros(roof.shape, np.float32), roof, factor
    return _robust_distance(feats, roof, floors=(0.08, 0.01, 0.01, 0.15)), roof, factor


def missing_candidates(work: _Work, appearance: tuple[F32, Mask, float]) -> list[Candidate]:
    """Tab-sized, rectangular regions whose tone, colour or texture is unlike the rest of the roof."""
    dist, roof, factor = appearance
    ppi = work.ppi * factor
    if roof.sum() < 50:
        return []
    odd = ((dist > 3.0) & roof).astype(np.uint8)
    odd = np.asarray(cv2.morphologyEx(odd, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)), np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(odd, connectivity=8)
    tab_px = 12.0 * EXPOSURE_IN * ppi**2
    out = []
    for i in range(1, count):
        area = float(stats[i, cv2.CC_STAT_AREA])
        if not 0.3 * tab_px <= area <= 8.0 * tab_px:
            continue
        points = np.column_stack(np.nonzero(labels == i)[::-1]).astype(np.float32)
        (_, _), (rw, rh), _ = cv2.minAreaRect(points)
        long_side, short_side = max(rw, rh) + 1, min(rw, rh) + 1
        fill = area / (long_side * short_side)
        aspect = long_side / short_side
        short_in = short_side / ppi
        if fill < 0.6 or aspect > 6.0 or not 0.5 * EXPOSURE_IN <= short_in <= 2.5 * EXPOSURE_IN:
            continue
        strength = float(dist[labels == i].mean())
        evidence = 1.5 * (fill - 0.6) / 0.2 + 0.8 * (strength - 3.0) - 0.6 * max(0.0, aspect - 4.0)
        x, y, w, h = (int(v) for v in stats[i, :4])
        scale = factor * work.factor
        box = clamp_box((x / scale, y / scale, (x + w) / scale, (y + h) / scale), *_size(work))
        if box is None:
            continue
        features = {"fill": fill, "aspect": aspect, "distance": strength, "short_in": short_in}
        out.append(Candidate(box, "missing_shingle", round(_sigmoid(evidence), 4), 4, features))
    return out


def course_gap_candidates(work: _Work, lines: tuple[F32, Any], appearance: tuple[F32, Mask, float]) -> list[Candidate]:
    """Missing tabs found by the course structure: a torn-off tab takes its butt edge with it, so
    the shadow line it threw is missing for about a tab's width, where the courses one period up
    and down have theirs; and the patch above the missing line (the hole, one exposure tall) shows
    another material: its appearance distance (`_appearance_distance`) is large. Nothing else on a
    roof removes a butt-edge shadow line (moss, leaves, lichen, streaks and pipe shadows darken or
    tint a shingle, but the shadow's log contrast stays)."""
    if work.scale is None or work.roof.sum() < 100:
        return []
    ppi = work.ppi
    _, period_of = lines
    edge = _oriented(work.flat, work.direction, GAP_KERNEL_IN * ppi, "edge", max(0.8, 0.12 * ppi))
    reach = max(1, round(0.2 * ppi))
    slack = max(reach, round(NEIGHBOUR_SLACK * work.scale.period_px * work.factor))
    line = np.zeros((2 * slack + 1,) * 2, np.uint8)
    end = (round(slack * math.cos(work.direction)), round(slack * math.sin(work.direction)))
    cv2.line(line, (slack - end[0], slack - end[1]), (slack + end[0], slack + end[1]), 1, 1 + 2 * reach)
    own = np.asarray(cv2.dilate(edge, line), np.float32)
    deficit = _course_neighbours(work, edge, reach, period_of, both=True) - own
    ok = work.roof & np.isfinite(deficit)
    values = deficit[ok]
    if values.size < 100:
        return []
    med = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - med))) + 1e-6
    z = np.where(ok, (deficit - med) / spread, 0.0).astype(np.float32)
    dist, _, coarse = appearance
    cos, sin = math.cos(work.direction), math.sin(work.direction)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((z > GAP_Z).astype(np.uint8), connectivity=8)
    out = []
    for i in range(1, count):
        if stats[i, cv2.CC_STAT_AREA] < 4:
            continue
        ys, xs = np.nonzero(labels == i)
        s = -xs * sin + ys * cos
        length_in = (float(np.ptp(s)) + 1) / ppi
        if not GAP_LENGTH_IN[0] <= length_in <= GAP_LENGTH_IN[1]:
            continue
        period = float(np.median(period_of(xs.astype(np.float32)[None], ys.astype(np.float32)[None])))
        # The hole: the course above the missing line (up the slope, against `direction`).
        hx = np.concatenate([xs - f * period * cos for f in (0.2, 0.4, 0.6, 0.8)])
        hy = np.concatenate([ys - f * period * sin for f in (0.2, 0.4, 0.6, 0.8)])
        cy = np.clip(np.round(hy * coarse).astype(int), 0, dist.shape[0] - 1)
        cx = np.clip(np.round(hx * coarse).astype(int), 0, dist.shape[1] - 1)
        material = float(np.median(dist[cy, cx]))
        strength = float(z[ys, xs].mean())
        evidence = GAP_WEIGHTS[0] + GAP_WEIGHTS[1] * material + GAP_WEIGHTS[2] * math.log(strength / GAP_Z)
        x0, x1 = min(xs.min(), hx.min()), max(xs.max(), hx.max())
        y0, y1 = min(ys.min(), hy.min()), max(ys.max(), hy.max())
        box = clamp_box((x0 / work.factor, y0 / work.factor, x1 / work.factor, y1 / work.factor), *_size(work))
        if box is None:
            continue
        features = {"gap_z": strength, "length_in": length_in, "material": material}
        out.append(Candidate(box, "missing_shingle", round(_sigmoid(evidence), 4), 4, features))
    return sorted(out, key=lambda c: (-c.score, c.box))[:MAX_GAP_CANDIDATES]


# A missing butt-edge line: robust z of (the weaker of the two neighbour courses' edge) minus this
# spot's, over edges averaged along GAP_KERNEL_IN inches of course; a tab-sized run of it (a 3-tab
# tab is 12 in, a laminated piece 4 to 14, often torn wider) is a candidate.
GAP_KERNEL_IN = 6.0
GAP_Z = 4.0
GAP_LENGTH_IN = (5.0, 24.0)
MAX_GAP_CANDIDATES = 4
# (bias, appearance distance of the hole, log strength); set on the development set: there the
# holes' median appearance distance is >= 1.45 and all but a few gaps elsewhere are below 1.3.
GAP_WEIGHTS = (-5.6, 4.0, 0.0)


# ---------------------------------------------------------------------------------------------------
# 6. Shingle edge anomalies


def _oriented_kernel(across: float, length: float, profile: str, sigma: float) -> F32:
    """A kernel that averages `length` pixels along the courses (perpendicular to `across`, radians)
    and applies a profile across them: "edge" (bright up-slope of dark: positive) or "line" (a dark
    line: positive), Gaussian-derivative shaped with `sigma` pixels."""
    half = math.ceil(max(length / 2, 3 * sigma)) + 1
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    t = xx * math.cos(across) + yy * math.sin(across)
    s = -xx * math.sin(across) + yy * math.cos(across)
    along = np.clip(length / 2 + 0.5 - np.abs(s), 0.0, 1.0)
    g = np.exp(-0.5 * (t / sigma) ** 2) * (np.abs(t) <= 3 * sigma)
    if profile == "edge":
        prof = -t * g
    else:
        prof = -(1 - (t / sigma) ** 2) * g
        prof -= (prof * along).sum() / max(float((g * along).sum()), 1e-6) * g
    kernel = prof * along
    if profile == "edge":
        kernel /= max(float((np.abs(kernel)).sum()) / 2, 1e-6)
    else:
        kernel /= max(float(kernel[kernel > 0].sum()), 1e-6)
    return np.asarray(kernel, np.float32)


def _oriented(img: F32, across: float, length: float, profile: str, sigma: float) -> F32:
    """The largest response over a few orientations round the course direction (perspective and
    the camera's roll turn the courses a few degrees across the photo)."""
    out: F32 | None = None
    for tilt in (-4.0, 0.0, 4.0):
        kernel = _oriented_kernel(across + math.radians(tilt), length, profile, sigma)
        response = np.asarray(cv2.filter2D(img, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT), np.float32)
        out = response if out is None else np.maximum(out, response)
    assert out is not None
    return out


def _local_period(work: _Work, edges: F32) -> Any:
    """The course period in working pixels as a function of working (x, y): a plane fitted to the
    periods of tiles about three courses square (the scale step's fit is coarse, and on a steeply
    tilted photo the period changes by half from top to bottom)."""
    assert work.scale is not None
    base = work.scale.period_px * work.factor
    dark = np.maximum(edges, 0.0)  # the tops of the butt edges' shadows (not the laminates' second line)
    n = int(min(max(64, round(4.4 * base) // 2 * 2), *dark.shape) // 2 * 2)  # two longest periods and more
    h, w = dark.shape
    step = max(8, n // 3)
    ys = list(range(0, max(1, h - n + 1), step))
    xs = list(range(0, max(1, w - n + 1), step))
    grid = np.full((len(ys), len(xs)), np.nan, np.float32)
    for i, y0 in enumerate(ys):
        for j, x0 in enumerate(xs):
            if work.roof_wide[y0 : y0 + n, x0 : x0 + n].mean() < 0.6:
                continue
            refined = _profile_period(dark[y0 : y0 + n, x0 : x0 + n], work.direction, 0.6 * base, 2.2 * base)
            if refined is not None and refined[1] > 0.25:
                grid[i, j] = refined[0]
    known = np.isfinite(grid)
    if known.sum() < 3:
        table = np.full((2, 2), base, np.float32)
    else:
        # Smooth in log period, fill the unknown tiles from the nearest known ones.
        logs = np.where(known, np.log(np.where(known, grid, 1.0)), 0.0).astype(np.float32)
        weight = known.astype(np.float32)
        num = cv2.GaussianBlur(logs * weight, (0, 0), 1.0, borderType=cv2.BORDER_REPLICATE)
        den = cv2.GaussianBlur(weight, (0, 0), 1.0, borderType=cv2.BORDER_REPLICATE)
        for _ in range(6):
            if (den > 1e-3).all():
                break
            num = cv2.GaussianBlur(num, (0, 0), 2.0, borderType=cv2.BORDER_REPLICATE)
            den = cv2.GaussianBlur(den, (0, 0), 2.0, borderType=cv2.BORDER_REPLICATE)
        fallback = float(np.log(base))
        table = np.exp(np.where(den > 1e-3, num / np.maximum(den, 1e-6), fallback)).astype(np.float32)
    gx0, gy0 = n / 2, n / 2
    sx, sy = step, step

    def period(x: F32, y: F32) -> F32:
        fx = np.clip((x - gx0) / sx, 0, table.shape[1] - 1).astype(np.float32)
        fy = np.clip((y - gy0) / sy, 0, table.shape[0] - 1).astype(np.float32)
        value = cv2.remap(table, fx, fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return np.asarray(np.clip(value, 0.4 * base, 2.5 * base), np.float32)

    return period


def _course_neighbours(work: _Work, img: F32, reach: int, period_of: Any, *, both: bool = False) -> F32:
    """For each pixel, the larger of `img` one course period up and one down the slope (max-filtered
    over `reach` pixels first, as the period and direction are not exact); where both neighbours
    are off the roof, +inf. Shingle courses repeat: what is normal at a butt edge is there too.
    With `both`, the smaller of the two instead (what both neighbours have), -inf where either is
    off the roof."""
    assert work.scale is not None
    h, w = img.shape
    slack = max(reach, round(NEIGHBOUR_SLACK * work.scale.period_px * work.factor))
    line = np.zeros((2 * slack + 1,) * 2, np.uint8)
    end = (round(slack * math.cos(work.direction)), round(slack * math.sin(work.direction)))
    cv2.line(line, (slack - end[0], slack - end[1]), (slack + end[0], slack + end[1]), 1, 1 + 2 * reach)
    grown = np.asarray(cv2.dilate(img, line), np.float32)
    grown = np.where(work.roof_wide, grown, -np.inf).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = period_of(xx, yy)
    dx, dy = period * math.cos(work.direction), period * math.sin(work.direction)
    best = np.full((h, w), np.inf if both else -np.inf, np.float32)
    for sign in (-1.0, 1.0):
        mx, my = xx + sign * dx, yy + sign * dy
        sampled = cv2.remap(grown, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=-np.inf)
        best = (np.minimum if both else np.maximum)(best, np.asarray(sampled, np.float32))
    if both:
        return best
    return np.where(np.isfinite(best), best, np.inf).astype(np.float32)


def _course_lines(work: _Work) -> tuple[F32, Any]:
    """The thin bright-over-dark edge image along the courses (butt edges over their shadows) and
    the local course period in working pixels (see `_local_period`)."""
    crease_edge = _oriented(work.flat, work.direction, 3.0 * work.ppi, "edge", max(0.8, 0.12 * work.ppi))
    return crease_edge, _local_period(work, crease_edge)


def edge_candidates(work: _Work, lines: tuple[F32, Any]) -> list[Candidate]:
    """Wind creases and lifted tabs: anomalies of the course lines, found by comparing each spot
    with the same spot one course up and one course down the slope."""
    if work.scale is None or work.roof.sum() < 100:
        return []
    ppi = work.ppi
    crease_edge, period_of = lines
    band = _oriented(work.flat, work.direction, 3.0 * ppi, "line", 0.45 * ppi)
    reach = max(1, round(0.2 * ppi))
    out: list[Candidate] = []
    for kind, img, min_len in (("wind_crease", crease_edge, 3.0), ("lifted_tab", band, 3.0)):
        excess = img - _course_neighbours(work, img, reach, period_of)
        values = excess[work.roof & np.isfinite(excess)]
        if values.size < 100:
            continue
        med = float(np.median(values))
        spread = 1.4826 * float(np.median(np.abs(values - med))) + 1e-6
        z = np.where(work.roof & np.isfinite(excess), (excess - med) / spread, 0.0).astype(np.float32)
        strong = (z > EDGE_Z[kind]).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(strong, connectivity=8)
        for i in range(1, count):
            area = int(stats[i, cv2.CC_STAT_AREA])
            if area < 4:
                continue
            ys, xs = np.nonzero(labels == i)
            t = xs * math.cos(work.direction) + ys * math.sin(work.direction)
            s = -xs * math.sin(work.direction) + ys * math.cos(work.direction)
            length_in = (float(np.ptp(s)) + 1) / ppi
            width_in = (float(np.ptp(t)) + 1) / ppi
            if length_in < min_len or length_in > 20.0 or width_in > 0.45 * length_in:
                continue
            peak = float(z[ys, xs].max())
            mean = float(z[ys, xs].mean())
            evidence = (
                EDGE_WEIGHTS[kind][0]
                + EDGE_WEIGHTS[kind][1] * math.log(mean / EDGE_Z[kind])
                + EDGE_WEIGHTS[kind][2] * min(length_in, 12.0)
            )
            pad_s, pad_t = 0.3 * ppi, (0.35 if kind == "wind_crease" else 0.6) * ppi
            x0, x1 = xs.min() - pad_s, xs.max() + pad_s
            y0, y1 = ys.min() - pad_t, ys.max() + pad_t
            box = clamp_box((x0 / work.factor, y0 / work.factor, x1 / work.factor, y1 / work.factor), *_size(work))
            if box is None:
                continue
            features = {"peak": peak, "mean": mean, "length_in": length_in, "width_in": width_in}
            score = EDGE_SCORE_CAP * _sigmoid(evidence)
            out.append(Candidate(box, kind, round(score, 4), 2, features))  # type: ignore[arg-type]
    return sorted(out, key=lambda c: (-c.score, c.box))[:MAX_EDGE_CANDIDATES]


# On the development set the edge candidates are not yet separable from normal course-line variety
# (laminates' bottom-layer edges, tab-to-tab shade steps, moss), so they are proposals for the model
# stage only: scored below REPORT_SCORE, and few per photo so they never crowd out hail candidates.
EDGE_SCORE_CAP = 0.35
MAX_EDGE_CANDIDATES = 6
NEIGHBOUR_SLACK = 0.12  # the period and direction are good to about this share of a period
# Hand-set, not fitted: the threshold (robust z of the excess over both neighbour courses) and the
# ranking weights (bias, log strength, length in inches) of the edge proposals.
EDGE_Z = {"wind_crease": 4.0, "lifted_tab": 4.0}
EDGE_WEIGHTS = {"wind_crease": (-2.0, 2.0, 0.3), "lifted_tab": (-2.0, 2.0, 0.3)}


# ---------------------------------------------------------------------------------------------------
# The stage


def find_candidates(pixels: RGBImage, *, roof: Mask | None = None, limit: int = MAX_CANDIDATES) -> list[Candidate]:
    """Candidate damage inside the roof area of an RGB photo, best first, at most `limit`."""
    _check(pixels)
    scale = course_scale(pixels)
    if roof is None:
        if scale is None:
            return []  # no shingle courses anywhere: not a roof photo (or not one we can read)
        roof = estimate_roof(pixels, scale)
    elif roof.shape != pixels.shape[:2]:
        raise ValueError("roof mask must have the photo's height and width")
    if not roof.any():
        return []
    ppi = scale.ppi if scale else max(pixels.shape[:2]) / FALLBACK_SPAN_IN
    factor = min(1.0, WORK_PPI / ppi, MAX_WORK_SIDE / max(pixels.shape[:2]))
    rgb = np.asarray(_resize(pixels, factor), np.uint8)
    work_roof = np.asarray(_resize(roof.astype(np.uint8), factor), np.uint8)
    margin = max(1, round(0.75 * ppi * factor))  # keep blob rings off the roof's border
    eroded = np.asarray(cv2.erode(work_roof, np.ones((2 * margin + 1,) * 2, np.uint8)), np.uint8) > 0
    work_ppi = ppi * factor
    flat = _normalised(_log_luminance(rgb), 3.0 * EXPOSURE_IN * work_ppi)
    soft = np.asarray(cv2.GaussianBlur(flat, (0, 0), max(0.6, 0.1 * work_ppi)), np.float32)
    direction = scale.direction if scale else math.pi / 2
    work = _Work(rgb, flat, eroded, work_ppi, factor, soft, direction, scale, work_roof > 0)
    appearance = _appearance_distance(work)
    lines = _course_lines(work) if scale is not None and work.roof.sum() >= 100 else None
    missing = missing_candidates(work, appearance)
    gaps = course_gap_candidates(work, lines, appearance) if lines is not None else []
    # Blobs inside a missing tab are its corners; a course gap's box is drawn from the line alone,
    # so only a confident one (a hole of another material) claims what lies inside it.
    holes = missing + [c for c in gaps if c.score >= REPORT_SCORE]
    hail = [c for c in hail_candidates(work) if not any(_inside(c.box, m.box) for m in holes)]
    edges = [c for c in edge_candidates(work, lines) if not any(_inside(c.box, m.box) for m in holes)] if lines else []
    ranked = sorted(missing + gaps + hail + edges, key=lambda c: (-c.score, c.box))
    kept: list[Candidate] = []
    for cand in ranked:
        if all(iou(cand.box, k.box) <= 0.3 for k in kept):
            kept.append(cand)
        if len(kept) >= limit:
            break
    return kept


def _inside(inner: Box, outer: Box, pad: float = 0.1) -> bool:
    """Whether the centre of `inner` falls in `outer` grown by `pad` of its size."""
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    dx, dy = (outer[2] - outer[0]) * pad, (outer[3] - outer[1]) * pad
    return outer[0] - dx <= cx <= outer[2] + dx and outer[1] - dy <= cy <= outer[3] + dy


def candidates_as_detections(candidates: list[Candidate], *, min_score: float = REPORT_SCORE) -> list[Detection]:
    """The local-only answer (model `MODEL_NAME`): the confident candidates, merged, numbered."""
    found = [
        Detection(id=i, type=c.kind, severity=c.severity, confidence=min(1.0, max(0.0, c.score)), box=c.box)
        for i, c in enumerate(candidates, start=1)
        if c.score >= min_score
    ]
    return merge(found)
