"""Readers: GeoTIFF / .npy DSMs, roof masks, x y z text and LAS/LAZ clouds, rasterisation, bad input.

Every file is written into tmp_path by the test itself (no network, no shared data). GeoTIFFs carry the
tags GDAL writes: ModelPixelScale, ModelTiepoint, GDAL_NODATA as an ASCII string, GeoKeyDirectory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import laspy
import numpy as np
import pytest
import tifffile

from geometry.grid import HeightGrid
from geometry.limits import InputSize
from geometry.points import (
    MAX_SUGGESTED_RESOLUTION,
    PointCloud,
    detect_format,
    nominal_spacing,
    points_to_grid,
    read_points,
    suggest_resolution,
)
from geometry.readers import InputFormat, input_size, open_input, read_dsm, read_height_grid, read_mask
from shared.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

# --- helpers -------------------------------------------------------------------------------------------

PROJECTED_METRES = (1, 1, 0, 2, 1024, 0, 1, 1, 3076, 0, 1, 9001)
DATA = Path(__file__).resolve().parents[1] / "data" / "geometry"


def write_geotiff(
    path: Path,
    data: np.ndarray[Any, Any],
    *,
    scale: tuple[float, float] | None = (0.5, 0.25),
    nodata: str | None = "-9999",
    transform: tuple[float, ...] | None = None,
    geokeys: tuple[int, ...] | None = PROJECTED_METRES,
    **kwargs: Any,
) -> Path:
    """A GeoTIFF as GDAL writes one: pixel scale + tiepoint (or a transformation), nodata as ASCII."""
    tags: list[tuple[int, Any, int, Any, bool]] = []
    if scale is not None:
        tags.append((33550, 12, 3, (scale[0], scale[1], 0.0), True))
        tags.append((33922, 12, 6, (0.0, 0.0, 0.0, 419181.85, 612449.0, 0.0), True))
    if transform is not None:
        tags.append((34264, 12, 16, transform, True))
    if geokeys is not None:
        tags.append((34735, 3, len(geokeys), geokeys, True))
    if nodata is not None:
        tags.append((42113, "s", 0, nodata, True))
    tifffile.imwrite(path, data, extratags=tags, **kwargs)
    return path


def transformation(a: float, b: float, e: float, f: float) -> tuple[float, ...]:
    """ModelTransformation: x = a*col + b*row + 1000, y = e*col + f*row + 2000."""
    return (a, b, 0.0, 1000.0, e, f, 0.0, 2000.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)


def roof(rows: int = 6, cols: int = 8) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Heights 10.0, 10.1, ... row by row: every cell distinct, so orientation is checkable."""
    return 10.0 + 0.1 * np.arange(rows * cols, dtype=np.float64).reshape(rows, cols)


def write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def lattice(spacing: float, nx: int, ny: int, z: float = 5.0) -> np.ndarray[Any, np.dtype[np.float64]]:
    xs, ys = np.meshgrid(np.arange(nx) * spacing, np.arange(ny) * spacing)
    return np.column_stack([xs.ravel(), ys.ravel(), np.full(xs.size, z)])


def write_las(
    path: Path,
    xyz: np.ndarray[Any, Any],
    classification: np.ndarray[Any, Any] | None = None,
    *,
    version: str = "1.2",
    point_format: int = 3,
) -> Path:
    header = laspy.LasHeader(point_format=point_format, version=version)
    header.scales = np.array([0.001, 0.001, 0.001])
    header.offsets = xyz.min(axis=0) if len(xyz) else np.zeros(3)
    las = laspy.LasData(header)
    las.x, las.y, las.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    if classification is not None:
        las.classification = classification.astype(np.uint8)
    las.write(path)
    return path


# --- GeoTIFF -------------------------------------------------------------------------------------------


def test_float32_geotiff_reads_non_square_pixels_and_the_gdal_nodata_tag(tmp_path: Path) -> None:
    # Given a float32 DSM with 0.5 x 0.25 m pixels and -9999 nodata, as GDAL writes it
    data = roof().astype(np.float32)
    data[2, 3] = -9999
    path = write_geotiff(tmp_path / "dsm.tif", data)
    # When it is read
    grid = read_dsm(path)
    # Then the pixel size comes from the tags, nodata is NaN and heights are float64 metres
    assert isinstance(grid, HeightGrid)
    assert (grid.dx, grid.dy) == (0.5, 0.25)
    assert grid.z.dtype == np.float64 and grid.shape == (6, 8)
    assert np.isnan(grid.z[2, 3]) and int(np.isnan(grid.z).sum()) == 1
    np.testing.assert_allclose(grid.z[0, :3], [10.0, 10.1, 10.2], atol=1e-5)


def test_float64_geotiff_keeps_nan_as_nodata_without_a_tag(tmp_path: Path) -> None:
    data = roof()
    data[0, 0] = np.nan
    grid = read_dsm(write_geotiff(tmp_path / "dsm.tif", data, nodata=None))
    assert np.isnan(grid.z[0, 0]) and grid.z[5, 7] == pytest.approx(data[5, 7])


def test_int16_geotiff_is_converted_with_its_own_nodata(tmp_path: Path) -> None:
    data = (roof() * 10).astype(np.int16)
    data[1, 1] = -32768
    data[1, 2] = -9999  # -9999 is nodata even when the tag names another value
    grid = read_dsm(write_geotiff(tmp_path / "dsm.tif", data, nodata="-32768"))
    assert grid.z.dtype == np.float64
    assert np.isnan(grid.z[1, 1]) and np.isnan(grid.z[1, 2])
    assert grid.z[0, 1] == 101.0


def test_float32_nodata_tag_is_compared_in_the_stored_type(tmp_path: Path) -> None:
    data = roof().astype(np.float32)
    data[3, 3] = np.float32(-3.4028234663852886e38)
    grid = read_dsm(write_geotiff(tmp_path / "dsm.tif", data, nodata="-3.4028234663852886e+38\x00"))
    assert np.isnan(grid.z[3, 3]) and int(np.isnan(grid.z).sum()) == 1


def test_big_endian_geotiff_with_a_wrong_name_is_read_by_content(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "upload.bin", roof().astype(np.float32), byteorder=">")
    assert detect_format(path) is InputFormat.GEOTIFF
    assert read_dsm(path).shape == (6, 8)


def test_north_up_transformation_gives_the_pixel_size(tmp_path: Path) -> None:
    path = write_geotiff(
        tmp_path / "dsm.tif", roof(), scale=None, transform=transformation(0.3, 0.0, 0.0, -0.2), nodata=None
    )
    grid = read_dsm(path)
    assert (grid.dx, grid.dy) == pytest.approx((0.3, 0.2))
    assert grid.z[0, 0] == pytest.approx(10.0)


def test_south_up_and_east_to_west_rasters_are_flipped_to_row_0_north(tmp_path: Path) -> None:
    data = roof()
    south_up = write_geotiff(tmp_path / "s.tif", data, scale=None, transform=transformation(0.3, 0, 0, 0.2))
    mirrored = write_geotiff(tmp_path / "w.tif", data, scale=None, transform=transformation(-0.3, 0, 0, -0.2))
    np.testing.assert_allclose(read_dsm(south_up).z, data[::-1])
    np.testing.assert_allclose(read_dsm(mirrored).z, data[:, ::-1])


def test_rotated_transformation_is_refused_with_how_to_fix(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "dsm.tif", roof(), scale=None, transform=transformation(0.3, 0.05, 0.05, -0.3))
    with pytest.raises(InvalidInput, match=r"rotated or sheared.*north-up"):
        read_dsm(path)


def test_resolution_overrides_the_tags_with_square_pixels(tmp_path: Path) -> None:
    grid = read_dsm(write_geotiff(tmp_path / "dsm.tif", roof()), resolution=0.2)
    assert (grid.dx, grid.dy) == (0.2, 0.2)


def test_first_band_of_a_multi_band_or_multi_page_file(tmp_path: Path) -> None:
    data = roof().astype(np.float32)
    bands = np.stack([data, data + 100, data + 200])
    separate = write_geotiff(tmp_path / "sep.tif", bands, photometric="minisblack", planarconfig="separate")
    contig = write_geotiff(
        tmp_path / "contig.tif", np.moveaxis(bands, 0, -1), photometric="minisblack", planarconfig="contig"
    )
    pages = write_geotiff(tmp_path / "pages.tif", bands, photometric="minisblack")
    for path in (separate, contig, pages):
        np.testing.assert_allclose(read_dsm(path).z, data, err_msg=path.name)


def test_feet_are_converted_to_metres(tmp_path: Path) -> None:
    us_feet = (1, 1, 0, 2, 1024, 0, 1, 1, 3076, 0, 1, 9002)  # international foot; heights follow
    grid = read_dsm(write_geotiff(tmp_path / "ft.tif", roof(), scale=(1.0, 2.0), geokeys=us_feet))
    assert (grid.dx, grid.dy) == pytest.approx((0.3048, 0.6096))
    assert grid.z[0, 0] == pytest.approx(10.0 * 0.3048)


def test_geographic_degrees_are_refused_unless_a_resolution_is_given(tmp_path: Path) -> None:
    geographic = (1, 1, 0, 1, 1024, 0, 1, 2)
    path = write_geotiff(tmp_path / "wgs84.tif", roof(), scale=(1e-6, 1e-6), geokeys=geographic)
    with pytest.raises(InvalidInput, match=r"degrees.*reproject.*--resolution"):
        read_dsm(path)
    assert read_dsm(path, resolution=0.1).dx == 0.1


def test_tiff_without_pixel_size_asks_for_a_resolution(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "plain.tif", roof(), scale=None, geokeys=None, nodata=None)
    with pytest.raises(InvalidInput, match="pass --resolution"):
        read_dsm(path)
    assert read_dsm(path, resolution=0.5).shape == (6, 8)


def test_a_compression_without_its_codec_is_a_415_that_says_how_to_resave(tmp_path: Path) -> None:
    pytest.importorskip("tifffile")
    from tifffile import TIFF

    try:
        TIFF.DECOMPRESSORS[5]
        pytest.skip("imagecodecs is installed: LZW decodes")
    except KeyError:
        pass
    path = write_geotiff(tmp_path / "lzw.tif", roof().astype(np.float32))
    raw = path.read_bytes()
    uncompressed = b"\x03\x01\x03\x00\x01\x00\x00\x00\x01\x00"  # tag 259 Compression, SHORT, 1, value 1
    assert raw.count(uncompressed) == 1
    path.write_bytes(raw.replace(uncompressed, b"\x03\x01\x03\x00\x01\x00\x00\x00\x05\x00"))  # LZW
    with pytest.raises(UnsupportedMediaType, match=r"LZW.*re-save.*Deflate"):
        read_dsm(path)


def test_an_rgb_photo_is_not_a_height_raster(tmp_path: Path) -> None:
    photo = tifffile.imwrite(tmp_path / "photo.tif", np.zeros((8, 8, 3), np.uint8), photometric="rgb")
    assert photo is None
    with pytest.raises(UnsupportedMediaType, match="RGB image"):
        read_dsm(tmp_path / "photo.tif", resolution=0.1)


def test_a_truncated_geotiff_is_a_422(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "dsm.tif", roof().astype(np.float32))
    path.write_bytes(path.read_bytes()[:120])
    with pytest.raises(InvalidInput, match="could not be read as a GeoTIFF"):
        read_dsm(path)


# --- .npy ----------------------------------------------------------------------------------------------


def test_npy_needs_a_resolution(tmp_path: Path) -> None:
    path = tmp_path / "dsm.npy"
    np.save(path, roof().astype(np.float32))
    with pytest.raises(InvalidInput, match=r"`--resolution` is required for \.npy"):
        read_dsm(path)
    grid = read_dsm(path, resolution=0.25)
    assert (grid.dx, grid.dy, grid.shape) == (0.25, 0.25, (6, 8))
    np.testing.assert_allclose(grid.z, roof(), atol=1e-5)


def test_npy_integers_nan_and_minus_9999(tmp_path: Path) -> None:
    ints = tmp_path / "ints.npy"
    np.save(ints, np.array([[1, 2], [3, -9999]], dtype=np.int32))
    grid = read_dsm(ints, resolution=1.0)
    assert grid.z[0, 1] == 2.0 and np.isnan(grid.z[1, 1])


def test_npy_of_the_wrong_shape_or_type_is_refused(tmp_path: Path) -> None:
    cube = tmp_path / "cube.npy"
    np.save(cube, np.zeros((2, 3, 4)))
    with pytest.raises(InvalidInput, match=r"3-D array.*2-D"):
        read_dsm(cube, resolution=0.5)
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([[{"a": 1}]], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidInput, match="not a plain numeric"):
        read_dsm(objects, resolution=0.5)
    text = tmp_path / "strings.npy"
    np.save(text, np.array([["a", "b"]]))
    with pytest.raises(UnsupportedMediaType, match="holds <U1 values"):
        read_dsm(text, resolution=0.5)


# --- bad input -----------------------------------------------------------------------------------------


def test_missing_file_is_a_422_not_a_404(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not found") as caught:
        read_dsm(tmp_path / "nope.tif")
    assert caught.value.status == 422
    with pytest.raises(InvalidInput, match="not a file"):
        open_input(tmp_path)


def test_empty_file_says_upload_the_whole_file(tmp_path: Path) -> None:
    (tmp_path / "empty.tif").write_bytes(b"")
    with pytest.raises(InvalidInput, match=r"empty \(0 bytes\)"):
        read_dsm(tmp_path / "empty.tif")


def test_renamed_text_file_is_not_a_raster(tmp_path: Path) -> None:
    path = write_text(tmp_path / "roof.tif", "Dear adjuster,\nplease find the roof attached.\n")
    with pytest.raises(UnsupportedMediaType, match=r"not a DSM raster.*GeoTIFF.*\.npy") as caught:
        read_dsm(path)
    assert caught.value.status == 415
    with pytest.raises(UnsupportedMediaType, match=r"neither.*GeoTIFF.*LAS/LAZ"):
        open_input(path)


def test_a_point_cloud_is_not_a_dsm(tmp_path: Path) -> None:
    path = write_text(tmp_path / "cloud.xyz", "0 0 1\n1 0 1\n0 1 1\n")
    with pytest.raises(UnsupportedMediaType, match="point cloud, not a DSM raster"):
        read_dsm(path)


def test_empty_raster_has_no_cells(tmp_path: Path) -> None:
    path = tmp_path / "empty.npy"
    np.save(path, np.zeros((0, 5), np.float32))
    with pytest.raises(InvalidInput, match="no cells"):
        read_dsm(path, resolution=0.5)


def test_all_nodata_says_no_height_data(tmp_path: Path) -> None:
    data = np.full((4, 4), -9999, np.float32)
    data[0, 0] = np.nan
    with pytest.raises(InvalidInput, match="no height data"):
        read_dsm(write_geotiff(tmp_path / "dsm.tif", data))


@pytest.mark.parametrize("resolution", [0.001, 0.0, -1.0, 10.0, float("nan"), float("inf")])
def test_absurd_resolution_says_the_range(tmp_path: Path, resolution: float) -> None:
    path = tmp_path / "dsm.npy"
    np.save(path, roof())
    with pytest.raises(InvalidInput, match=r"0\.01\.\.5\.0 m per pixel"):
        read_dsm(path, resolution=resolution)


def test_absurd_pixel_size_in_the_tags_says_the_range(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "dsm.tif", roof(), scale=(1e-5, 1e-5))
    with pytest.raises(InvalidInput, match=r"outside 0\.01\.\.5\.0 m per pixel.*--resolution"):
        read_dsm(path)


def test_too_many_cells_is_a_413_with_the_limit(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "dsm.tif", np.zeros((20, 20), np.float32))
    with pytest.raises(PayloadTooLarge, match="the limit is 100 cells") as caught:
        read_dsm(path, max_cells=100)
    assert caught.value.status == 413
    npy = tmp_path / "dsm.npy"
    np.save(npy, np.zeros((20, 20)))
    with pytest.raises(PayloadTooLarge, match="400 cells; the limit is 100"):
        read_dsm(npy, resolution=0.5, max_cells=100)


def test_infinite_heights_are_refused(tmp_path: Path) -> None:
    data = roof()
    data[1, 1] = np.inf
    with pytest.raises(InvalidInput, match=r"1 cells are infinite.*-9999 or NaN"):
        read_dsm(write_geotiff(tmp_path / "dsm.tif", data))


@pytest.mark.parametrize("height", [-600.0, 9500.0, 3.0e38])
def test_heights_outside_the_earth_are_refused(tmp_path: Path, height: float) -> None:
    data = roof().astype(np.float32)
    data[0, 0] = height
    with pytest.raises(InvalidInput, match=r"outside -500\.\.9000 m.*metres"):
        read_dsm(write_geotiff(tmp_path / "dsm.tif", data))


# --- masks ---------------------------------------------------------------------------------------------


def test_mask_geotiff_nonzero_is_roof_and_nodata_is_not(tmp_path: Path) -> None:
    mask = np.zeros((6, 8), np.int16)
    mask[1:4, 2:6] = 1
    mask[5, 7] = -1  # nonzero: roof
    mask[0, 0] = 255  # the tag's nodata: not roof
    roof_mask = read_mask(write_geotiff(tmp_path / "mask.tif", mask, nodata="255"), (6, 8))
    assert roof_mask.dtype == np.bool_
    assert int(roof_mask.sum()) == 13 and roof_mask[5, 7] and not roof_mask[0, 0]


def test_mask_npy_bool_and_float_with_nan(tmp_path: Path) -> None:
    bools = tmp_path / "b.npy"
    np.save(bools, np.eye(3, dtype=bool))
    assert int(read_mask(bools, (3, 3)).sum()) == 3
    floats = tmp_path / "f.npy"
    np.save(floats, np.array([[np.nan, 0.0, 0.5]]))
    assert read_mask(floats, (1, 3)).tolist() == [[False, False, True]]


def test_mask_on_another_grid_is_a_clear_422(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "mask.tif", np.ones((5, 5), np.int16))
    with pytest.raises(InvalidInput, match=r"5 x 5 cells but the DSM is 6 x 8.*same rows and columns"):
        read_mask(path, (6, 8))
    npy = tmp_path / "mask.npy"
    np.save(npy, np.ones((6, 7)))
    with pytest.raises(InvalidInput, match="DSM's grid"):
        read_mask(npy, (6, 8))


def test_mask_that_is_not_a_raster_is_a_415(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMediaType, match="not a mask raster"):
        read_mask(write_text(tmp_path / "mask.tif", "roof everywhere\n"), (6, 8))


def test_read_height_grid_attaches_the_mask(tmp_path: Path) -> None:
    dsm = write_geotiff(tmp_path / "dsm.tif", roof())
    mask = write_geotiff(tmp_path / "mask.tif", np.ones((6, 8), np.int16))
    grid = read_height_grid(dsm, mask=mask)
    assert grid.mask is not None and bool(grid.mask.all())


# --- dispatch ------------------------------------------------------------------------------------------


def test_open_input_dispatches_by_content(tmp_path: Path) -> None:
    raster = write_geotiff(tmp_path / "a.dat", roof())
    text = write_text(tmp_path / "b.dat", "".join(f"{i} {i % 3} 5\n" for i in range(20)))
    las = write_las(tmp_path / "c.dat", lattice(0.5, 4, 4))
    assert isinstance(open_input(raster), HeightGrid)
    assert isinstance(open_input(text), PointCloud)
    assert isinstance(open_input(las), PointCloud)
    with pytest.raises(InvalidInput, match=r"0\.01\.\.5\.0 m"):
        open_input(text, 50.0)


def test_read_height_grid_rasterises_a_cloud_and_refuses_a_mask_with_it(tmp_path: Path) -> None:
    path = write_text(tmp_path / "c.xyz", "\n".join(" ".join(map(str, p)) for p in lattice(0.25, 8, 8)))
    grid = read_height_grid(path, resolution=0.5)
    assert grid.shape == (4, 4) and grid.dx == 0.5
    with pytest.raises(InvalidInput, match="--mask applies to a DSM raster"):
        read_height_grid(path, mask=path)


# --- point text ----------------------------------------------------------------------------------------


def test_text_points_with_header_comments_extra_columns_and_crlf(tmp_path: Path) -> None:
    text = "# scan of 1 Main St\r\nX Y Z Intensity R G B\r\n" + "".join(
        f"{i}.5 {2 * i} {10 + i} 120 1 2 3\r\n" + ("# a comment\r\n\r\n" if i == 5 else "") for i in range(12)
    )
    cloud = read_points(write_text(tmp_path / "scan.xyz", text))
    assert len(cloud) == 12 and cloud.source_index is None
    np.testing.assert_allclose(cloud.xyz[3], [3.5, 6.0, 13.0])
    assert cloud.xyz.dtype == np.float64 and cloud.xyz.flags.c_contiguous


def test_text_points_with_commas_and_a_pts_count_line(tmp_path: Path) -> None:
    csv = write_text(tmp_path / "scan.txt", "x,y,z\n" + "".join(f"{i},{i + 1}, {i + 2},9\n" for i in range(10)))
    np.testing.assert_allclose(read_points(csv).xyz[9], [9, 10, 11])
    pts = write_text(tmp_path / "scan.pts", "10\n" + "".join(f"{i} {i} {i}\n" for i in range(10)))
    assert len(read_points(pts)) == 10


def test_ragged_columns_and_words_after_z_are_read_line_by_line(tmp_path: Path) -> None:
    lines = [f"{i} {i} {i}" + (" 7 8" if i % 2 else " ground") for i in range(12)]
    cloud = read_points(write_text(tmp_path / "scan.xyz", "\n".join(lines)))
    np.testing.assert_allclose(cloud.xyz[:, 2], np.arange(12))


def test_a_bad_line_after_the_data_starts_is_named(tmp_path: Path) -> None:
    lines = [f"{i} {i} {i}" for i in range(12)]
    lines[7] = "7 seven 7"
    with pytest.raises(InvalidInput, match=r"line 8 is not x y z numbers: '7 seven 7'"):
        read_points(write_text(tmp_path / "scan.xyz", "\n".join(lines)))


def test_fewer_than_ten_points_is_a_422(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"only 9 usable points.*at least 10"):
        read_points(write_text(tmp_path / "s.xyz", "".join(f"{i} 0 1\n" for i in range(9))))


def test_non_finite_points_are_dropped_and_mapped_back(tmp_path: Path) -> None:
    rows = [f"{i} {i} {i}" for i in range(12)]
    rows[2], rows[5] = "nan 1 1", "1 1 inf"
    cloud = read_points(write_text(tmp_path / "s.xyz", "\n".join(rows)))
    assert len(cloud) == 10 and cloud.input_count == 12
    labels = np.arange(10, dtype=np.int32)
    back = cloud.to_input_order(labels)
    assert back.dtype == np.int32 and back.tolist() == [0, 1, -1, 2, 3, -1, 4, 5, 6, 7, 8, 9]


def test_all_non_finite_is_a_422(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="none of its 12 points has finite"):
        read_points(write_text(tmp_path / "s.xyz", "nan nan nan\n" * 12))


def test_too_many_points_is_a_413_with_the_limit(tmp_path: Path) -> None:
    path = write_text(tmp_path / "s.xyz", "".join(f"{i} 0 1\n" for i in range(100)))
    with pytest.raises(PayloadTooLarge, match="100 points; the limit is 50 points"):
        read_points(path, max_points=50)
    with pytest.raises(PayloadTooLarge, match="limit is 1 points"):
        read_points(path, max_points=1)  # refused by size, before reading


def test_points_heights_must_be_metres(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"-500\.\.9000 m"):
        read_points(write_text(tmp_path / "s.xyz", "".join(f"{i} 0 12000\n" for i in range(12))))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("prose.xyz", b"These are not the points you are looking for.\nNor these.\n"),
        ("binary.las", bytes(range(256)) * 4),
        ("two_columns.txt", b"1 2\n3 4\n5 6\n" * 5),
    ],
)
def test_not_a_point_cloud_is_a_415(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnsupportedMediaType, match=r"not a point cloud.*x y z text.*LAS/LAZ"):
        read_points(path)


def test_a_raster_is_not_a_point_cloud(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMediaType, match="GeoTIFF raster, not a point cloud"):
        read_points(write_geotiff(tmp_path / "scan.xyz", roof()))


def test_100k_text_points_parse_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    xyz = rng.uniform([0, 0, 0], [30, 20, 10], size=(100_000, 3)) + np.array([500_000.0, 4_000_000.0, 0.0])
    path = tmp_path / "big.xyz"
    np.savetxt(path, np.column_stack([xyz, rng.integers(0, 255, (100_000, 2))]), fmt="%.3f", header="x y z i c")
    cloud = read_points(path)  # its speed is measured in bench/, not asserted here
    assert len(cloud) == 100_000
    np.testing.assert_allclose(cloud.xyz, xyz, atol=0.001)


# --- LAS / LAZ -----------------------------------------------------------------------------------------


def test_las_round_trip_with_scaled_coordinates_and_noise_dropped(tmp_path: Path) -> None:
    xyz = lattice(0.3, 5, 4, z=12.345) + np.array([400_000.0, 500_000.0, 0.0])
    classes = np.full(len(xyz), 6)
    classes[[3, 7]] = [7, 18]  # low and high noise
    cloud = read_points(write_las(tmp_path / "scan.las", xyz, classes))
    assert len(cloud) == 18 and cloud.input_count == 20
    np.testing.assert_allclose(cloud.xyz, np.delete(xyz, [3, 7], axis=0), atol=0.0006)
    assert cloud.to_input_order(np.ones(18, np.int64)).tolist()[3] == -1


@pytest.mark.parametrize(("version", "point_format"), [("1.2", 3), ("1.4", 6)])
@pytest.mark.parametrize("suffix", [".las", ".laz"])
def test_las_and_laz_versions_round_trip(tmp_path: Path, suffix: str, version: str, point_format: int) -> None:
    if suffix == ".laz" and not laspy.LazBackend.detect_available():
        pytest.skip("no LAZ backend")
    xyz = lattice(0.5, 6, 6, z=3.0)
    path = write_las(tmp_path / f"scan{suffix}", xyz, version=version, point_format=point_format)
    assert path.read_bytes()[:4] == b"LASF"
    np.testing.assert_allclose(read_points(path).xyz, xyz, atol=0.0006)


def test_las_with_a_damaged_vlr_count_is_refused_before_laspy_loops(tmp_path: Path) -> None:
    path = write_las(tmp_path / "scan.laz", lattice(0.5, 6, 6))
    raw = bytearray(path.read_bytes())
    raw[100:104] = (800_000_000).to_bytes(4, "little")  # number of VLRs
    path.write_bytes(bytes(raw))
    with pytest.raises(InvalidInput, match="damaged LAS/LAZ file"):
        read_points(path)


def test_las_over_the_limit_is_refused_from_its_header(tmp_path: Path) -> None:
    path = write_las(tmp_path / "scan.las", lattice(0.5, 10, 10))
    with pytest.raises(PayloadTooLarge, match="100 points; the limit is 99"):
        read_points(path, max_points=99)


def test_truncated_las_is_a_422(tmp_path: Path) -> None:
    path = write_las(tmp_path / "scan.las", lattice(0.5, 10, 10))
    path.write_bytes(path.read_bytes()[:150])
    with pytest.raises(InvalidInput, match="truncated LAS/LAZ file"):
        read_points(path)
    path = write_las(tmp_path / "scan.las", lattice(0.5, 10, 10))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InvalidInput, match="truncated LAS file: its header promises 100 points"):
        read_points(path)


# --- rasterisation -------------------------------------------------------------------------------------


def test_points_to_grid_orientation_row_0_north_column_0_west() -> None:
    xyz = np.array([[10.0, 20.0, 1.0], [10.0, 25.0, 2.0], [14.0, 20.0, 3.0], [14.0, 25.0, 4.0]])
    grid, index = points_to_grid(PointCloud(xyz), 1.0)
    assert grid.shape == (6, 5)
    assert grid.z[0, 0] == 2.0  # north-west: min x, max y
    assert grid.z[0, 4] == 4.0  # north-east
    assert grid.z[5, 0] == 1.0  # south-west
    assert grid.z[5, 4] == 3.0
    assert index.dtype == np.int64 and index.tolist() == [25, 0, 29, 4]


def test_cell_height_is_the_highest_point_and_index_round_trips() -> None:
    rng = np.random.default_rng(3)
    xyz = np.column_stack([rng.uniform(0, 5, 2000), rng.uniform(0, 3, 2000), rng.uniform(0, 9, 2000)])
    grid, index = points_to_grid(PointCloud(xyz), 0.5)
    rows, cols = grid.shape
    top = grid.z.ravel()
    # every point is at or under its cell's height, and each occupied cell's height is one of its points
    assert bool((xyz[:, 2] <= top[index]).all())
    for cell in np.unique(index)[:50]:
        assert top[cell] == xyz[index == cell, 2].max()
    # the index names the cell whose centre is within half a pixel of the point
    x_centre = (index % cols + 0.5) * grid.dx + xyz[:, 0].min()
    y_centre = xyz[:, 1].max() - (index // cols + 0.5) * grid.dy
    assert np.abs(x_centre - xyz[:, 0]).max() <= 0.25 + 1e-9
    assert np.abs(y_centre - xyz[:, 1]).max() <= 0.25 + 1e-9
    assert index.max() < rows * cols


def plane_at_cell_centres(nx: int, ny: int, res: float) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Points on a sloped plane, one at each cell centre, and the plane's height per point."""
    xs, ys = np.meshgrid(np.arange(nx) * res, np.arange(ny) * res)
    x, y = xs.ravel(), ys.ravel()
    z = 3.0 + 0.4 * x - 0.7 * y
    return np.column_stack([x, y, z]), z


def test_holes_inside_the_data_are_filled_exactly_on_a_plane() -> None:
    # Given points on a sloped plane with one lone hole, two neighbouring holes and one on the border
    xyz, z = plane_at_cell_centres(9, 7, 0.5)
    lone, pair, border = [2 * 9 + 2], [4 * 9 + 5, 4 * 9 + 6], [3 * 9 + 0]
    gone = np.isin(np.arange(len(xyz)), lone + pair + border)
    # When rasterised at the points' spacing
    grid, _ = points_to_grid(PointCloud(xyz[~gone]), 0.5)
    # Then interior holes hold the plane's height and the border cell stays empty
    rows = grid.shape[0]
    for i in lone + pair:
        assert grid.z[rows - 1 - i // 9, i % 9] == pytest.approx(z[i]), i
    assert np.isnan(grid.z[rows - 1 - 3, 0])
    assert int(np.isnan(grid.z).sum()) == 1


def test_filling_keeps_an_eave_a_step_and_never_grows_the_outline() -> None:
    # Given an L-shaped roof-only cloud: 6 m roof in the north rows, 2 m roof in the south rows
    xyz = lattice(1.0, 10, 10)
    xyz[:, 2] = np.where(xyz[:, 1] >= 5, 6.0, 2.0)
    keep = (xyz[:, 0] < 5) | (xyz[:, 1] < 5)
    hole = (xyz[:, 0] == 2) & (xyz[:, 1] == 5)  # in the lowest row of the 6 m part, over the step
    grid, _ = points_to_grid(PointCloud(xyz[keep & ~hole]), 1.0)
    assert grid.z[4, 2] == 6.0  # the hole takes its own side of the step, not a mix
    assert int(np.isfinite(grid.z).sum()) == int(keep.sum())  # the empty quarter stays empty


def test_grid_over_the_cell_limit_is_a_413() -> None:
    xyz = np.array([[0.0, 0.0, 1.0], [1000.0, 1000.0, 1.0]])
    with pytest.raises(PayloadTooLarge, match=r"limit of 16000000 cells.*coarser --resolution"):
        points_to_grid(PointCloud(xyz), 0.1)


def test_rasterising_an_absurd_resolution_is_a_422() -> None:
    with pytest.raises(InvalidInput, match=r"0\.01\.\.5\.0 m"):
        points_to_grid(PointCloud(lattice(0.5, 4, 4)), 0.001)


def test_suggest_resolution_on_a_regular_quarter_metre_lattice() -> None:
    cloud = PointCloud(lattice(0.25, 80, 60))
    assert nominal_spacing(cloud) == pytest.approx(0.25, rel=0.05)
    assert 0.25 <= suggest_resolution(cloud) <= 0.4


def test_suggest_resolution_ignores_the_empty_part_of_an_l_shape() -> None:
    full = lattice(0.2, 100, 100)
    l_shape = full[(full[:, 0] < 8.0) | (full[:, 1] < 8.0)]  # a third of the bounding box is empty
    assert suggest_resolution(PointCloud(l_shape)) == pytest.approx(suggest_resolution(PointCloud(full)), rel=0.1)


def test_suggest_resolution_is_clamped_and_used_by_default() -> None:
    sparse = PointCloud(lattice(3.0, 10, 10))
    assert suggest_resolution(sparse) == MAX_SUGGESTED_RESOLUTION
    dense = PointCloud(lattice(0.005, 40, 40))
    assert suggest_resolution(dense) == 0.05
    grid, _ = points_to_grid(PointCloud(lattice(0.25, 40, 40)))
    assert grid.dx == suggest_resolution(PointCloud(lattice(0.25, 40, 40)))


def test_random_cloud_rasterised_at_the_suggested_resolution_has_few_holes() -> None:
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 20, size=(8000, 2))  # 20 points per m2: nominal spacing 0.22 m
    cloud = PointCloud(np.column_stack([xy, np.full(len(xy), 4.0)]))
    assert nominal_spacing(cloud) == pytest.approx(np.sqrt(400 / 8000), rel=0.1)
    grid, _ = points_to_grid(cloud)
    holes = float(np.isnan(grid.z).mean())
    print(f"random cloud at {grid.dx} m: {holes:.1%} empty cells after filling")
    assert holes < 0.02


@pytest.mark.parametrize(
    ("content", "fmt", "hint"),
    [
        ("ncols 3\nnrows 2\nxllcorner 0\nyllcorner 0\ncellsize 1\n1 2 3\n4 5 6\n", "ESRI ASCII grid", "gdal_translate"),
        ("ply\nformat ascii 1.0\nelement vertex 12\nend_header\n" + "1 2 3\n" * 12, "PLY", "x y z text or LAS"),
    ],
)
def test_numeric_text_that_is_not_xyz_is_refused_not_misread(tmp_path: Path, content: str, fmt: str, hint: str) -> None:
    path = write_text(tmp_path / "roof.txt", content)
    for read in (read_points, read_dsm, open_input):
        with pytest.raises(UnsupportedMediaType, match=rf"in {fmt} format, which is not read here: .*{hint}"):
            read(path)


def test_las_without_points_is_a_422(tmp_path: Path) -> None:
    path = write_las(tmp_path / "none.las", np.zeros((0, 3)))
    with pytest.raises(InvalidInput, match="has no points"):
        read_points(path)


# --- sizes from headers, and coordinates that are not metres ------------------------------------------


@pytest.mark.parametrize(("version", "point_format"), [("1.2", 3), ("1.4", 6)])
def test_input_size_reads_headers_and_lines_only(tmp_path: Path, version: str, point_format: int) -> None:
    npy = tmp_path / "dsm.npy"
    np.save(npy, np.zeros((30, 40), dtype=np.float32))
    assert input_size(npy) == InputSize(shape=(30, 40))
    assert input_size(write_geotiff(tmp_path / "dsm.tif", roof(6, 8))).shape == (6, 8)
    las = write_las(tmp_path / "scan.las", lattice(0.5, 6, 7), version=version, point_format=point_format)
    assert input_size(las) == InputSize(points=42)
    text = write_text(tmp_path / "scan.xyz", "x y z\n" + "".join(f"{i} 0 1\n" for i in range(12)) + "12 0 1")
    assert input_size(text) == InputSize(points=14)  # the header line counts: an upper bound


def test_input_size_of_what_cannot_be_sized_is_unknown(tmp_path: Path) -> None:
    damaged = tmp_path / "dsm.npy"
    damaged.write_bytes(b"\x93NUMPY\x01\x00garbage")
    one_d = tmp_path / "row.npy"
    np.save(one_d, np.zeros(10))
    prose = write_text(tmp_path / "notes.txt", "Dear adjuster,\nthe roof.\n")
    for path in (damaged, one_d, prose, tmp_path / "missing.npy"):
        assert input_size(path) == InputSize()


@pytest.mark.parametrize("far", ["1e308", "-1e308", "2e9"])
def test_coordinates_that_cannot_be_metres_are_a_422_naming_the_file(tmp_path: Path, far: str) -> None:
    lines = [f"{far} 5 3", *(f"{i} {i % 4} 3" for i in range(20))]
    with pytest.raises(InvalidInput, match=r"^scan\.xyz: an x or y coordinate reaches .* projected CRS"):
        read_points(write_text(tmp_path / "scan.xyz", "\n".join(lines)))


def test_a_cloud_wider_than_the_cell_limit_at_the_coarsest_pixel_is_a_413(tmp_path: Path) -> None:
    xyz = np.vstack([lattice(0.5, 6, 6), [[9.0e7, 0.0, 5.0]]])  # one stray point 90,000 km east
    with pytest.raises(PayloadTooLarge, match=r"spans 90,000,000 m x 2 m: over the limit of 1,000 cells"):
        points_to_grid(PointCloud(xyz), max_cells=1_000)


# --- where the grid lies on the earth -------------------------------------------------------------------


def test_a_geotiffs_crs_code_and_corner_are_its_georeference(tmp_path: Path) -> None:
    keys = (1, 1, 0, 3, 1024, 0, 1, 1, 3072, 0, 1, 32617, 3076, 0, 1, 9001)
    grid = read_dsm(write_geotiff(tmp_path / "utm.tif", np.ones((4, 6), np.float32), geokeys=keys))
    assert grid.georeference is not None
    assert grid.georeference.crs == "EPSG:32617"
    assert grid.georeference.origin == pytest.approx((419181.85, 612449.0))
    # A centre-of-pixel tie point is half a pixel in from the corner
    centred = (1, 1, 0, 4, 1024, 0, 1, 1, 1025, 0, 1, 2, 3072, 0, 1, 32617, 3076, 0, 1, 9001)
    point = read_dsm(write_geotiff(tmp_path / "point.tif", np.ones((4, 6), np.float32), geokeys=centred))
    assert point.georeference is not None
    assert point.georeference.origin == pytest.approx((419181.85 - 0.25, 612449.0 + 0.125))


def test_british_national_grid_spelled_out_key_by_key_is_named(tmp_path: Path) -> None:
    grid = read_dsm(DATA / "thurso_elevation.tif")
    assert grid.georeference is not None
    assert grid.georeference.crs == "EPSG:27700"
    assert grid.georeference.origin == pytest.approx((311062.8496, 968671.0187), abs=1e-3)


def test_a_user_defined_crs_keeps_its_corner_without_a_name_and_npy_has_none(tmp_path: Path) -> None:
    grid = read_dsm(write_geotiff(tmp_path / "plain.tif", np.ones((4, 6), np.float32)))
    assert grid.georeference is not None and grid.georeference.crs is None
    np.save(tmp_path / "roof.npy", np.ones((4, 6), np.float32))
    assert read_dsm(tmp_path / "roof.npy", resolution=0.5).georeference is None
