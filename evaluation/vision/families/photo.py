"""From scene light to a phone's JPEG: metering, white balance, lens blur or shake, vignetting,
sensor noise, the tone curve, sharpening and JPEG compression, in the order a camera applies them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
RGBImage = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Defects:
    """What the camera does to the light. Blur radii in pixels; `ev` shifts the metered exposure
    (stops); `wb` multiplies red and blue (a white balance the camera got wrong); `noise` is the
    sensor's shot noise at this ISO (0.0005 clean daylight .. 0.006 dim and small sensor)."""

    defocus_px: float = 0.0
    motion_px: float = 0.0
    motion_deg: float = 0.0
    jpeg_quality: int = 90
    noise: float = 0.001
    vignette: float = 0.25
    ev: float = 0.0
    wb: tuple[float, float] = (1.0, 1.0)
    sharpen: float = 0.4

    @property
    def blur_px(self) -> float:
        """A rough size of the blur (how far detail is smeared)."""
        return max(self.defocus_px, self.motion_px / 2)


def develop(radiance: F32, defects: Defects, rng: np.random.Generator) -> RGBImage:
    h, w = radiance.shape[:2]
    # Centre-weighted average metering, in log space (a camera's "18% grey"), highlights kept sane.
    yy, xx = np.mgrid[0:h:8, 0:w:8]
    weight = np.exp(-(((xx - w / 2) / (0.4 * w)) ** 2 + ((yy - h / 2) / (0.4 * h)) ** 2))
    lum = radiance[::8, ::8] @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    mean_log = float((np.log(np.maximum(lum, 1e-4)) * weight).sum() / weight.sum())
    # A phone brightens a dark scene, but not all the way to mid-grey: partial compensation.
    gain = 0.16 * 2.0**defects.ev / math.exp(mean_log) ** 0.75 * 0.16**-0.25
    img = radiance * np.float32(gain)
    img *= np.array([defects.wb[0], 1.0, defects.wb[1]], np.float32)

    if defects.defocus_px > 0.3:
        r = defects.defocus_px
        size = 2 * math.ceil(r) + 1
        yk, xk = np.mgrid[:size, :size] - size // 2
        disk = np.clip(r + 0.5 - np.hypot(xk, yk), 0, 1).astype(np.float32)
        img = np.asarray(cv2.filter2D(img, -1, disk / disk.sum(), borderType=cv2.BORDER_REFLECT), np.float32)
    if defects.motion_px > 0.5:
        length = defects.motion_px
        size = 2 * math.ceil(length / 2) + 1
        kernel = np.zeros((size, size), np.float32)
        c = size // 2
        a = math.radians(defects.motion_deg)
        for t in np.linspace(-length / 2, length / 2, max(3, int(length * 3))):
            kernel[round(c + t * math.sin(a)), round(c + t * math.cos(a))] += 1
        img = np.asarray(cv2.filter2D(img, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT), np.float32)

    if defects.vignette > 0:
        r2 = ((np.arange(w, dtype=np.float32) - w / 2) / (w / 2)) ** 2
        v2 = ((np.arange(h, dtype=np.float32) - h / 2) / (w / 2)) ** 2
        img *= (1.0 - defects.vignette * 0.5 * (r2[None, :] + v2[:, None]))[:, :, None]

    if defects.noise > 0:  # shot noise grows with the signal, read noise does not
        sigma = np.sqrt(np.maximum(img, 0) * defects.noise + (defects.noise * 0.05) ** 2 + 1e-8)
        img = img + rng.standard_normal(img.shape, dtype=np.float32) * sigma

    out = _tone(np.maximum(img, 0))
    if defects.sharpen > 0:
        soft = np.asarray(cv2.GaussianBlur(out, (0, 0), 1.0), np.float32)
        out = out + defects.sharpen * (out - soft)
    pixels = np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if defects.jpeg_quality < 100:
        ok, data = cv2.imencode(".jpg", pixels[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(defects.jpeg_quality)])
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            pixels = np.ascontiguousarray(np.asarray(decoded, np.uint8)[:, :, ::-1])
    return np.ascontiguousarray(pixels)


def _tone(linear_rgb: F32) -> F32:
    """A phone's tone curve: a soft shoulder for highlights, then sRGB encoding, a little contrast
    (through a 16-bit lookup table: the power function per pixel is the slowest step otherwise)."""
    x = linear_rgb / (1.0 + 0.35 * linear_rgb)  # shoulder: bright sky rolls off instead of clipping hard
    index = np.minimum(x * np.float32(1.35 * 65535), 65535).astype(np.uint16)
    return np.asarray(_TONE_LUT[index], np.float32)


def _tone_table() -> F32:
    x = np.linspace(0.0, 1.0, 65536, dtype=np.float64)
    srgb = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.asarray(np.clip(srgb + 0.08 * (srgb - 0.5) * (1 - np.abs(2 * srgb - 1)), 0, 1), np.float32)


_TONE_LUT = _tone_table()
