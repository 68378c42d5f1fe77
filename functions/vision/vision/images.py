"""Photo intake: the bytes a phone sends in, one upright RGB array out, and the one way to resize and
encode images for the model and for results.

`load_photo` runs in four steps, each refusing what it can as early and as cheaply as it can:

1. **Sniff** the format from the first bytes (magic numbers, ISO-BMFF brands for HEIC). A filename or
   a client's content type is never trusted. JPEG, PNG, WebP and HEIC are accepted; other images
   (GIF, BMP, TIFF, AVIF, ...) and non-images are refused with 415 naming what the file looks like.
2. **Read the header only**: the one Pillow plugin class for the sniffed format parses the header,
   which gives the size without decoding a pixel.
3. **Check the size** against `max_pixels` (50 MP), so a decompression bomb (a small file claiming
   100000 x 100000 pixels) is refused with 413 before anything the size of the image is allocated.
4. **Decode**, turn whatever mode it holds into RGB uint8 (alpha composited on white, 16-bit scaled,
   palette/greyscale/CMYK converted) and apply the EXIF orientation (all 8), so pixel (x, y) is
   where a person sees it on a phone; detection boxes are in these coordinates.

The bomb guard, and why it bypasses `PIL.Image.open`: Pillow's own guard is the process-wide
`Image.MAX_IMAGE_PIXELS` (89 MP: a warning above it, an error above twice that) checked inside
`Image.open`. Lowering it to our limit would change it for every other user of Pillow in the
process, and turning its warning into an error needs `warnings.catch_warnings`, which is not
thread-safe (the dev server runs handlers in threads). Instead step 2 constructs the plugin class
(`PngImageFile(fp)` and so on; exactly what `Image.open` does once it has chosen a plugin, minus its
guard), and step 3 is the guard: tighter than Pillow's, with the dimensions in the message, and no
global state read or written. pillow-heif's plugin class is used the same way, so HEIC needs no
`register_heif_opener()` either; pillow-heif (libheif) and OpenCV are imported only when a HEIC
arrives or a resize is asked for, to keep them off the cold start of every other request.

Privacy: a `Photo` keeps the pixels, their size, the SHA-256 of the uploaded bytes and the format,
nothing else. EXIF (GPS position, camera serial, time) is read for the orientation only; it, XMP and
ICC profiles are never copied into a result: the array carries no metadata by construction, and
`encode_jpeg` / `encode_png` write none. ICC profiles are not applied either: a Display P3 photo's
values are taken as sRGB, a slight desaturation that does not matter for finding damage.

Errors are domain classes (shared.errors), never a 500: empty file -> InvalidInput (422); not an
accepted format -> UnsupportedMediaType (415); over the size limit -> PayloadTooLarge (413); an
accepted format that does not decode (corrupt, truncated) -> InvalidInput (422). Messages name the
file and say what to send instead. Image bytes are never logged.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Final, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFile

from shared.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from vision.detections import ImageInfo

PhotoFormat = Literal["jpeg", "png", "webp", "heic"]
Pixels = npt.NDArray[np.uint8]  # H x W x 3, RGB
_Scalar = TypeVar("_Scalar", bound="np.integer[Any] | np.floating[Any]")  # what cv2.resize takes

MAX_PIXELS: Final = 50_000_000  # covers the 12-48 MP photos phones take, and bounds the memory a decode takes
JPEG_QUALITY: Final = 85

ACCEPTED: Final[tuple[PhotoFormat, ...]] = ("jpeg", "png", "webp", "heic")
_LABELS: Final[dict[PhotoFormat, str]] = {"jpeg": "JPEG", "png": "PNG", "webp": "WebP", "heic": "HEIC"}
_SEND_INSTEAD: Final = "accepted formats are JPEG, PNG, WebP and HEIC"

_WHITE: Final = (255, 255, 255)
_EXIF_ORIENTATION: Final = 0x0112
_ALPHA_MODES: Final = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})

# What Pillow and pillow-heif raise on a file whose header or data is broken (pillow-heif: libheif's
# errors arrive as SyntaxError, ValueError or RuntimeError). MemoryError is deliberately absent.
_DECODE_ERRORS: Final = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    zlib.error,
    IndexError,
    KeyError,
    TypeError,
    RuntimeError,
)


@dataclass(frozen=True)
class Photo:
    """One decoded, upright photo. `pixels` is read-only (copy it to draw on it) and is left out of
    equality and repr: two Photos are equal when they came from the same bytes."""

    pixels: Pixels = field(repr=False, compare=False)
    width: int
    height: int
    sha256: str  # of the bytes as uploaded: names the image in results and cache keys
    format: PhotoFormat

    def info(self) -> ImageInfo:
        """The `image` object of the detection JSON."""
        return ImageInfo(width=self.width, height=self.height, sha256=self.sha256)


def load_photo(data: bytes, *, name: str = "photo", max_pixels: int = MAX_PIXELS) -> Photo:
    """Decode an uploaded photo (JPEG, PNG, WebP, HEIC) into an upright RGB uint8 `Photo`.

    `name` (a filename or S3 key) only labels error messages. Raises InvalidInput (empty, corrupt or
    truncated), UnsupportedMediaType (not an accepted format) or PayloadTooLarge (over `max_pixels`,
    decided from the header before any pixel is decoded)."""
    if not data:
        raise InvalidInput(f"{name}: the file is empty; upload the photo again", code="empty_file")
    fmt = _sniff_or_refuse(data, name)
    image = _open_header(data, fmt, name)
    _check_size(image.size, max_pixels, name)
    pixels = _decode(image, fmt, name)
    pixels.setflags(write=False)
    height, width = pixels.shape[:2]
    return Photo(pixels, width, height, hashlib.sha256(data).hexdigest(), fmt)


# --- 1. sniffing ------------------------------------------------------------------------------------

_HEIC_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_AVIF_BRANDS: Final = frozenset({b"avif", b"avis"})
_HEIF_BRANDS: Final = frozenset({b"mif1", b"msf1"})
_BMP_HEADER_SIZES: Final = frozenset({12, 40, 52, 56, 64, 108, 124})


def sniff(data: bytes) -> PhotoFormat | None:
    """The accepted format these bytes are, from their signature alone; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if _ftyp_brands(data) & _HEIC_BRANDS:
        return "heic"
    return None


def _ftyp_brands(data: bytes) -> frozenset[bytes]:
    """Major and compatible brands of an ISO-BMFF file's leading `ftyp` box (HEIC, AVIF, MP4, MOV)."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return frozenset()
    end = min(len(data), max(16, int.from_bytes(data[:4], "big")))
    compatible = (data[i : i + 4] for i in range(16, end - 3, 4))
    return frozenset({data[8:12], *compatible})


def _looks_like(data: bytes) -> str | None:
    """What a file we refuse appears to be, for the message ("a GIF image"); None when unknown."""
    head = data[:512]
    signatures = (
        ((b"GIF87a", b"GIF89a"), "a GIF image"),
        ((b"II*\x00", b"MM\x00*"), "a TIFF image (or a camera raw file)"),
        ((b"\xff\x0a", b"\x00\x00\x00\x0cJXL "), "a JPEG XL image"),
        ((b"%PDF-",), "a PDF document"),
        ((b"PK\x03\x04",), "a ZIP archive (or an Office document)"),
    )
    for prefixes, description in signatures:
        if head.startswith(prefixes):
            return description
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return "a BMP image"
    brands = _ftyp_brands(data)
    if brands:
        if brands & _AVIF_BRANDS:
            return "an AVIF image"
        return "a HEIF image in a codec other than HEVC" if brands & _HEIF_BRANDS else "a video"
    if b"<svg" in head.lower():
        return "an SVG drawing"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "a text file" if all(c.isprintable() or c.isspace() for c in text) else None


def _sniff_or_refuse(data: bytes, name: str) -> PhotoFormat:
    fmt = sniff(data)
    if fmt is not None:
        return fmt
    looks = _looks_like(data)
    what = f"is {looks}" if looks else "is not an image we recognise"
    raise UnsupportedMediaType(
        f"{name} {what}; {_SEND_INSTEAD}: upload the photo as the phone or camera saved it",
        details={"accepted": list(ACCEPTED)},
    )


# --- 2. header --------------------------------------------------------------------------------------


def _plugin(fmt: PhotoFormat) -> Callable[[IO[bytes]], ImageFile.ImageFile]:
    """The Pillow plugin class that reads `fmt`, imported on first use (only its own plugin module)."""
    if fmt == "jpeg":
        from PIL.JpegImagePlugin import JpegImageFile

        return JpegImageFile
    if fmt == "png":
        from PIL.PngImagePlugin import PngImageFile

        return PngImageFile
    if fmt == "webp":
        from PIL.WebPImagePlugin import WebPImageFile

        return WebPImageFile
    from pillow_heif.as_plugin import HeifImageFile  # loads libheif: only when a HEIC arrives

    return HeifImageFile


def _open_header(data: bytes, fmt: PhotoFormat, name: str) -> ImageFile.ImageFile:
    """The image with its header parsed and no pixel decoded (Pillow decodes on `load`)."""
    try:
        return _plugin(fmt)(io.BytesIO(data))
    except _DECODE_ERRORS as exc:
        raise _corrupt(fmt, name) from exc


def _corrupt(fmt: PhotoFormat, name: str) -> InvalidInput:
    return InvalidInput(
        f"{name}: the {_LABELS[fmt]} is corrupt or truncated; upload the original photo again",
        code="corrupt_image",
    )


# --- 3. size ----------------------------------------------------------------------------------------


def _check_size(size: tuple[int, int], max_pixels: int, name: str) -> None:
    width, height = size
    if width * height <= max_pixels:
        return
    raise PayloadTooLarge(
        f"{name}: photos up to {max_pixels / 1e6:g} megapixels are accepted; this one is "
        f"{width * height / 1e6:.1f} MP ({width} x {height}); resize it and upload it again",
        details={"max_pixels": max_pixels, "width": width, "height": height},
    )


# --- 4. decoding ------------------------------------------------------------------------------------


def _decode(image: ImageFile.ImageFile, fmt: PhotoFormat, name: str) -> Pixels:
    try:
        with image:  # frees Pillow's copy of the pixels as soon as numpy has its own
            image.load()
            orientation = _orientation(image)  # after load: a PNG's eXIf chunk may follow its pixels
            rgb = _to_rgb(image)
    except _DECODE_ERRORS as exc:
        raise _corrupt(fmt, name) from exc
    return _upright(rgb, orientation)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8); 1 when absent, invalid or unreadable: a broken EXIF block must not
    cost an otherwise good photo."""
    try:
        value = image.getexif().get(_EXIF_ORIENTATION, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _to_rgb(image: Image.Image) -> Pixels:
    if image.mode == "I" or image.mode.startswith("I;16"):
        return _sixteen_bit_grey(image)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.new("RGB", rgba.size, _WHITE)
        image.paste(rgba, mask=rgba.getchannel("A"))  # blends: rgb * a + white * (1 - a)
    elif image.mode != "RGB":
        image = image.convert("RGB")  # L, 1, P, CMYK (Adobe-inverted too), YCbCr, LAB, HSV
    return np.asarray(image, dtype=np.uint8)


def _sixteen_bit_grey(image: Image.Image) -> Pixels:
    """16-bit greyscale (PNG) to RGB: Pillow's own conversion clips at 255 instead of scaling."""
    wide = np.asarray(image)  # uint16 for I;16 (either byte order); int32 for mode I
    if wide.dtype.kind != "u" or wide.dtype.itemsize != 2:
        wide = np.clip(wide, 0, 0xFFFF).astype(np.uint16)
    grey = (wide >> 8).astype(np.uint8)
    return np.repeat(grey[:, :, np.newaxis], 3, axis=2)


def _upright(pixels: Pixels, orientation: int) -> Pixels:
    """The pixels as a viewer shows them, for EXIF orientation 1-8 (the inverse of how the camera
    stored them: 6 is "rotate 90 degrees clockwise to view", 8 counter-clockwise, 2/4/5/7 mirrored)."""
    views: dict[int, Callable[[Pixels], Pixels]] = {
        2: lambda p: p[:, ::-1],
        3: lambda p: p[::-1, ::-1],
        4: lambda p: p[::-1],
        5: lambda p: p.transpose(1, 0, 2),
        6: lambda p: np.rot90(p, k=-1),
        7: lambda p: p.transpose(1, 0, 2)[::-1, ::-1],
        8: lambda p: np.rot90(p, k=1),
    }
    view = views.get(orientation)
    return pixels if view is None else np.ascontiguousarray(view(pixels))


# --- resizing and encoding --------------------------------------------------------------------------


def fit_long_side(pixels: npt.NDArray[_Scalar], long_side: int) -> npt.NDArray[_Scalar]:
    """`pixels` scaled down so the longer side is `long_side`, aspect kept, with area averaging
    (cv2.INTER_AREA: each output pixel is the mean of the source pixels it covers, so fine texture such
    as granules and hail marks is averaged rather than aliased). Returned unchanged (the same object)
    when it already fits: never upscaled. Works for H x W and H x W x C arrays of OpenCV's dtypes."""
    if long_side < 1:
        raise ValueError(f"long_side must be at least 1, not {long_side}")
    height, width = pixels.shape[:2]
    scale = long_side / max(height, width)
    if scale >= 1.0:
        return pixels
    import cv2  # ~200 ms to import: only requests that resize pay for it

    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), dtype=pixels.dtype)


def encode_jpeg(pixels: npt.NDArray[np.uint8], quality: int = JPEG_QUALITY) -> bytes:
    """RGB (H x W x 3) or greyscale (H x W) uint8 as JPEG bytes, with no metadata (no EXIF, no ICC)."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1-100, not {quality}")
    buffer = io.BytesIO()
    _to_image(pixels, channels=(3,)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def encode_png(pixels: npt.NDArray[np.uint8]) -> bytes:
    """RGB, RGBA (H x W x 3 or 4) or greyscale (H x W) uint8 as PNG bytes, with no metadata chunks."""
    buffer = io.BytesIO()
    _to_image(pixels, channels=(3, 4)).save(buffer, format="PNG")
    return buffer.getvalue()


def _to_image(pixels: npt.NDArray[np.uint8], *, channels: tuple[int, ...]) -> Image.Image:
    shape_ok = pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] in channels)
    if pixels.dtype != np.uint8 or not shape_ok or 0 in pixels.shape:
        raise ValueError(
            f"expected a non-empty uint8 array of H x W or H x W x {'/'.join(map(str, channels))}, "
            f"got {pixels.dtype} {pixels.shape}"
        )
    return Image.fromarray(np.ascontiguousarray(pixels))
