"""Point clouds: x y z text and LAS/LAZ readers, and rasterisation to a DSM.

This module also holds the input checks that readers.py shares (format detection by content, file and
resolution limits): readers.py imports this module for its dispatch, so they live on this side.

Axes (ARCHITECTURE.md, "Geometry CLI and JSON"): x east, y north, z up, in metres.
"""

from __future__ import annotations

import enum
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from geometry.grid import FloatGrid, HeightGrid
from shared.errors import DominusError, InvalidInput, PayloadTooLarge, UnsupportedMediaType

FloatArray = npt.NDArray[np.float64]
PointIndex = npt.NDArray[np.int64]  # per point: its raster cell (row * cols + col), or its input position

# Limits. A roof DSM pixel is between 1 cm (survey drones) and 5 m (coarse national LiDAR); outside
# that a "resolution" is a unit mistake (degrees, millimetres), not a roof.
MIN_RESOLUTION = 0.01
MAX_RESOLUTION = 5.0
# Heights in metres above the datum: the Dead Sea shore to above Everest, plus margin.
MIN_HEIGHT = -500.0
MAX_HEIGHT = 9000.0
# 16M cells is a 400 m x 400 m site at 10 cm (~128 MB as float64); 5M points is a dense drone scan of a
# large house. Both keep one analysis within a Lambda's memory and time.
MAX_CELLS = 16_000_000
MAX_POINTS = 5_000_000
# x and y in metres of a projected CRS: UTM northings stay under 1e7, state plane feet under 3e7. A
# larger coordinate is not a place on Earth in metres (or it is ±1e308 junk), and the grid maths would
# overflow on it.
MAX_COORDINATE = 1e8
MIN_POINTS = 10
# A text cloud larger than this many bytes per allowed point is refused before it is read.
TEXT_BYTES_PER_POINT = 256
# Suggested rasterisation: 1.5 x the nominal point spacing puts about two points in every cell.
SPACING_FACTOR = 1.5
MIN_SUGGESTED_RESOLUTION = 0.05
MAX_SUGGESTED_RESOLUTION = 1.0
# LAS classes that are never surfaces: 7 low noise, 18 high noise (birds, multipath); a DSM takes the
# highest point per cell, so one such point would make a spike.
LAS_NOISE_CLASSES = (7, 18)

RASTER_FORMATS = "a GeoTIFF DSM (.tif, .tiff) or a NumPy .npy height array"
POINT_FORMATS = (
    "a point cloud as x y z text (.xyz, .pts, .txt; numbers separated by spaces, tabs or commas) or LAS/LAZ "
    "(.las, .laz)"
)
ALL_FORMATS = f"{RASTER_FORMATS}, or {POINT_FORMATS}"

_HEAD_BYTES = 64 * 1024
_MAX_HEADER_LINES = 20  # non-numeric lines allowed before the first x y z line (titles, column names)
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
_NPY_MAGIC = b"\x93NUMPY"
_LAS_MAGIC = b"LASF"  # LAS and LAZ alike
_UTF8_BOM = b"\xef\xbb\xbf"


class InputFormat(enum.Enum):
    """What a file holds, decided from its content (an upload's name may be wrong)."""

    GEOTIFF = "GeoTIFF"
    NPY = "NumPy .npy"
    LAS = "LAS/LAZ"
    TEXT = "x y z text"
    # Text that would parse as numbers but is not x y z points: refused, never misread as a cloud.
    ASCII_GRID = "ESRI ASCII grid"
    PLY = "PLY"
    UNKNOWN = "unknown"

    @property
    def is_raster(self) -> bool:
        return self in (InputFormat.GEOTIFF, InputFormat.NPY)

    @property
    def is_points(self) -> bool:
        return self in (InputFormat.LAS, InputFormat.TEXT)


def check_file(path: Path) -> int:
    """The file's size; a missing, unreadable or empty input is a 422 (it is a CLI/API input, not a route)."""
    try:
        if not path.exists():
            raise InvalidInput(f"input file not found: {path}; check the path")
        if not path.is_file():
            raise InvalidInput(f"{path} is not a file; give a DSM raster or point cloud file")
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    if size == 0:
        raise InvalidInput(f"{path.name} is empty (0 bytes); upload the whole file")
    return size


def detect_format(path: Path) -> InputFormat:
    """The input's format from its first bytes: TIFF, NPY and LAS magic, else x y z text."""
    check_file(path)
    try:
        with path.open("rb") as f:
            head = f.read(_HEAD_BYTES)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    if head[:4] in _TIFF_MAGIC:
        return InputFormat.GEOTIFF
    if head.startswith(_NPY_MAGIC):
        return InputFormat.NPY
    if head.startswith(_LAS_MAGIC):
        return InputFormat.LAS
    if b"\x00" not in head:
        text = _decode(head)
        if len(head) == _HEAD_BYTES:  # the last line may be cut mid-number
            text = text[: text.rfind("\n") + 1]
        first_word = text.lstrip().split(maxsplit=1)[0].lower() if text.strip() else ""
        if first_word in _OTHER_TEXT_FORMATS:
            return _OTHER_TEXT_FORMATS[first_word]
        if _first_data_line(text) is not None:
            return InputFormat.TEXT
    return InputFormat.UNKNOWN


_OTHER_TEXT_FORMATS = {
    "ncols": InputFormat.ASCII_GRID,
    "nrows": InputFormat.ASCII_GRID,
    "ply": InputFormat.PLY,
}


def unsupported_hint(fmt: InputFormat) -> str:
    """How to convert a recognised but unsupported format, for a 415's message ("" if none)."""
    if fmt is InputFormat.ASCII_GRID:
        return "convert it to GeoTIFF (e.g. gdal_translate in.asc out.tif), then "
    if fmt is InputFormat.PLY:
        return "export it as x y z text or LAS (e.g. with CloudCompare or PDAL), then "
    return ""


def check_resolution(value: float, *, what: str = "--resolution") -> float:
    """A pixel size in metres within MIN_RESOLUTION..MAX_RESOLUTION, else a 422 that says the range."""
    try:
        res = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must be a number of metres per pixel, not {value!r}") from exc
    if not (math.isfinite(res) and MIN_RESOLUTION <= res <= MAX_RESOLUTION):
        raise InvalidInput(
            f"{what} {value!r} is not a usable pixel size: it must be within "
            f"{MIN_RESOLUTION}..{MAX_RESOLUTION} m per pixel (a value in feet, degrees or millimetres "
            "must be converted to metres)"
        )
    return res


_RASTER_HEIGHT_HINT = "if a value marks missing data, use -9999 or NaN, or set the GeoTIFF's GDAL_NODATA tag"


def check_heights(z: npt.NDArray[np.floating[Any]], name: str, *, hint: str = _RASTER_HEIGHT_HINT) -> None:
    """Refuse heights that cannot be metres; NaN (no data) is allowed and skipped."""
    finite = z[np.isfinite(z)]
    if finite.size and (finite.min() < MIN_HEIGHT or finite.max() > MAX_HEIGHT):
        lo, hi = float(finite.min()), float(finite.max())
        raise InvalidInput(
            f"{name}: heights run from {lo:g} to {hi:g}, outside {MIN_HEIGHT:g}..{MAX_HEIGHT:g} m; heights must "
            f"be metres ({hint})"
        )


# --- point clouds -------------------------------------------------------------------------------------

_S = TypeVar("_S", bound=np.generic)


@dataclass(frozen=True, eq=False)
class PointCloud:
    """Points in metres: `xyz[:, 0]` east, `[:, 1]` north, `[:, 2]` up.

    Readers drop points that cannot be used (non-finite, LAS noise); `source_index` then says where each
    kept point was in the input and `source_count` how many the input had, so per-point results can be
    written back one per input point (`to_input_order`).
    """

    xyz: FloatArray
    source_index: PointIndex | None = None
    source_count: int | None = None

    def __post_init__(self) -> None:
        if self.xyz.ndim != 2 or self.xyz.shape[1] != 3:
            raise ValueError(f"a point cloud is an (n, 3) array, not {self.xyz.shape}")
        if self.source_index is not None and self.source_index.shape != (len(self),):
            raise ValueError("source_index needs one entry per point")

    def __len__(self) -> int:
        return int(self.xyz.shape[0])

    @property
    def input_count(self) -> int:
        """How many points the input file had, dropped ones included."""
        return len(self) if self.source_count is None else self.source_count

    def to_input_order(self, values: npt.NDArray[_S], fill: Any = -1) -> npt.NDArray[_S]:
        """Per-point `values` laid out one per input point, `fill` where the reader dropped a point."""
        if values.shape[:1] != (len(self),):
            raise ValueError(f"expected {len(self)} values, got {values.shape[:1]}")
        if self.source_index is None:
            return values
        out = np.full((self.input_count, *values.shape[1:]), fill, dtype=values.dtype)
        out[self.source_index] = values
        return out


def read_points(path: Path, *, max_points: int = MAX_POINTS) -> PointCloud:
    """Read x y z text (`.xyz`, `.pts`, `.txt`) or LAS/LAZ, chosen by content, not by name.

    Text: one point per line, separated by whitespace or commas; columns after z are ignored; `#` comment
    lines, blank lines and up to 20 leading header lines (column names, a PTS point count) are skipped.
    LAS/LAZ: scaled x y z; points classed as noise (7, 18) or withheld are dropped. Points with a
    non-finite coordinate are dropped. Heights are taken as metres.
    """
    fmt = detect_format(path)
    if fmt is InputFormat.TEXT:
        xyz = _read_text(path, max_points)
    elif fmt is InputFormat.LAS:
        xyz, usable = _read_las(path, max_points)
        return _cloud(xyz, usable, path.name)
    elif fmt.is_raster:
        raise UnsupportedMediaType(f"{path.name} is a {fmt.value} raster, not a point cloud: give {POINT_FORMATS}")
    elif fmt is InputFormat.UNKNOWN:
        raise UnsupportedMediaType(
            f"{path.name} is not a point cloud (its content was checked, not its name): give {POINT_FORMATS}"
        )
    else:
        raise UnsupportedMediaType(
            f"{path.name} is in {fmt.value} format, which is not read here: {unsupported_hint(fmt)}give {POINT_FORMATS}"
        )
    return _cloud(xyz, None, path.name)


def _cloud(xyz: FloatArray, usable: npt.NDArray[np.bool_] | None, name: str) -> PointCloud:
    keep = np.isfinite(xyz).all(axis=1)
    if usable is not None:
        keep &= usable
    n_input = len(xyz)
    if n_input == 0:
        raise InvalidInput(f"{name} has no points; a point cloud needs at least {MIN_POINTS}")
    if not keep.any():
        raise InvalidInput(f"{name}: none of its {n_input} points has finite x y z (all NaN or infinite)")
    if int(keep.sum()) < MIN_POINTS:
        raise InvalidInput(
            f"{name}: only {int(keep.sum())} usable points; a point cloud needs at least {MIN_POINTS} "
            "(check the columns are x y z)"
        )
    check_heights(xyz[keep, 2], name, hint="z must be height above the datum in metres, not feet or a code")
    _check_coordinates(xyz[keep, :2], name)
    if keep.all():
        return PointCloud(np.ascontiguousarray(xyz, dtype=np.float64))
    return PointCloud(
        np.ascontiguousarray(xyz[keep], dtype=np.float64),
        source_index=np.flatnonzero(keep).astype(np.int64),
        source_count=n_input,
    )


def _check_coordinates(xy: FloatArray, name: str) -> None:
    """Refuse x y coordinates that cannot be metres in a projected CRS (and would overflow the grid)."""
    worst = float(np.abs(xy).max())
    if worst > MAX_COORDINATE:
        raise InvalidInput(
            f"{name}: an x or y coordinate reaches {worst:.3g}, beyond ±{MAX_COORDINATE:g}; x and y must be metres "
            "in a projected CRS (e.g. UTM): reproject the cloud, or remove the points with wrong coordinates"
        )


def _too_many(name: str, count: int, max_points: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{name} has {count} points; the limit is {max_points} points: thin or crop the cloud "
        "(e.g. keep one roof) and upload again"
    )


def _decode(data: bytes) -> str:
    # Numbers are ASCII; latin-1 never fails, so odd bytes in a header or comment cannot stop a read.
    return data.removeprefix(_UTF8_BOM).decode("latin-1")


def _xyz_of(line: str) -> tuple[float, float, float] | None:
    parts = line.replace(",", " ").split()
    if len(parts) < 3:
        return None
    try:
        return float(parts[0]), float(parts[1]), float(parts[2])
    except ValueError:
        return None


def _first_data_line(text: str) -> int | None:
    """Offset of the first x y z line, past comments, blanks and a few header lines; None if there is none."""
    pos, headers = 0, 0
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line = text[pos:end].strip()
        if line and not line.startswith("#"):
            if _xyz_of(line) is not None:
                return pos
            headers += 1
            if headers > _MAX_HEADER_LINES:
                return None
        pos = end + 1
    return None


_COMMENT_LINE = re.compile(r"(?m)^[ \t]*#.*(?:\n|$)")
_BLANK_LINE = re.compile(r"\n[ \t\r]*(?=\n)")


def _read_text(path: Path, max_points: int) -> FloatArray:
    size = path.stat().st_size
    if size > max_points * TEXT_BYTES_PER_POINT:
        raise PayloadTooLarge(
            f"{path.name} is {size / 1e6:.0f} MB of text; the limit is {max_points} points "
            f"(about {max_points * TEXT_BYTES_PER_POINT / 1e6:.0f} MB): thin or crop the cloud"
        )
    text = _decode(path.read_bytes())
    start = _first_data_line(text)
    if start is None:
        raise UnsupportedMediaType(f"{path.name} has no x y z line: give {POINT_FORMATS}")
    xyz = _parse_fast(text[start:], path.name, max_points)
    return _parse_lines(text, path.name, max_points) if xyz is None else xyz


def _parse_fast(body: str, name: str, max_points: int) -> FloatArray | None:
    """Whole-body parse with one `np.fromstring` (C speed); None when lines differ, for `_parse_lines`."""
    if "#" in body:
        body = _COMMENT_LINE.sub("", body)
    if "," in body:
        body = body.replace(",", " ")
    body = body.strip()
    if _BLANK_LINE.search(body):
        body = _BLANK_LINE.sub("", body)
    n_lines = body.count("\n") + 1
    if n_lines > max_points:
        raise _too_many(name, n_lines, max_points)
    first_end = body.find("\n")
    n_cols = len(body[: first_end if first_end >= 0 else len(body)].split())
    try:
        flat = np.fromstring(body, dtype=np.float64, sep=" ")
    except ValueError:  # a word among the numbers: the line parser says where
        return None
    if flat.size != n_lines * n_cols:  # ragged columns: counting alone cannot align them
        return None
    return np.ascontiguousarray(flat.reshape(n_lines, n_cols)[:, :3])


def _parse_lines(text: str, name: str, max_points: int) -> FloatArray:
    """Line by line: ragged columns, words after z; names the first bad line after the header."""
    rows: list[tuple[float, float, float]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        xyz = _xyz_of(line)
        if xyz is None:
            if not rows:
                continue  # a header line
            raise InvalidInput(f"{name} line {lineno} is not x y z numbers: {line[:80]!r}; fix or remove that line")
        rows.append(xyz)
        if len(rows) > max_points:
            raise _too_many(name, len(rows), max_points)
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


_LAS_MIN_HEADER = 227  # LAS 1.0-1.2 public header block; 1.3 adds 8 bytes, 1.4 another 140
_LAS_VLR_HEADER = 54
_LAS_EVLR_HEADER = 60


def _las_head(path: Path) -> bytes:
    with path.open("rb") as f:
        head = f.read(375)
    if len(head) < _LAS_MIN_HEADER:
        raise InvalidInput(f"{path.name} is a truncated LAS/LAZ file ({len(head)} bytes); upload the whole file")
    return head


def _las_count(head: bytes) -> int:
    """The point count of a LAS public header block (LAS 1.4's 64-bit count where it is set)."""
    (legacy_count,) = struct.unpack_from("<I", head, 107)
    if head[25] >= 4 and len(head) >= 375:
        (count64,) = struct.unpack_from("<Q", head, 247)
        return int(count64 or legacy_count)
    return int(legacy_count)


def las_point_count(path: Path) -> int:
    """How many points a LAS/LAZ file's header says it holds (before its points are read)."""
    return _las_count(_las_head(path))


def text_line_count(path: Path) -> int:
    """The lines of a text file: an upper bound on the points it holds (headers and comments count)."""
    lines, tail = 0, b""
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            lines += chunk.count(b"\n")
            tail = chunk[-1:]
    return lines + (1 if tail not in (b"", b"\n") else 0)


def _check_las_header(path: Path, max_points: int) -> None:
    """Check the public header block's counts against the file's size before laspy trusts them.

    A damaged count (VLRs, points) otherwise makes laspy loop or allocate for billions of records.
    """
    size = path.stat().st_size
    head = _las_head(path)
    header_size, data_offset, n_vlrs = struct.unpack_from("<HII", head, 94)
    point_format, record_length = struct.unpack_from("<BH", head, 104)
    count = _las_count(head)
    if head[25] >= 4 and len(head) >= 375:
        evlr_offset, n_evlrs = struct.unpack_from("<QI", head, 235)
        if n_evlrs and (evlr_offset > size or n_evlrs * _LAS_EVLR_HEADER > size - evlr_offset):
            raise InvalidInput(f"{path.name} is a damaged LAS/LAZ file: its extended VLRs lie past its end")
    if not header_size <= data_offset <= size or n_vlrs * _LAS_VLR_HEADER > data_offset - header_size:
        raise InvalidInput(f"{path.name} is a damaged LAS/LAZ file: its header and VLRs do not fit before its points")
    if count > max_points:
        raise _too_many(path.name, count, max_points)
    compressed = point_format & 0xC0  # LAZ marks compression in the top bits of the format id
    if compressed:
        _check_laz_chunk_table(path, data_offset, size, count)
    elif count * record_length > size - data_offset:
        raise InvalidInput(
            f"{path.name} is a truncated LAS file: its header promises {count} points, more than the file holds"
        )


def _check_laz_chunk_table(path: Path, data_offset: int, size: int, count: int) -> None:
    """LAZ point data opens with the offset of a chunk table; lazrs sizes buffers from that table and
    aborts the whole process (not an exception) when a damaged one asks for gigabytes, so check it first.
    """
    damaged = InvalidInput(f"{path.name} is a damaged LAZ file: its chunk table is missing or corrupt")
    with path.open("rb") as f:
        f.seek(data_offset)
        raw = f.read(8)
        if len(raw) < 8:
            raise damaged
        (table_offset,) = struct.unpack("<q", raw)
        if table_offset == -1:  # written last by a streaming writer: the file's final 8 bytes hold it
            f.seek(size - 8)
            (table_offset,) = struct.unpack("<q", f.read(8))
        if not data_offset + 8 <= table_offset <= size - 8:
            raise damaged
        f.seek(table_offset)
        version, chunks = struct.unpack("<II", f.read(8))
    if version != 0 or chunks > max(count, 1):
        raise damaged


_LASZIP_VLR = ("laszip encoded", 22204)
_LASZIP_VARIABLE_CHUNKS = 0xFFFFFFFF


def _check_laz_chunk_size(name: str, vlrs: Any, max_points: int) -> None:
    """lazrs allocates a whole chunk (chunk size x record length) up front: a damaged size aborts the process."""
    for vlr in vlrs:
        if (getattr(vlr, "user_id", None), getattr(vlr, "record_id", None)) != _LASZIP_VLR:
            continue
        data = bytes(getattr(vlr, "record_data", b""))
        if len(data) < 16:
            raise InvalidInput(f"{name} is a damaged LAZ file: its LASzip record is too short")
        (chunk_size,) = struct.unpack_from("<I", data, 12)
        if chunk_size != _LASZIP_VARIABLE_CHUNKS and chunk_size > max(max_points, 50_000):
            raise InvalidInput(
                f"{name}: its LAZ chunks of {chunk_size} points are larger than the {max_points}-point limit; "
                "the file is damaged, or re-compress it with the default chunk size (e.g. laszip or PDAL)"
            )


def _read_las(path: Path, max_points: int) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    import laspy  # only point-cloud requests pay for this import

    _check_las_header(path, max_points)
    try:
        with laspy.open(path) as reader:
            count = int(reader.header.point_count)
            if count > max_points:
                raise _too_many(path.name, count, max_points)
            _check_laz_chunk_size(path.name, reader.header.vlrs, max_points)
            las = reader.read()
        xyz = np.column_stack(
            [
                np.asarray(las.x, dtype=np.float64),
                np.asarray(las.y, dtype=np.float64),
                np.asarray(las.z, dtype=np.float64),
            ]
        )
        usable = ~np.isin(np.asarray(las.classification), LAS_NOISE_CLASSES) & ~np.asarray(las.withheld, dtype=bool)
    except (DominusError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # laspy raises many types for a damaged file; lazrs a Rust panic (a BaseException)
        raise InvalidInput(f"{path.name} could not be read as LAS/LAZ ({exc}); the file may be truncated") from exc
    return xyz.reshape(-1, 3), usable


# --- rasterisation -------------------------------------------------------------------------------------


def nominal_spacing(cloud: PointCloud) -> float:
    """Nominal point spacing sqrt(area / points), in metres, over the area the points actually cover.

    The covered area is counted as occupied cells of twice the spacing (about four points a cell, so
    interior cells are nearly all occupied), iterated from the bounding box's estimate: unlike the
    bounding box, this is not fooled by L-shaped or scattered footprints.
    """
    n = len(cloud)
    if n < 2:
        return MAX_SUGGESTED_RESOLUTION / SPACING_FACTOR
    xy = cloud.xyz[:, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    width, height = float(hi[0] - lo[0]), float(hi[1] - lo[1])
    spacing = float(np.clip(math.sqrt(max(width * height, 1e-6) / n), 0.005, 5.0))
    for _ in range(8):
        cell = 2.0 * spacing
        cols = int(width / cell) + 1
        rows = int(height / cell) + 1
        ids = (((lo[1] + height - xy[:, 1]) / cell).astype(np.int64)).clip(0, rows - 1) * cols + (
            ((xy[:, 0] - lo[0]) / cell).astype(np.int64)
        ).clip(0, cols - 1)
        if rows * cols <= 8 * n:
            seen = np.zeros(rows * cols, dtype=bool)
            seen[ids] = True
            occupied = int(seen.sum())
        else:
            occupied = int(np.unique(ids).size)
        new = math.sqrt(occupied * cell * cell / n)
        if abs(new - spacing) <= 0.01 * spacing:
            return new
        spacing = new
    return spacing


def suggest_resolution(cloud: PointCloud) -> float:
    """A DSM pixel for this cloud: 1.5 x its nominal spacing, clamped to 0.05..1 m, rounded to 1 mm."""
    res = SPACING_FACTOR * nominal_spacing(cloud)
    return round(float(np.clip(res, MIN_SUGGESTED_RESOLUTION, MAX_SUGGESTED_RESOLUTION)), 3)


def points_to_grid(
    cloud: PointCloud, resolution: float | None = None, *, max_cells: int = MAX_CELLS
) -> tuple[HeightGrid, PointIndex]:
    """Rasterise to a DSM and say which cell each point fell in.

    The grid's north-west corner is (min x, max y): row 0 holds the northernmost points, column 0 the
    westernmost. A cell's height is its highest point (a DSM is the top surface: roof over the wall and
    ground below its eave). Cells without points are NaN, except holes inside the data (an empty cell with
    data on at least 6 of its 8 sides), which take the median of their neighbours so sparse clouds don't
    riddle roofs (see `_fill_holes`).
    `resolution` None means `suggest_resolution(cloud)`. The index is `row * cols + col` per point (int64).
    """
    if len(cloud) == 0:
        raise InvalidInput("the point cloud has no points")
    if not np.isfinite(cloud.xyz).all():
        raise InvalidInput("the point cloud has non-finite coordinates; drop them first (read_points does)")
    _check_coordinates(cloud.xyz[:, :2], "the point cloud")
    _check_extent(cloud, max_cells)
    res = suggest_resolution(cloud) if resolution is None else check_resolution(resolution)
    x, y, z = cloud.xyz[:, 0], cloud.xyz[:, 1], cloud.xyz[:, 2]
    x0, y0 = float(x.min()), float(y.max())
    width, height = float(x.max()) - x0, y0 - float(y.min())
    cols, rows = int(width / res) + 1, int(height / res) + 1
    if rows * cols > max_cells:
        raise PayloadTooLarge(
            f"the cloud spans {width:.0f} m x {height:.0f} m: {rows} x {cols} cells at {res} m, over the limit "
            f"of {max_cells} cells; pass a coarser --resolution or crop the cloud to the building"
        )
    col = ((x - x0) / res).astype(np.int64).clip(0, cols - 1)
    row = ((y0 - y) / res).astype(np.int64).clip(0, rows - 1)
    index = row * cols + col
    top = np.full(rows * cols, -np.inf)
    np.maximum.at(top, index, z)
    top[np.isneginf(top)] = np.nan
    return HeightGrid(_fill_holes(_despike(top.reshape(rows, cols))), res, res), index


def _check_extent(cloud: PointCloud, max_cells: int) -> None:
    """Refuse a cloud that spans more than `max_cells` even at the coarsest pixel, before a resolution is
    suggested for it (which counts cells over its extent)."""
    span = cloud.xyz[:, :2].max(axis=0) - cloud.xyz[:, :2].min(axis=0)
    width, height = float(span[0]), float(span[1])
    coarsest = (int(width / MAX_RESOLUTION) + 1) * (int(height / MAX_RESOLUTION) + 1)
    if coarsest > max_cells:
        raise PayloadTooLarge(
            f"the cloud spans {width:,.0f} m x {height:,.0f} m: over the limit of {max_cells:,} cells even at "
            f"{MAX_RESOLUTION:g} m per cell; crop the cloud to the building (or remove stray points far from it)"
        )


# Ordered so that neighbour i faces neighbour 7 - i across the cell.
_NEIGHBOURS = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]
_MIN_NEIGHBOURS = 6  # outside a straight edge, a corner or a one-cell notch a cell has at most 5


_SPIKE_M = 1.0  # a cell this far above (or below) nearly all its neighbours holds a stray point


def _despike(z: FloatGrid) -> FloatGrid:
    """Empty the cells that stand alone, more than `_SPIKE_M` above or below every neighbour with data:
    a bird or a multipath return (the cell keeps its highest point, so one stray point is the cell),
    or a lone low return, which would sink the ground estimate of the whole tile. `_fill_holes` then
    fills them from around. An eave, a ridge or a chimney has a neighbour at its own height, and stays."""
    rows, cols = z.shape
    if rows < 3 or cols < 3:
        return z
    centre = z[1:-1, 1:-1]
    above = np.zeros(centre.shape, dtype=np.int32)
    below = np.zeros(centre.shape, dtype=np.int32)
    seen = np.zeros(centre.shape, dtype=np.int32)
    for dr, dc in _NEIGHBOURS:
        other = z[1 + dr : rows - 1 + dr, 1 + dc : cols - 1 + dc]
        known = np.isfinite(other)
        seen += known
        above += known & (centre - other > _SPIKE_M)
        below += known & (other - centre > _SPIKE_M)
    stray = np.isfinite(centre) & (seen >= 4) & ((above >= seen) | (below >= seen))
    out = z.copy()
    out[1:-1, 1:-1][stray] = np.nan
    return out


def _fill_holes(z: FloatGrid) -> FloatGrid:
    """Fill empty cells that have data on at least 6 of their 8 sides, in one pass over the original grid.

    The value is the median of the neighbours whose opposite neighbour also has data: symmetric pairs
    make it exact on a plane (a roof facet), and the median keeps a step (an eave over the ground) a
    step. One pass, so a fill never feeds another, and the outline never grows.
    """
    rows, cols = z.shape
    if rows < 3 or cols < 3:
        return z
    valid = np.isfinite(z)
    count = np.zeros((rows - 2, cols - 2), dtype=np.uint8)
    for dr, dc in _NEIGHBOURS:
        count += valid[1 + dr : rows - 1 + dr, 1 + dc : cols - 1 + dc]
    hole_r, hole_c = np.nonzero(~valid[1:-1, 1:-1] & (count >= _MIN_NEIGHBOURS))
    if hole_r.size == 0:
        return z
    hole_r += 1
    hole_c += 1
    around = np.stack([z[hole_r + dr, hole_c + dc] for dr, dc in _NEIGHBOURS])
    around[np.isnan(around[::-1])] = np.nan  # keep complete opposite pairs only
    out = z.copy()
    out[hole_r, hole_c] = np.nanmedian(around, axis=0)  # >= 2 complete pairs when 6 of 8 have data
    return out
