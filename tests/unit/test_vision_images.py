"""Photo intake: formats, EXIF orientation, metadata stripping, size limits and the decompression-bomb
guard, error classes and messages, mode conversion, resizing and encoding.

Every image is generated here (Pillow, numpy, pillow-heif, or bytes crafted by hand); no binary files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import struct
import subprocess
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable

import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageOps

from shared.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from vision.detections import ImageInfo
from vision.images import MAX_PIXELS, Photo, encode_jpeg, encode_png, fit_long_side, load_photo, sniff

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
WIDTH, HEIGHT = 48, 32


# --- helpers ----------------------------------------------------------------------------------------


def quadrants(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """An upright picture no rotation or mirror maps onto itself: red, green / blue, yellow."""
    pixels = np.zeros((height, width, 3), np.uint8)
    h, w = height // 2, width // 2
    pixels[:h, :w], pixels[:h, w:], pixels[h:, :w], pixels[h:, w:] = RED, GREEN, BLUE, YELLOW
    return pixels


def corner_colours(pixels: np.ndarray) -> list[tuple[int, ...]]:
    """Colours at the centres of the four quadrants: top-left, top-right, bottom-left, bottom-right."""
    h, w = pixels.shape[:2]
    points = [(h // 4, w // 4), (h // 4, 3 * w // 4), (3 * h // 4, w // 4), (3 * h // 4, 3 * w // 4)]
    return [tuple(int(v) for v in pixels[y, x]) for y, x in points]


def assert_colours(actual: list[tuple[int, ...]], expected: list[tuple[int, ...]], tolerance: int = 40) -> None:
    for got, want in zip(actual, expected, strict=True):
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) <= tolerance, (actual, expected)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    if fmt == "HEIC":  # without registering pillow-heif's opener in Pillow: no global state in tests either
        pillow_heif.from_pillow(image).save(buffer, quality=95, **options)
    else:
        image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def exif_bytes(orientation: int | None = None, gps: bool = False) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    if orientation is not None:
        exif[0x0112] = orientation
    if gps:
        ifd = exif.get_ifd(0x8825)
        ifd.update({1: "N", 2: (51.0, 30.0, 26.0), 3: "W", 4: (0.0, 7.0, 39.0)})
    return exif.tobytes()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def crafted_png(width: int, height: int, *, depth: int = 8, colour: int = 2, rows: bytes | None = None) -> bytes:
    """A PNG from raw rows; without rows, a header-only file that claims any size (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    idat = zlib.compress(rows if rows is not None else b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) is patched to claim another size."""
    data = bytearray(encode(Image.new("RGB", (16, 16), RED), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def noise(width: int = 64, height: int = 48, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


# --- formats ----------------------------------------------------------------------------------------

FORMATS = [("JPEG", "jpeg", {}), ("PNG", "png", {}), ("WEBP", "webp", {"quality": 95}), ("HEIC", "heic", {})]


@pytest.mark.parametrize(("pil_format", "expected", "options"), FORMATS)
def test_each_format_decodes_to_size_and_colours(pil_format: str, expected: str, options: dict[str, object]) -> None:
    # Given a photo in one of the accepted formats
    data = encode(Image.fromarray(quadrants()), pil_format, **options)
    # When it is loaded
    photo = load_photo(data, name="roof")
    # Then it is RGB uint8 of the right size and colours, named by the hash of its bytes
    assert photo.pixels.shape == (HEIGHT, WIDTH, 3) and photo.pixels.dtype == np.uint8
    assert (photo.width, photo.height, photo.format) == (WIDTH, HEIGHT, expected)
    assert photo.sha256 == hashlib.sha256(data).hexdigest()
    assert_colours(corner_colours(photo.pixels), [RED, GREEN, BLUE, YELLOW])
    assert sniff(data) == expected


def test_png_is_lossless() -> None:
    pixels = np.asarray(noise())
    assert np.array_equal(load_photo(encode(Image.fromarray(pixels), "PNG")).pixels, pixels)


def test_the_bytes_decide_the_format_not_the_name() -> None:
    jpeg = encode(Image.fromarray(quadrants()), "JPEG")
    assert load_photo(jpeg, name="roof.png").format == "jpeg"
    gif = encode(Image.new("P", (8, 8)), "GIF")
    with pytest.raises(UnsupportedMediaType):
        load_photo(gif, name="roof.jpg")


# --- EXIF orientation -------------------------------------------------------------------------------

# How a camera stores the upright picture U for each EXIF orientation (the viewer undoes it).
STORED: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda u: u,
    2: lambda u: u[:, ::-1],  # mirrored left-right
    3: lambda u: u[::-1, ::-1],  # rotated 180
    4: lambda u: u[::-1],  # mirrored top-bottom
    5: lambda u: u.transpose(1, 0, 2),  # mirrored along the main diagonal
    6: lambda u: np.rot90(u, 1),  # viewer rotates 90 degrees clockwise
    7: lambda u: u[::-1, ::-1].transpose(1, 0, 2),  # mirrored along the anti-diagonal
    8: lambda u: np.rot90(u, -1),  # viewer rotates 90 degrees counter-clockwise
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_puts_pixels_where_a_viewer_shows_them(orientation: int) -> None:
    # Given a JPEG stored sideways or mirrored, with the orientation tag saying how to show it
    upright = quadrants()
    stored = np.ascontiguousarray(STORED[orientation](upright))
    data = encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif_bytes(orientation))
    # (Pillow's exif_transpose, a reference viewer, agrees with the table above)
    shown = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    assert_colours(corner_colours(shown), [RED, GREEN, BLUE, YELLOW])
    # When it is loaded
    photo = load_photo(data)
    # Then the pixels are upright
    assert (photo.width, photo.height) == (WIDTH, HEIGHT)
    assert_colours(corner_colours(photo.pixels), [RED, GREEN, BLUE, YELLOW])


def test_heic_orientation_is_applied_once() -> None:
    # libheif applies the HEIC's rotation (irot) and pillow-heif resets the EXIF tag: no double turn
    stored = np.ascontiguousarray(STORED[6](quadrants()))
    data = encode(Image.fromarray(stored), "HEIC", exif=exif_bytes(6))
    photo = load_photo(data)
    assert (photo.width, photo.height) == (WIDTH, HEIGHT)
    assert_colours(corner_colours(photo.pixels), [RED, GREEN, BLUE, YELLOW])


@pytest.mark.parametrize("orientation", [0, 9, 300])
def test_invalid_orientation_is_ignored(orientation: int) -> None:
    data = encode(Image.fromarray(quadrants()), "JPEG", exif=exif_bytes(orientation))
    assert_colours(corner_colours(load_photo(data).pixels), [RED, GREEN, BLUE, YELLOW])


def test_png_exif_orientation_is_applied() -> None:
    stored = np.ascontiguousarray(STORED[8](quadrants()))
    photo = load_photo(encode(Image.fromarray(stored), "PNG", exif=exif_bytes(8)))
    assert np.array_equal(photo.pixels, quadrants())


# --- metadata ---------------------------------------------------------------------------------------


def test_gps_and_other_exif_never_leave_the_intake() -> None:
    # Given a phone JPEG with GPS coordinates and a camera make
    data = encode(Image.fromarray(quadrants()), "JPEG", exif=exif_bytes(gps=True))
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)[1] == "N"
    # When it is loaded, the Photo holds pixels, size, hash and format: nothing from the metadata
    photo = load_photo(data)
    assert [f.name for f in dataclasses.fields(Photo)] == ["pixels", "width", "height", "sha256", "format"]
    assert repr(photo) == f"Photo(width={WIDTH}, height={HEIGHT}, sha256='{photo.sha256}', format='jpeg')"
    # And what we encode from it carries no EXIF, XMP or ICC
    for encoded in (encode_jpeg(photo.pixels), encode_png(photo.pixels)):
        assert b"Exif" not in encoded and b"PhoneMaker" not in encoded
        reopened = Image.open(io.BytesIO(encoded))
        assert len(reopened.getexif()) == 0
        assert not {"exif", "xmp", "icc_profile"} & set(reopened.info)


def test_photo_is_immutable_and_compares_by_its_bytes() -> None:
    data = encode(Image.fromarray(quadrants()), "PNG")
    photo = load_photo(data)
    with pytest.raises(ValueError, match="read-only"):
        photo.pixels[0, 0, 0] = 7
    with pytest.raises(dataclasses.FrozenInstanceError):
        photo.width = 1  # type: ignore[misc]
    assert photo == load_photo(data) and hash(photo) == hash(load_photo(data))
    assert "pixels" not in repr(photo)
    assert photo.info() == ImageInfo(width=WIDTH, height=HEIGHT, sha256=photo.sha256)


# --- size limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "dimensions"),
    [
        (crafted_png(100_000, 100_000), "(100000 x 100000)"),  # 10 gigapixels in ~90 bytes
        (crafted_png(10_000, 10_000), "(10000 x 10000)"),  # in Pillow's own warning band (89-179 MP)
        (jpeg_claiming(65_000, 60_000), "(65000 x 60000)"),
    ],
)
def test_decompression_bomb_is_refused_from_the_header(data: bytes, dimensions: str) -> None:
    # Given a tiny file claiming a huge size, with no pixel data to speak of; when it is loaded,
    # it is refused as too large (had it been decoded, the missing data would make it "corrupt"),
    # without a Pillow warning and without touching Pillow's process-wide limit
    limit = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(PayloadTooLarge) as caught:
            load_photo(data, name="bomb.png")
    assert caught.value.status == 413
    assert dimensions in caught.value.message and "photos up to 50 megapixels" in caught.value.message
    assert limit == Image.MAX_IMAGE_PIXELS


@pytest.fixture(scope="module")
def too_big_png() -> bytes:
    return encode(Image.new("L", (9000, 6800), 128), "PNG", compress_level=1)  # a real 61.2 MP photo, ~280 kB


def test_a_real_photo_over_50_megapixels_is_refused(too_big_png: bytes) -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        load_photo(too_big_png, name="drone.png")
    assert caught.value.message.startswith(
        "drone.png: photos up to 50 megapixels are accepted; this one is 61.2 MP (9000 x 6800)"
    )
    assert caught.value.details == {"max_pixels": MAX_PIXELS, "width": 9000, "height": 6800}


def test_the_limit_is_inclusive() -> None:
    data = encode(Image.new("RGB", (100, 100), RED), "PNG")
    assert load_photo(data, max_pixels=10_000).width == 100
    with pytest.raises(PayloadTooLarge):
        load_photo(data, max_pixels=9_999)


# --- errors -----------------------------------------------------------------------------------------


def test_empty_file() -> None:
    with pytest.raises(InvalidInput) as caught:
        load_photo(b"", name="IMG_0001.HEIC")
    assert caught.value.status == 422
    assert caught.value.message.startswith("IMG_0001.HEIC: the file is empty")


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("roof.jpg", b"not really")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (b"Roof inspection notes:\n3 hail hits per square\n", "is a text file"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "is a PDF document"),
        (_zip(), "is a ZIP archive"),
        (b"\x00\x00\x00\x20ftypqt  \x00\x00\x02\x00qt  isom" + bytes(40), "is a video"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "is an SVG drawing"),
        (bytes(np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8)), "is not an image we recognise"),
        (b"\xff\xd8", "is not an image we recognise"),  # two bytes: not even a JPEG signature
    ],
)
def test_not_an_image_is_415(data: bytes, looks_like: str) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        load_photo(data, name="upload.bin")
    assert caught.value.status == 415
    assert caught.value.message.startswith(f"upload.bin {looks_like}")
    assert "accepted formats are JPEG, PNG, WebP and HEIC" in caught.value.message


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (encode(Image.new("P", (8, 8)), "GIF"), "a GIF image"),
        (encode(Image.new("RGB", (8, 8), RED), "BMP"), "a BMP image"),
        (encode(Image.new("RGB", (8, 8), RED), "TIFF"), "a TIFF image"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + bytes(32), "an AVIF image"),
    ],
)
def test_images_in_formats_we_do_not_accept_are_415(data: bytes, looks_like: str) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        load_photo(data, name="roof")
    assert caught.value.message.startswith(f"roof is {looks_like}")
    assert "; accepted formats are JPEG, PNG, WebP and HEIC" in caught.value.message
    assert caught.value.details == {"accepted": ["jpeg", "png", "webp", "heic"]}


@pytest.mark.parametrize(
    ("pil_format", "label"), [("JPEG", "JPEG"), ("PNG", "PNG"), ("WEBP", "WebP"), ("HEIC", "HEIC")]
)
@pytest.mark.parametrize("keep", [0.3, 0.8])
def test_truncated_file_is_422(pil_format: str, label: str, keep: float) -> None:
    data = encode(noise(), pil_format)
    with pytest.raises(InvalidInput) as caught:
        load_photo(data[: int(len(data) * keep)], name="roof.img")
    assert caught.value.status == 422
    assert caught.value.message.startswith(f"roof.img: the {label} is corrupt or truncated")


def test_png_with_a_broken_header_is_422() -> None:
    data = bytearray(encode(noise(), "PNG"))
    data[20] ^= 0xFF  # inside IHDR: its CRC no longer matches
    with pytest.raises(InvalidInput, match="the PNG is corrupt or truncated"):
        load_photo(bytes(data))


@pytest.mark.parametrize("pil_format", ["JPEG", "PNG", "WEBP", "HEIC"])
def test_damaged_files_never_escape_as_500(pil_format: str) -> None:
    # Truncations and flipped bytes anywhere: a Photo or a client error; anything else fails the test
    data = encode(noise(32, 24, seed=2), pil_format)
    rng = np.random.default_rng(7)
    outcomes: set[str] = set()
    for _ in range(40):
        damaged = bytearray(data[: int(rng.integers(1, len(data)))] if rng.random() < 0.3 else data)
        for index in rng.integers(0, len(damaged), 4):
            damaged[index] = int(rng.integers(0, 256))
        try:
            photo = load_photo(bytes(damaged), max_pixels=200_000)
        except (InvalidInput, UnsupportedMediaType, PayloadTooLarge) as exc:
            outcomes.add(type(exc).__name__)
        else:
            assert photo.pixels.dtype == np.uint8 and photo.pixels.shape[2] == 3
            outcomes.add("photo")
    assert "InvalidInput" in outcomes  # the damage did reach the decoder


# --- modes ------------------------------------------------------------------------------------------


def _rows(pixel_rows: list[bytes]) -> bytes:
    return b"".join(b"\x00" + row for row in pixel_rows)  # filter type 0 before each row


def _palette(transparent: bool) -> Image.Image:
    image = Image.new("P", (4, 2))
    image.putpalette([*RED, *BLUE] + [0] * 762)
    image.putdata([0, 0, 1, 1, 0, 0, 1, 1])
    if transparent:
        image.info["transparency"] = 1
    return image


MODES: list[tuple[str, Callable[[], bytes], list[tuple[int, int, int]]]] = [
    # (case, file, colours of the first row's first and last pixel)
    (
        "16-bit grey PNG",
        lambda: encode(Image.fromarray(np.array([[0, 100 * 256 + 255]], dtype=np.uint16)), "PNG"),
        [(0, 0, 0), (100, 100, 100)],
    ),
    (
        "16-bit RGB PNG",
        lambda: crafted_png(2, 1, depth=16, rows=_rows([struct.pack(">6H", 0x1234, 0x8000, 0xFFFF, 0, 0, 0x0101)])),
        [(0x12, 0x80, 0xFF), (0, 0, 1)],
    ),
    ("greyscale PNG", lambda: encode(Image.new("L", (4, 2), 77), "PNG"), [(77, 77, 77)] * 2),
    ("bilevel PNG", lambda: encode(Image.new("1", (4, 2), 1), "PNG"), [(255, 255, 255)] * 2),
    ("greyscale JPEG", lambda: encode(Image.new("L", (16, 16), 200), "JPEG"), [(200, 200, 200)] * 2),
    ("CMYK JPEG", lambda: encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG"), [RED] * 2),
    ("palette PNG", lambda: encode(_palette(False), "PNG"), [RED, BLUE]),
    ("palette PNG, transparent index", lambda: encode(_palette(True), "PNG"), [RED, (255, 255, 255)]),
    (
        "RGBA PNG, on white",
        lambda: encode(Image.new("RGBA", (4, 2), (255, 0, 0, 128)), "PNG"),
        [(255, 127, 127)] * 2,
    ),
    ("clear RGBA PNG, on white", lambda: encode(Image.new("RGBA", (4, 2), (0, 0, 0, 0)), "PNG"), [(255, 255, 255)] * 2),
    ("grey + alpha PNG", lambda: encode(Image.new("LA", (4, 2), (0, 0)), "PNG"), [(255, 255, 255)] * 2),
    (
        "RGBA WebP, on white",
        lambda: encode(Image.new("RGBA", (4, 2), (0, 0, 255, 0)), "WEBP", lossless=True),
        [(255, 255, 255)] * 2,
    ),
    ("RGBA HEIC, on white", lambda: encode(Image.new("RGBA", (16, 16), (0, 0, 0, 0)), "HEIC"), [(255, 255, 255)] * 2),
]


@pytest.mark.parametrize(("case", "make", "colours"), MODES, ids=[case for case, _, _ in MODES])
def test_every_mode_becomes_rgb_uint8(case: str, make: Callable[[], bytes], colours: list[tuple[int, ...]]) -> None:
    photo = load_photo(make(), name=case)
    assert photo.pixels.ndim == 3 and photo.pixels.shape[2] == 3 and photo.pixels.dtype == np.uint8
    first_row = photo.pixels[0]
    assert_colours([tuple(int(v) for v in first_row[0]), tuple(int(v) for v in first_row[-1])], colours, tolerance=3)


# --- resizing and encoding --------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "expected"), [((200, 300, 3), (67, 100, 3)), ((300, 200, 3), (100, 67, 3))])
def test_fit_long_side_scales_down_keeping_aspect(shape: tuple[int, ...], expected: tuple[int, ...]) -> None:
    resized = fit_long_side(np.zeros(shape, np.uint8), 100)
    assert resized.shape == expected and resized.dtype == np.uint8


def test_fit_long_side_never_upscales() -> None:
    pixels = np.zeros((50, 80, 3), np.uint8)
    assert fit_long_side(pixels, 80) is pixels and fit_long_side(pixels, 1000) is pixels
    with pytest.raises(ValueError, match="at least 1"):
        fit_long_side(pixels, 0)


def test_fit_long_side_averages_fine_texture() -> None:
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)  # 1-pixel checkerboard
    assert np.all(np.abs(fit_long_side(checker, 16).astype(int) - 127) <= 1)  # grey, not aliased stripes
    heat = np.ones((40, 20), np.float32)
    assert fit_long_side(heat, 10).shape == (10, 5) and fit_long_side(heat, 10).dtype == np.float32


def test_encoders_round_trip() -> None:
    pixels = quadrants()
    jpeg, png = encode_jpeg(pixels, quality=90), encode_png(pixels)
    assert jpeg.startswith(b"\xff\xd8\xff") and png.startswith(b"\x89PNG")
    assert_colours(corner_colours(load_photo(jpeg).pixels), [RED, GREEN, BLUE, YELLOW])
    assert np.array_equal(load_photo(png).pixels, pixels)
    rgba = np.dstack([pixels, np.full(pixels.shape[:2], 200, np.uint8)])
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(rgba)))), rgba)
    assert Image.open(io.BytesIO(encode_jpeg(pixels[:, :, 0]))).mode == "L"


@pytest.mark.parametrize(
    ("encoder", "pixels"),
    [
        (encode_png, np.zeros((4, 4, 3), np.float32)),
        (encode_png, np.zeros((4, 4, 2), np.uint8)),
        (encode_jpeg, np.zeros((4, 4, 4), np.uint8)),
        (encode_jpeg, np.zeros((0, 4, 3), np.uint8)),
    ],
)
def test_encoders_refuse_arrays_they_cannot_write(encoder: Callable[[np.ndarray], bytes], pixels: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8 array"):
        encoder(pixels)


def test_jpeg_quality_is_checked() -> None:
    with pytest.raises(ValueError, match="1-100"):
        encode_jpeg(quadrants(), quality=0)


# --- cold start -------------------------------------------------------------------------------------


def test_import_leaves_opencv_and_libheif_unloaded() -> None:
    code = "import sys, vision.images; print(sorted({'cv2', 'pillow_heif'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_32_bit_greyscale_is_read_as_16_bit_range() -> None:
    # Pillow's mode I (no accepted format yields it today; a future plugin might) scales like I;16
    from vision.images import _sixteen_bit_grey

    image = Image.fromarray(np.array([[-5, 0x1234, 70_000]], dtype=np.int32))
    assert image.mode == "I"
    assert _sixteen_bit_grey(image)[0].tolist() == [[0, 0, 0], [0x12] * 3, [255] * 3]
