"""What a photo costs before any detection: decoding it, and the image tokens of the model's views.

1. Decode time (`vision.images.load_photo`: sniff, header check, decode, EXIF orientation, RGB) of a
   synthetic 12 MP roof photo as JPEG, PNG, WebP and HEIC, median of 5 warm runs.
2. Image tokens per call, estimated before the call (`shared.catalog.image_tokens` on each view's
   sent size) against what the model billed: the simulated model decodes each image it is sent and
   bills it by the same documented per-model formula, so the two agree by construction here; the
   columns show that the estimate is made on exactly the image sent, and what each mode's views cost
   on each model. Against OpenAI the actual comes from the answer's usage. Per mode (CHEAP: one small
   view; SMART: 2 x 2 tiles of a 12 MP photo) and model (gpt-4o, gpt-4o-mini, gpt-4.1-mini), with
   the input cost in USD at list prices.
"""

from __future__ import annotations

import io
from functools import partial

import numpy as np
import numpy.typing as npt
from PIL import Image

from bench.common import fmt, median, note, print_table, time_runs
from dominus_dev.simulated_model import _image_tokens
from evaluation.vision.synthetic import PhotoSpec, render
from shared.catalog import PriceTable, image_tokens
from shared.modes import Mode
from shared.requests import ImagePart
from vision.images import encode_jpeg, load_photo
from vision.views import crop, plan_views

MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1-mini")


def encoded(pixels: npt.NDArray[np.uint8]) -> dict[str, bytes]:
    image = Image.fromarray(pixels)
    formats: dict[str, bytes] = {"JPEG": encode_jpeg(pixels, quality=90)}
    for name, kwargs in (("PNG", {"compress_level": 1}), ("WEBP", {"quality": 85})):
        buffer = io.BytesIO()
        image.save(buffer, name, **kwargs)
        formats[name] = buffer.getvalue()
    try:
        from pillow_heif import from_pillow

        buffer = io.BytesIO()
        from_pillow(image).save(buffer, quality=80)
        formats["HEIC"] = buffer.getvalue()
    except Exception as exc:  # an encoder this build lacks
        note(f"HEIC not encoded here: {exc}")
    return formats


def run() -> None:
    pixels = render(PhotoSpec(width=4000, height=3000, seed=3, hail=8)).pixels
    rows = []
    for name, data in encoded(pixels).items():
        ms = median(time_runs(partial(load_photo, data))) * 1000
        rows.append((name, f"{len(data) / 1e6:.1f} MB", fmt(ms, 0)))
    print_table("Photo decode, 4000 x 3000 (12 MP), median of 5", ("format", "size", "ms"), rows)

    prices = PriceTable()
    token_rows = []
    for mode in (Mode.CHEAP, Mode.SMART):
        views = plan_views(4000, 3000, mode)
        parts = [ImagePart(encode_jpeg(crop(pixels, v)), width=v.sent_width, height=v.sent_height) for v in views]
        for model in MODELS:
            estimated = sum(image_tokens(model, p.width, p.height, p.detail) for p in parts)
            billed = sum(_image_tokens(model, {"url": p.data_url(), "detail": p.detail}) for p in parts)
            price = prices.price(model)
            usd = estimated * price.input / 1e6 if price else None
            sizes = ", ".join(sorted({f"{v.sent_width}x{v.sent_height}" for v in views}))
            token_rows.append((mode.value, f"{len(views)} x {sizes}", model, estimated, billed, fmt(usd, 5)))
    print_table(
        "Image tokens per photo (12 MP), estimated before the call vs billed",
        ("mode", "views", "model", "estimated", "billed", "input USD"),
        token_rows,
    )
    note("gpt-4o-mini bills ~33x gpt-4o's image tokens: for images the cheap lever is fewer, smaller views.")
