"""Procedural noise evaluated at arbitrary surface coordinates (inches), the way a shader does it:
no texture raster, so every pixel samples the surface at its own point and detail never depends on
how a plane raster was sampled.

All of it is built on one integer hash of lattice cells, so the same (coordinates, seed) always give
the same values, whatever the photo's size or the order pixels are shaded in.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Coords = npt.NDArray[np.floating]  # float32 or float64 surface coordinates

_M1 = np.uint32(0x8DA6B343)
_M2 = np.uint32(0xD8163841)
_M3 = np.uint32(0x5BD1E995)
_INV24 = np.float32(1.0 / (1 << 24))


U32 = npt.NDArray[np.uint32]


def cell_hash(ix: U32, iy: U32, seed: int) -> F32:
    """A uniform [0, 1) value per integer lattice cell (a murmur-style mix; wraps by design)."""
    h = ix * _M1
    h ^= iy * _M2
    h ^= np.uint32(seed & 0xFFFFFFFF)
    h ^= h >> np.uint32(13)
    h *= _M3
    h ^= h >> np.uint32(15)
    return (h >> np.uint32(8)).astype(np.float32) * _INV24


def _floor(x: Coords) -> tuple[U32, F32]:
    """(integer cell as uint32, wrapping for negatives, fraction within it)."""
    base = np.floor(x)
    return base.astype(np.int32).view(np.uint32), (x - base).astype(np.float32, copy=False)


def value_noise(u: Coords, v: Coords, cell: float, seed: int) -> F32:
    """Smooth noise in [0, 1) with features about `cell` inches across (bilinear, smoothstep-eased)."""
    iu, fu = _floor(u / cell)
    iv, fv = _floor(v / cell)
    fu = fu * fu * (3.0 - 2.0 * fu)
    fv = fv * fv * (3.0 - 2.0 * fv)
    iu1, iv1 = iu + np.uint32(1), iv + np.uint32(1)
    a = cell_hash(iu, iv, seed)
    b = cell_hash(iu1, iv, seed)
    top = a + (b - a) * fu
    a = cell_hash(iu, iv1, seed)
    b = cell_hash(iu1, iv1, seed)
    bottom = a + (b - a) * fu
    return np.asarray(top + (bottom - top) * fv, np.float32)


def fbm(u: Coords, v: Coords, cell: float, seed: int, octaves: int = 3, footprint: F32 | float = 0.0) -> F32:
    """Fractal noise, centred (about -1..1), from `cell` inches down by halves. An octave finer than
    twice the pixel footprint fades out (frequency clamping) instead of aliasing into speckle."""
    total = np.zeros(np.shape(u), np.float32)
    weight = 0.0
    amplitude = 1.0
    for octave in range(octaves):
        size = cell / (2**octave)
        fade = np.clip(size / (2.0 * np.maximum(footprint, 1e-6)) - 0.5, 0.0, 1.0) if np.any(footprint) else 1.0
        total += amplitude * fade * (value_noise(u, v, size, seed + 7919 * octave) - 0.5) * 2.0
        weight += amplitude
        amplitude *= 0.5
    return np.asarray(total / weight, np.float32)


def cell_values(u: Coords, v: Coords, cell: float | F32, seed: int) -> tuple[F32, F32, F32]:
    """Per-cell random draws for a lattice of `cell`-inch cells (a scalar or one size per point):
    two uniform [0, 1) values and the squared distance (in cells, 0..0.5) from the cell's centre."""
    iu, fu = _floor(u / cell)
    iv, fv = _floor(v / cell)
    first = cell_hash(iu, iv, seed)
    second = cell_hash(iu, iv, seed ^ 0x5F3759DF)
    d2 = (fu - 0.5) ** 2 + (fv - 0.5) ** 2
    return first, second, np.asarray(d2, np.float32)


def smoothstep(edge0: float | F32, edge1: float | F32, x: F32 | float) -> F32:
    t = np.clip((np.asarray(x, np.float32) - edge0) / (np.asarray(edge1, np.float32) - edge0 + 1e-12), 0.0, 1.0)
    return np.asarray(t * t * (3.0 - 2.0 * t), np.float32)


def coverage(distance_inside: F32 | float, footprint: F32 | float) -> F32:
    """How much of a pixel lies inside a region, given the signed distance of its centre into the
    region (inches, negative outside) and its footprint across the edge: the box-filtered edge that
    anti-aliases lines thinner than a pixel by their true share of it."""
    return np.asarray(
        np.clip(np.asarray(distance_inside, np.float32) / np.maximum(footprint, 1e-6) + 0.5, 0, 1), np.float32
    )


def band_coverage(distance: F32, width: F32 | float, footprint: F32 | float) -> F32:
    """The share of a pixel covered by a band [0, width) of distance from an edge (the pixel at
    `distance` from it, `footprint` wide across it): exact for a box pixel, so a 0.1 inch shadow
    line darkens a 0.4 inch pixel by a quarter of its depth rather than vanishing or filling it."""
    fp = np.maximum(np.asarray(footprint, np.float32), 1e-6)
    lo = np.maximum(distance - fp / 2, 0.0)
    hi = np.minimum(distance + fp / 2, width)
    return np.asarray(np.clip((hi - lo) / fp, 0.0, 1.0), np.float32)
