"""Readers for roof height data: GeoTIFF and .npy DSMs, roof masks, and the dispatch to point clouds.

GeoTIFFs are read with tifffile, not GDAL: a pure-Python reader fits a Lambda. It decodes uncompressed,
Deflate, ZSTD and PackBits files; LZW, JPEG, LERC and the floating-point predictor need the optional
`imagecodecs` package and are refused with a 415 that says how to re-save the file when it is absent.
Every failure is a domain error (413/415/422) whose message says what to fix; never a 500.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from geometry.grid import BoolGrid, FloatGrid, Georeference, HeightGrid
from geometry.limits import InputSize
from geometry.points import (
    ALL_FORMATS,
    MAX_CELLS,
    MAX_POINTS,
    MAX_RESOLUTION,
    MIN_RESOLUTION,
    RASTER_FORMATS,
    InputFormat,
    PointCloud,
    check_heights,
    check_resolution,
    detect_format,
    las_point_count,
    points_to_grid,
    read_points,
    text_line_count,
    unsupported_hint,
)
from shared.errors import DominusError, InvalidInput, PayloadTooLarge, UnsupportedMediaType

__all__ = [
    "NODATA",
    "InputFormat",
    "PointCloud",
    "detect_format",
    "input_size",
    "open_input",
    "read_dsm",
    "read_height_grid",
    "read_mask",
]

NODATA = -9999.0  # always nodata, tag or not: the value GDAL and most LiDAR producers write

# TIFF and GeoTIFF tags and keys (GeoTIFF 1.1 spec).
_PIXEL_SCALE = 33550
_TIEPOINT = 33922
_TRANSFORMATION = 34264
_GEOKEYS = 34735
_GEO_DOUBLES = 34736
_RASTER_TYPE_KEY = 1025  # 1 pixel is area (the tie point is a corner), 2 pixel is point (a centre)
_PROJECTED_CRS_KEY = 3072
_USER_DEFINED = 32767
# British National Grid spelled out key by key (as UK LiDAR tiles often are) rather than by its code:
# transverse Mercator, origin 49 N 2 W, scale 0.9996013, false origin 400 km E / -100 km N, Airy 1830.
_BNG = {3081: 49.0, 3080: -2.0, 3092: 0.9996013, 3082: 400_000.0, 3083: -100_000.0, 2057: 6_377_563.396}
_GDAL_NODATA = 42113
_MODEL_TYPE_KEY = 1024  # 1 projected, 2 geographic (degrees)
_LINEAR_UNITS_KEY = 3076
_VERTICAL_UNITS_KEY = 4099
_MODEL_GEOGRAPHIC = 2
_UNIT_METRES = {9001: 1.0, 9002: 0.3048, 9003: 1200 / 3937}  # metre, foot, US survey foot
_PHOTOMETRIC_COLOUR = {2: "RGB", 3: "palette", 5: "CMYK", 6: "YCbCr"}


@dataclass(frozen=True)
class _Raster:
    """The first band of a raster, oriented row 0 north and column 0 west, in its stored type."""

    values: npt.NDArray[Any]
    pixel: tuple[float, float] | None  # (dx, dy) metres from the tags; None when they say nothing
    nodata: float | None  # the GDAL_NODATA tag's value
    z_scale: float  # metres per stored height unit
    geographic: bool = False  # the pixel size is in degrees
    georeference: Georeference | None = None


def read_dsm(path: Path, *, resolution: float | None = None, max_cells: int = MAX_CELLS) -> HeightGrid:
    """A DSM from a GeoTIFF or `.npy`, detected by content: heights in metres, NaN where there is no data.

    GeoTIFF: pixel size from ModelPixelScale (non-square allowed) or the scale terms of a north-up
    ModelTransformation (a rotated or sheared one is refused); a south-up or east-to-west raster is
    flipped so row 0 is north. Feet (ProjLinearUnits / VerticalUnits geo keys) are converted to metres;
    vertical units default to the horizontal ones. Multi-band or multi-page files: only the first band of
    the first page is read. Integer heights are converted to float. Nodata: the GDAL_NODATA tag's value,
    and -9999 and NaN always.
    `.npy`: a 2-D numeric array; `resolution` is required.
    `resolution` (metres, square pixels) overrides a GeoTIFF's pixel size tags.
    """
    fmt = detect_format(path)
    if resolution is not None:
        resolution = check_resolution(resolution)
    limit = _cell_limit(path.name, max_cells)
    if fmt is InputFormat.GEOTIFF:
        raster = _read_tiff(path, limit, numeric_kinds="iuf")
    elif fmt is InputFormat.NPY:
        if resolution is None:
            raise InvalidInput(f"`--resolution` is required for .npy: {path.name} has no pixel size (metres per pixel)")
        raster = _Raster(_read_npy(path, limit, numeric_kinds="iuf"), pixel=None, nodata=None, z_scale=1.0)
    else:
        raise _not_a_raster(path.name, fmt)

    if resolution is not None:
        dx = dy = resolution
    elif raster.pixel is None:
        raise InvalidInput(
            f"{path.name} has no pixel size (no ModelPixelScale or ModelTransformation tag): pass --resolution METRES"
        )
    else:
        dx, dy = raster.pixel
        if raster.geographic:
            raise InvalidInput(
                f"{path.name} is in geographic coordinates (a pixel of {dx:g} x {dy:g} degrees): reproject it "
                "to a projected CRS in metres (e.g. UTM), or pass --resolution METRES"
            )
        if not all(math.isfinite(v) and MIN_RESOLUTION <= v <= MAX_RESOLUTION for v in (dx, dy)):
            raise InvalidInput(
                f"{path.name}: its pixel size {dx:g} x {dy:g} m is outside {MIN_RESOLUTION}..{MAX_RESOLUTION} m "
                "per pixel; reproject it to a projected CRS in metres, or pass --resolution METRES to override "
                "the tags"
            )

    z = _heights(raster.values, raster.nodata, raster.z_scale)
    if z.size == 0:
        raise InvalidInput(f"{path.name} has no cells (shape {z.shape}); give a DSM with heights")
    if np.isinf(z).any():
        raise InvalidInput(
            f"{path.name}: {int(np.isinf(z).sum())} cells are infinite; heights must be finite metres "
            "(mark missing cells with -9999 or NaN)"
        )
    if np.isnan(z).all():
        raise InvalidInput(f"{path.name} has no height data: every cell is nodata (-9999, NaN or the tag's value)")
    check_heights(z, path.name)
    return HeightGrid(z, float(dx), float(dy), georeference=raster.georeference if resolution is None else None)


def read_mask(path: Path, shape: tuple[int, int]) -> BoolGrid:
    """A roof mask on the DSM's grid (GeoTIFF or `.npy`, first band): nonzero is roof; NaN, -9999 and
    the tag's nodata are not. Oriented like `read_dsm`, so a mask written beside its DSM lines up.
    """
    fmt = detect_format(path)
    rows, cols = shape

    def same_grid(found: tuple[int, int]) -> None:
        if found != (rows, cols):
            raise InvalidInput(
                f"the mask {path.name} is {found[0]} x {found[1]} cells but the DSM is {rows} x {cols}: "
                "the mask must be on the DSM's grid (same rows and columns)"
            )

    if fmt is InputFormat.GEOTIFF:
        raster = _read_tiff(path, same_grid, numeric_kinds="biuf", palette_ok=True)
        values, nodata = raster.values, raster.nodata
    elif fmt is InputFormat.NPY:
        values, nodata = _read_npy(path, same_grid, numeric_kinds="biuf"), None
    else:
        raise _not_a_raster(path.name, fmt, what="mask")
    roof = np.nan_to_num(_heights(values, nodata, 1.0), nan=0.0) != 0
    return np.ascontiguousarray(roof)


def open_input(
    path: Path,
    resolution: float | None = None,
    *,
    max_cells: int = MAX_CELLS,
    max_points: int = MAX_POINTS,
) -> HeightGrid | PointCloud:
    """A raster as a `HeightGrid`, a point cloud as a `PointCloud`, by content (an upload's name may lie).

    `resolution` is checked here for both; for a cloud it applies later, in `points_to_grid`.
    """
    if resolution is not None:
        resolution = check_resolution(resolution)
    fmt = detect_format(path)
    if fmt.is_raster:
        return read_dsm(path, resolution=resolution, max_cells=max_cells)
    if fmt.is_points:
        return read_points(path, max_points=max_points)
    if fmt is InputFormat.UNKNOWN:
        raise UnsupportedMediaType(
            f"{path.name} is neither a DSM raster nor a point cloud (its content was checked, not its name): "
            f"give {ALL_FORMATS}"
        )
    raise UnsupportedMediaType(
        f"{path.name} is in {fmt.value} format, which is not read here: {unsupported_hint(fmt)}give {ALL_FORMATS}"
    )


def input_size(path: Path) -> InputSize:
    """What the input says it holds, from its header (a raster's rows and columns, a LAS file's point
    count) or, for x y z text, its lines; nothing is decoded. An empty `InputSize` when the file does
    not say (damaged, or not an input at all): its reader will say what is wrong with it."""
    try:
        fmt = detect_format(path)
        if fmt is InputFormat.NPY:
            return InputSize(shape=_npy_shape(path))
        if fmt is InputFormat.GEOTIFF:
            return InputSize(shape=_tiff_shape(path))
        if fmt is InputFormat.LAS:
            return InputSize(points=las_point_count(path))
        if fmt is InputFormat.TEXT:
            return InputSize(points=text_line_count(path))
    except (DominusError, OSError):
        pass
    return InputSize()


def _npy_shape(path: Path) -> tuple[int, int] | None:
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)  # the header only: nothing is read
    except Exception:  # numpy raises many types for a damaged header; the reader reports it
        return None
    if not isinstance(mapped, np.ndarray) or mapped.ndim != 2:
        return None
    rows, cols = mapped.shape
    return int(rows), int(cols)


def _tiff_shape(path: Path) -> tuple[int, int] | None:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            return int(page.imagelength), int(page.imagewidth)
    except Exception:  # tifffile raises many types for a damaged file; the reader reports it
        return None


def read_height_grid(
    path: Path,
    *,
    resolution: float | None = None,
    mask: Path | None = None,
    max_cells: int = MAX_CELLS,
    max_points: int = MAX_POINTS,
) -> HeightGrid:
    """Any input as a height grid: a raster as read, a point cloud rasterised (`points_to_grid`).

    `mask` (rasters only) is attached as the grid's roof mask. Callers that need per-point results use
    `open_input` and `points_to_grid`, which also return each point's cell.
    """
    data = open_input(path, resolution, max_cells=max_cells, max_points=max_points)
    if isinstance(data, PointCloud):
        if mask is not None:
            raise InvalidInput("--mask applies to a DSM raster; a point cloud has no grid to align it with")
        grid, _ = points_to_grid(data, resolution, max_cells=max_cells)
        return grid
    if mask is not None:
        return replace(data, mask=read_mask(mask, data.shape))
    return data


# --- internals -----------------------------------------------------------------------------------------


def _not_a_raster(name: str, fmt: InputFormat, what: str = "DSM") -> UnsupportedMediaType:
    if fmt.is_points:
        return UnsupportedMediaType(f"{name} is a {fmt.value} point cloud, not a {what} raster: give {RASTER_FORMATS}")
    if fmt is InputFormat.UNKNOWN:
        return UnsupportedMediaType(
            f"{name} is not a {what} raster (its content was checked, not its name): give {RASTER_FORMATS}"
        )
    return UnsupportedMediaType(
        f"{name} is in {fmt.value} format, which is not read here: {unsupported_hint(fmt)}give {RASTER_FORMATS}"
    )


def _cell_limit(name: str, max_cells: int) -> Callable[[tuple[int, int]], None]:
    def check(shape: tuple[int, int]) -> None:
        if shape[0] * shape[1] > max_cells:
            raise PayloadTooLarge(
                f"{name} is {shape[0]} x {shape[1]} = {shape[0] * shape[1]} cells; the limit is {max_cells} "
                "cells: crop it to the building or resample to a coarser pixel"
            )

    return check


def _heights(values: npt.NDArray[Any], nodata: float | None, z_scale: float) -> FloatGrid:
    """Float64 metres with NaN for nodata; nodata is compared in the stored type, as it was written."""
    missing = np.zeros(values.shape, dtype=bool)
    native = _as_stored(nodata, values.dtype)
    if native is not None:
        missing |= values == native
    with np.errstate(invalid="ignore"):  # odd stored types (e.g. float16 NaN payloads) warn on the cast
        z = values.astype(np.float64)
    missing |= z == NODATA
    z[missing] = np.nan
    if z_scale != 1.0:
        z *= z_scale
    return z


def _as_stored(nodata: float | None, dtype: np.dtype[Any]) -> Any:
    """The nodata value in the raster's own type, or None if that type cannot hold it (or it is NaN)."""
    if nodata is None or math.isnan(nodata):
        return None
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return dtype.type(nodata) if nodata.is_integer() and info.min <= nodata <= info.max else None
    if dtype.kind == "f":
        return dtype.type(nodata)
    return None


def _check_kind(name: str, dtype: np.dtype[Any], kinds: str) -> None:
    if dtype.kind not in kinds:
        raise UnsupportedMediaType(
            f"{name} holds {dtype} values; a height raster holds numbers (float or integer heights in metres)"
        )


def _read_npy(path: Path, check_shape: Callable[[tuple[int, int]], None], *, numeric_kinds: str) -> npt.NDArray[Any]:
    try:
        # Memory-mapped first, so the shape and size are checked before anything is loaded.
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise InvalidInput(f"{path.name} is not a plain numeric .npy array ({exc})") from exc
    except Exception as exc:
        raise InvalidInput(f"{path.name} could not be read as .npy ({exc}); the file may be truncated") from exc
    if not isinstance(mapped, np.ndarray):
        raise InvalidInput(f"{path.name} is not a single .npy array")
    if mapped.ndim != 2:
        raise InvalidInput(f"{path.name} is a {mapped.ndim}-D array of shape {mapped.shape}; a DSM is a 2-D array")
    _check_kind(path.name, mapped.dtype, numeric_kinds)
    rows, cols = mapped.shape
    if rows * cols:
        check_shape((rows, cols))
    return np.array(mapped)


def _read_tiff(
    path: Path, check_shape: Callable[[tuple[int, int]], None], *, numeric_kinds: str, palette_ok: bool = False
) -> _Raster:
    """The first band, oriented; `palette_ok` for masks, whose class colours are indices, not heights."""
    import tifffile  # only raster requests pay for this import

    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.pages:
                raise InvalidInput(f"{path.name} is a TIFF without images")
            page = tif.pages.first
            rows, cols = int(page.imagelength), int(page.imagewidth)
            if rows * cols == 0:
                raise InvalidInput(f"{path.name} has no cells ({rows} x {cols}); give a DSM with heights")
            check_shape((rows, cols))
            colour = _PHOTOMETRIC_COLOUR.get(int(page.photometric))
            if colour is not None and not (palette_ok and colour == "palette"):
                raise UnsupportedMediaType(
                    f"{path.name} is a {colour} image, not a height raster: give {RASTER_FORMATS} with heights"
                )
            _check_kind(path.name, np.dtype(page.dtype), numeric_kinds)
            _check_codecs(path.name, page)
            data = page.asarray()
            # The first band: index 0 on every axis that is not rows (Y) or columns (X), e.g. samples (S).
            values = data[tuple(slice(None) if axis in "YX" else 0 for axis in page.axes)]
            if values.shape != (rows, cols):
                raise InvalidInput(f"{path.name} is a damaged TIFF: its image is not {rows} x {cols} as it says")
            tags = page.tags
            pixel, flip_rows, flip_cols = _pixel_size(path.name, tags)
            nodata = _nodata(tags)
            geokeys = _geokeys(tags)
            doubles = _geo_doubles(tags)
            corner = _corner(tags, geokeys, rows, cols)
    except DominusError:
        raise
    except Exception as exc:  # tifffile raises many types for a damaged file; none may become a 500
        raise InvalidInput(f"{path.name} could not be read as a GeoTIFF ({exc}); the file may be truncated") from exc

    if flip_rows:
        values = values[::-1]
    if flip_cols:
        values = values[:, ::-1]

    xy_scale = _UNIT_METRES.get(geokeys.get(_LINEAR_UNITS_KEY, 9001), 1.0)
    z_scale = _UNIT_METRES.get(geokeys.get(_VERTICAL_UNITS_KEY, 0), xy_scale)
    geographic = geokeys.get(_MODEL_TYPE_KEY) == _MODEL_GEOGRAPHIC
    if pixel is not None and not geographic:
        pixel = (pixel[0] * xy_scale, pixel[1] * xy_scale)
    georeference = None
    if corner is not None and not geographic:
        georeference = Georeference(_crs_name(geokeys, doubles), corner, xy_scale)
    return _Raster(np.ascontiguousarray(values), pixel, nodata, z_scale, geographic, georeference)


def _corner(tags: Any, geokeys: dict[int, int], rows: int, cols: int) -> tuple[float, float] | None:
    """The north-west corner of the raster (after it is turned north-up), in the CRS's units: from a
    ModelTransformation, or a tie point with ModelPixelScale; a pixel-is-point tie point names a
    centre, half a pixel in."""
    matrix = _tag(tags, _TRANSFORMATION)
    if matrix is not None and len(matrix) >= 8:
        x0, y0, step_x, step_y = float(matrix[3]), float(matrix[7]), float(matrix[0]), float(matrix[5])
    else:
        tie, scale = _tag(tags, _TIEPOINT), _tag(tags, _PIXEL_SCALE)
        if tie is None or len(tie) < 6 or scale is None or len(scale) < 2:
            return None
        step_x, step_y = float(scale[0]), -float(scale[1])
        x0, y0 = float(tie[3]) - float(tie[0]) * step_x, float(tie[4]) - float(tie[1]) * step_y
    if geokeys.get(_RASTER_TYPE_KEY) == 2:
        x0, y0 = x0 - step_x / 2.0, y0 - step_y / 2.0
    corner = (min(x0, x0 + cols * step_x), max(y0, y0 + rows * step_y))
    return corner if all(math.isfinite(v) for v in corner) else None


def _crs_name(geokeys: dict[int, int], doubles: dict[int, float]) -> str | None:
    """`EPSG:<code>` of a projected CRS: its code, or British National Grid recognised by its
    parameters when a file spells it out; None for any other user-defined one."""
    code = geokeys.get(_PROJECTED_CRS_KEY)
    if code is not None and code != _USER_DEFINED:
        return f"EPSG:{code}"
    if all(key in doubles and abs(doubles[key] - value) <= 1e-4 * max(1.0, abs(value)) for key, value in _BNG.items()):
        return "EPSG:27700"
    return None


def _check_codecs(name: str, page: Any) -> None:
    """Refuse, before decoding, a compression this install cannot decode (they need `imagecodecs`)."""
    from tifffile import TIFF

    for table, value, what in (
        (TIFF.DECOMPRESSORS, page.compression, "compression"),
        (TIFF.PREDICTORS, page.predictor, "predictor"),
    ):
        try:
            table[value]
        except KeyError as exc:
            label = getattr(value, "name", value)
            raise UnsupportedMediaType(
                f"{name} uses TIFF {what} {label}, which this reader cannot decode: re-save it uncompressed or "
                "with Deflate, ZSTD or PackBits and no floating-point predictor "
                "(e.g. gdal_translate -co COMPRESS=DEFLATE -co PREDICTOR=1 in.tif out.tif)"
            ) from exc


def _tag(tags: Any, code: int) -> Any:
    tag = tags.get(code)
    return None if tag is None else tag.value


def _pixel_size(name: str, tags: Any) -> tuple[tuple[float, float] | None, bool, bool]:
    """(dx, dy) in the CRS's units, and whether rows (south-up) or columns (east-to-west) must be flipped."""
    matrix = _tag(tags, _TRANSFORMATION)
    if matrix is not None and len(matrix) >= 8:
        # x = a*col + b*row + d, y = e*col + f*row + h (row-major 4x4).
        a, b, e, f = (float(matrix[i]) for i in (0, 1, 4, 5))
        size = max(abs(a), abs(f))
        if size == 0 or abs(b) > 1e-9 * size or abs(e) > 1e-9 * size:
            raise InvalidInput(
                f"{name} has a rotated or sheared ModelTransformation; resample it north-up "
                "(e.g. gdalwarp in.tif out.tif) and upload again"
            )
        return (abs(a), abs(f)), f > 0, a < 0
    scale = _tag(tags, _PIXEL_SCALE)
    if scale is not None and len(scale) >= 2:
        sx, sy = float(scale[0]), float(scale[1])
        # The spec's scales are positive with y decreasing down the rows; a negative one means a flip.
        return (abs(sx), abs(sy)), sy < 0, sx < 0
    return None, False, False


def _nodata(tags: Any) -> float | None:
    """GDAL writes its nodata as ASCII ("-9999", "nan", "-3.4028234663852886e+38")."""
    value = _tag(tags, _GDAL_NODATA)
    if value is None:
        return None
    try:
        return float(str(value).strip().strip("\x00"))
    except ValueError:
        return None  # an unreadable tag; -9999 and NaN still apply


def _geo_doubles(tags: Any) -> dict[int, float]:
    """The GeoKeyDirectory's keys whose values sit in GeoDoubleParams (projection parameters)."""
    directory, doubles = _tag(tags, _GEOKEYS), _tag(tags, _GEO_DOUBLES)
    if directory is None or doubles is None or len(directory) < 4:
        return {}
    found: dict[int, float] = {}
    count = int(directory[3])
    for i in range(4, min(4 + 4 * count, len(directory) - 3), 4):
        key, location, _, index = (int(v) for v in directory[i : i + 4])
        if location == _GEO_DOUBLES and 0 <= index < len(doubles):
            found[key] = float(doubles[index])
    return found


def _geokeys(tags: Any) -> dict[int, int]:
    """The GeoKeyDirectory's short-valued keys (model type, units); the rest are not needed here."""
    directory = _tag(tags, _GEOKEYS)
    if directory is None or len(directory) < 4:
        return {}
    keys: dict[int, int] = {}
    count = int(directory[3])
    for i in range(4, min(4 + 4 * count, len(directory) - 3), 4):
        key, location, _, value = (int(v) for v in directory[i : i + 4])
        if location == 0:
            keys[key] = value
    return keys
