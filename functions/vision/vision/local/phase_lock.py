"""Refining the course field against the whole photo, by demodulation.

The field predicts the course phase at every pixel. Multiplying the dark-line image by the
conjugate of that phase and averaging over about a course leaves, where the field is right, a
steady complex value (the courses' amplitude and a constant phase); where the field is a little
off, its phase drifts, and the drift's gradient is exactly how far the local course vector is off.
So every pixel yields a course vector free of the bias a window's spectrum has under perspective
(a window sees a chirp, not a period), and the field is fitted again to them, weighted by their
amplitude. Starting from the centre's estimate, the amplitude is high where the field is already
close and fades where it is not, so the fit grows outwards on its own as the perspective is learnt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vision.local.image_ops import F32, Mask
from vision.local.slope_plane import CourseField, CourseSamples, fit_course_field

SMOOTHING_PERIODS = 0.7  # the demodulated signal is averaged over this many periods (Gaussian sigma)
STEP = 4  # the demodulated signal is kept at this fraction of the small copy's resolution
MIN_AMPLITUDE = 0.15  # blocks with less course signal than this share of the best are not fitted
MIN_COHERENCE = 0.5  # |mean of the demodulated signal| over the mean of its size, in a block


@dataclass(frozen=True)
class Demodulated:
    """The dark-line image demodulated by a course field, on a grid `STEP` times coarser."""

    real: F32
    imag: F32
    near: Mask  # on the camera's side of the slope's horizon
    step: int
    level: F32  # the dark-line image itself, averaged alike

    @property
    def amplitude(self) -> F32:
        return np.asarray(np.hypot(self.real, self.imag), np.float32)

    @property
    def coherence(self) -> F32:
        """How much of the dark lines the field explains, 0 to 1: the amplitude at the field's
        course vector over the lines' mean (thin lines on every course give nearly 1, a texture
        without those courses little)."""
        return np.asarray(np.clip(2 * self.amplitude / np.maximum(self.level, 1e-6), 0.0, 1.0), np.float32)

    def full_size(self, img: F32, shape: tuple[int, int]) -> F32:
        return np.asarray(cv2.resize(img, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR), np.float32)


def demodulate(dark: F32, field: CourseField) -> Demodulated:
    h, w = dark.shape
    xs = ((np.arange(w, dtype=np.float32) - field.cx) / field.norm)[None, :]
    ys = ((np.arange(h, dtype=np.float32) - field.cy) / field.norm)[:, None]
    depth = np.float32(1.0) + np.float32(field.p) * xs + np.float32(field.q) * ys  # the plane's 1 + pX + qY
    near = depth > 0.1
    angle = (
        np.float32(-2 * np.pi) * (np.float32(field.alpha) * xs + np.float32(field.beta) * ys) / np.where(near, depth, 1)
    )
    kx, ky = field.vector(w / 2, h / 2)
    sigma = SMOOTHING_PERIODS / math.hypot(float(kx), float(ky)) / STEP
    small = (max(1, w // STEP), max(1, h // STEP))

    def smooth(img: npt.NDArray[np.float32]) -> F32:
        reduced = cv2.resize(img, small, interpolation=cv2.INTER_AREA)
        return np.asarray(cv2.GaussianBlur(reduced, (0, 0), max(0.8, sigma), borderType=cv2.BORDER_REFLECT), np.float32)

    real = smooth(np.asarray(dark * np.cos(angle) * near, np.float32))
    imag = smooth(np.asarray(dark * np.sin(angle) * near, np.float32))
    near_small = cv2.resize(near.astype(np.uint8), small, interpolation=cv2.INTER_NEAREST) > 0
    level = smooth(np.asarray(dark * near, np.float32))
    return Demodulated(real, imag, near_small, STEP, level)


def course_samples(demod: Demodulated, field: CourseField, where: Mask) -> CourseSamples | None:
    """The course vector in blocks of the demodulated grid (about a period and a half square)
    inside `where` (at the grid's size): the field's own plus the drift of the demodulated phase,
    measured by pulse pairs (the mean of each value times the conjugate of its neighbour's, whose
    angle is the phase step: robust where single phase differences are noise). Blocks whose
    signal is weak or incoherent are left out."""
    re, im = demod.real, demod.imag
    z = (re + 1j * im).astype(np.complex64)
    ok = (where & demod.near).astype(np.float32)
    rows, cols = z.shape
    kx0, ky0 = field.vector(field.cx, field.cy)
    block = int(np.clip(round(1.5 / math.hypot(float(kx0), float(ky0)) / demod.step), 3, 12))
    pair_x = (z[:, 1:] * np.conj(z[:, :-1]) * (ok[:, 1:] * ok[:, :-1]))[: rows - 1, :]
    pair_y = (z[1:, :] * np.conj(z[:-1, :]) * (ok[1:, :] * ok[:-1, :]))[:, : cols - 1]
    zz = (z * ok)[: rows - 1, : cols - 1]
    mag = (np.abs(z) * ok)[: rows - 1, : cols - 1]
    by, bx = (rows - 1) // block, (cols - 1) // block
    if by < 1 or bx < 1:
        return None

    def blocks(a: npt.NDArray[np.complex64]) -> npt.NDArray[np.complex128]:
        return np.asarray(a[: by * block, : bx * block].reshape(by, block, bx, block).sum(axis=(1, 3)), np.complex128)

    rx, ry, total = blocks(pair_x), blocks(pair_y), blocks(zz)
    size = np.asarray(mag[: by * block, : bx * block].reshape(by, block, bx, block).sum(axis=(1, 3)), np.float64)
    coherence = np.abs(total) / np.maximum(size, 1e-12)
    strength = np.abs(rx) + np.abs(ry)
    good = (coherence >= MIN_COHERENCE) & (strength > 0)
    if good.sum() < 3:
        return None
    good &= strength >= MIN_AMPLITUDE * float(np.percentile(strength[good], 90))
    ys, xs = np.nonzero(good)
    step = demod.step
    px = ((xs + 0.5) * block) * step
    py = ((ys + 0.5) * block) * step
    dkx = np.angle(rx[ys, xs]) / (2 * np.pi * step)
    dky = np.angle(ry[ys, xs]) / (2 * np.pi * step)
    kx, ky = field.vector(px, py)
    return CourseSamples(
        px.astype(np.float64), py.astype(np.float64), kx + dkx, ky + dky, np.asarray(strength[ys, xs], np.float64)
    )


GROWTH = (0.22, 0.35, 0.55, 0.85, math.inf)  # radii (in units of half the long side) the fit grows through


def lock(dark: F32, field: CourseField, where: Mask, start: tuple[float, float], *, grow: bool = True) -> CourseField:
    """The field refined against the dark-line image over `where` (small-copy size). With `grow`,
    outwards from `start` (where it is known to be right): each round fits the pixels within a
    larger radius, so the perspective learnt near the start carries the field out to where the
    courses are finer or coarser (a field far off locks onto a harmonic instead); without, one
    round over all of `where`."""
    h, w = dark.shape
    gy, gx = np.mgrid[0:h, 0:w]
    distance = np.hypot(gx - start[0], gy - start[1]) / field.norm
    for radius in GROWTH if grow else (math.inf,):
        demod = demodulate(dark, field)
        inside = where & (distance <= radius)
        grid = cv2.resize(inside.astype(np.uint8), demod.real.shape[::-1], interpolation=cv2.INTER_AREA) > 0
        samples = course_samples(demod, field, grid)
        if samples is None:
            continue
        field = fit_course_field(samples, field.cx, field.cy, field.norm, tuple(field.params), tolerance=0.3) or field
    return field
