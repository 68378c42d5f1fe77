"""Low-level image helpers shared by the local stage: checking, resizing, log luminance and its
illumination normalisation, blurs, chromaticity, Hessian eigenvalues and robust feature distances."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

RGBImage = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]
F32 = npt.NDArray[np.float32]


def check_rgb(pixels: RGBImage) -> None:
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError("pixels must be an RGB uint8 array of shape (height, width, 3)")


def resize(img: npt.NDArray[Any], factor: float) -> npt.NDArray[Any]:
    if abs(factor - 1.0) < 1e-3:
        return img
    h, w = img.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(cv2.resize(img, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR))


def log_luminance(rgb: RGBImage) -> F32:
    lum = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.asarray(np.log(lum + 8.0), np.float32)


def normalised(log_lum: F32, sigma: float) -> F32:
    """Log luminance minus its heavy blur: lighting gradients and vignetting are gone."""
    return np.asarray(log_lum - blur(log_lum, sigma), np.float32)


def blur(img: F32, sigma: float) -> F32:
    """A Gaussian blur; a wide one runs on a copy reduced so the kernel stays ~8 pixels (a blur of
    sigma 100 px at full size took most of a second on a 1 MP photo)."""
    if sigma <= 8.0:
        return np.asarray(cv2.GaussianBlur(img, (0, 0), sigma), np.float32)
    shrink = 4.0 / sigma
    small = np.asarray(resize(img, shrink), np.float32)
    blurred = cv2.GaussianBlur(small, (0, 0), 4.0)
    h, w = img.shape[:2]
    return np.asarray(cv2.resize(blurred, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)


def bounding_box(mask: Mask, margin: int) -> tuple[slice, slice] | None:
    """The rows and columns of `mask`'s bounding box grown by `margin` pixels (within the image),
    or None when `mask` is empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    h, w = mask.shape
    return (
        slice(max(0, int(rows[0]) - margin), min(h, int(rows[-1]) + margin + 1)),
        slice(max(0, int(cols[0]) - margin), min(w, int(cols[-1]) + margin + 1)),
    )


def chromaticity(rgb: RGBImage) -> tuple[F32, F32]:
    f = rgb.astype(np.float32) + 1.0
    total = f.sum(axis=2)
    return f[..., 0] / total, f[..., 1] / total


def hessian_min(img: F32, sigma: float) -> tuple[F32, F32]:
    """The scale-normalised smaller and larger Hessian eigenvalues of the blurred image."""
    s = cv2.GaussianBlur(img, (0, 0), sigma)
    dxx = cv2.Sobel(s, cv2.CV_32F, 2, 0, ksize=3)
    dyy = cv2.Sobel(s, cv2.CV_32F, 0, 2, ksize=3)
    dxy = cv2.Sobel(s, cv2.CV_32F, 1, 1, ksize=3)
    mean = (dxx + dyy) / 2
    spread = np.sqrt(((dxx - dyy) / 2) ** 2 + dxy**2)
    norm = np.float32(sigma**2)
    return np.asarray((mean - spread) * norm, np.float32), np.asarray((mean + spread) * norm, np.float32)


def robust_z(feats: list[F32], where: Mask, floors: tuple[float, ...]) -> list[F32]:
    """Each feature's per-pixel robust z-score against its median and MAD over `where` (the MAD no
    lower than the feature's floor)."""
    out = []
    for x, floor in zip(feats, floors, strict=True):
        values = x[where]
        med = float(np.median(values))
        mad = max(1.4826 * float(np.median(np.abs(values - med))), floor)
        out.append(np.asarray((x - med) / mad, np.float32))
    return out
