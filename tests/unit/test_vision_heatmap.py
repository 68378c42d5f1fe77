"""The damage heatmap (vision.heatmap): a fixed, carrier-calibrated scale, tint only where there is
damage, boxes where the detections are after the resize, and a PNG that carries nothing but pixels.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from vision.detections import DamageType, Detection
from vision.heatmap import (
    ALPHA_HIGH,
    DEFAULT_SPAN_FT,
    MIN_LEGEND_WIDTH,
    SEVERITY_COLOURS,
    SEVERITY_WEIGHTS,
    TEST_SQUARE_HITS,
    density_map,
    feet_scale,
    render_heatmap,
    render_image,
    scale_index,
    turbo,
)

PPF = 40.0  # px per foot in most tests: a test square is 400 px
GREY = 128


def grey_photo(width: int = 1600, height: int = 1200) -> np.ndarray:
    return np.full((height, width, 3), GREY, dtype=np.uint8)


def hit(
    ident: int, cx: float, cy: float, severity: int = 3, half: int = 10, kind: DamageType = "hail_hit"
) -> Detection:
    box = (round(cx - half), round(cy - half), round(cx + half), round(cy + half))
    return Detection(id=ident, type=kind, severity=severity, confidence=0.9, box=box)


def decode(png: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def blended(index: int, alpha: float) -> np.ndarray:
    """The colour a grey pixel takes under the tint at a colour-scale position and opacity."""
    colour = turbo(np.array([[index]], dtype=np.uint8))[0, 0].astype(np.float64)
    return np.asarray(alpha * colour + (1 - alpha) * GREY, dtype=np.float64)


def chunks(png: bytes) -> list[bytes]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    names, at = [], 8
    while at < len(png):
        length = int.from_bytes(png[at : at + 4], "big")
        names.append(png[at + 4 : at + 8])
        at += 12 + length
    return names


def test_a_single_minor_hit_stays_at_the_bottom_of_the_scale() -> None:
    # Given one severity-1 hit in the middle of the photo
    photo = grey_photo()
    detections = [hit(1, 800, 600, severity=1)]
    # When the density and the picture are made
    density = density_map(detections, 1600, 1200, pixels_per_foot=PPF)
    image = render_image(photo, detections, pixels_per_foot=PPF, boxes=False).astype(np.int32)
    # Then the peak is its weight (a quarter of a hit), 1/32 of the scale, and nothing turns warm
    assert density.max() == pytest.approx(SEVERITY_WEIGHTS[1], rel=0.03)
    assert density.max() < 0.05 * TEST_SQUARE_HITS
    b, g, r = image[:1200, :, 0], image[:1200, :, 1], image[:1200, :, 2]
    assert not ((r > g + 20) & (r > b + 20)).any()  # no orange or red anywhere
    assert b[600, 800] > r[600, 800]  # the tint at the hit is the cool end
    assert np.abs(image[600, 800] - blended(int(scale_index(density).max()), 0.25)).max() <= 4


def test_eight_ordinary_hits_in_one_test_square_reach_the_top() -> None:
    # Given 8 severity-3 hits within a 2 ft x 2 ft patch (well inside one 10 ft test square)
    photo = grey_photo()
    spots = [(800 + dx * 40, 600 + dy * 40) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0)]
    detections = [hit(i, x, y) for i, (x, y) in enumerate(spots, start=1)]
    # When the density and the picture are made
    density = density_map(detections, 1600, 1200, pixels_per_foot=PPF)
    image = render_image(photo, detections, pixels_per_foot=PPF, boxes=False)
    # Then the density reads the carrier threshold, drawn in the top colour at full opacity
    assert density.max() >= 0.99 * TEST_SQUARE_HITS
    top = int(scale_index(density).max())
    assert top >= 253  # of 255
    assert np.abs(image[600, 800].astype(np.float64) - blended(top, ALPHA_HIGH)).max() <= 4


def test_hits_spread_evenly_at_the_threshold_rate_read_the_threshold() -> None:
    # Given severity-3 hits on a lattice at 8 per 100 sq ft over a 50 ft x 40 ft photo
    spacing = 10.0 / math.sqrt(TEST_SQUARE_HITS) * PPF  # px
    xs, ys = np.arange(spacing / 2, 2000, spacing), np.arange(spacing / 2, 1600, spacing)
    detections = [hit(i, x, y) for i, (x, y) in enumerate(((x, y) for x in xs for y in ys), start=1)]
    # When the density is made
    density = density_map(detections, 2000, 1600, pixels_per_foot=PPF)
    # Then away from the photo's edges (where the square runs off the photo) it reads 8
    rows, cols = density.shape
    middle = density[rows // 3 : 2 * rows // 3, cols // 3 : 2 * cols // 3]
    assert float(middle.mean()) == pytest.approx(TEST_SQUARE_HITS, rel=0.03)


def test_severity_weights_scale_the_density() -> None:
    # Given the same spot found at each severity
    peaks = {s: density_map([hit(1, 800, 600, severity=s)], 1600, 1200, pixels_per_foot=PPF).max() for s in range(1, 6)}
    # Then the peak is the severity's weight in hits
    for severity, weight in SEVERITY_WEIGHTS.items():
        assert peaks[severity] == pytest.approx(weight, rel=0.03)


def test_no_detections_is_the_photo_untouched_over_the_legend() -> None:
    # Given a textured photo smaller than the long side, and no detections
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    # When rendered
    image = decode(render_heatmap(photo, []))
    # Then the top is the photo pixel for pixel (no tint, not resized) and the legend is under it
    assert image.shape[1] == 640 and image.shape[0] > 480
    assert np.array_equal(image[:480], photo[:, :, ::-1])
    assert (image[480:] == 255).mean() > 0.5  # a white band with the legend drawn on it


@pytest.mark.parametrize(("width", "height"), [(4000, 3000), (3000, 4000), (4000, 1000)])
def test_output_long_side_is_capped_and_the_aspect_kept(width: int, height: int) -> None:
    # Given a green photo larger than the cap (against the legend's white its extent is measurable)
    photo = np.zeros((height, width, 3), dtype=np.uint8)
    photo[:, :, 1] = 200
    # When rendered at the default cap
    image = render_image(photo, [])
    # Then the whole fits in 2048 px and the photo part keeps its aspect
    assert max(image.shape[:2]) <= 2048
    green = (image[:, :, 1] == 200) & (image[:, :, 0] == 0) & (image[:, :, 2] == 0)
    photo_h, photo_w = int((green.mean(axis=1) > 0.5).sum()), int((green.mean(axis=0) > 0.5).sum())
    assert photo_w / photo_h == pytest.approx(width / height, rel=0.01)
    assert max(photo_w, photo_h) >= 1800  # as large as the legend leaves room for


def test_a_small_photo_is_never_enlarged() -> None:
    image = render_image(grey_photo(300, 200), [hit(1, 150, 100)])
    photo_rows = (image[:, :, 0] != 255).any(axis=1)
    assert int(photo_rows[:200].sum()) == 200 and image.shape[0] > 200
    assert image.shape[1] == max(300, MIN_LEGEND_WIDTH)  # padded for the legend, not scaled


def test_boxes_are_drawn_where_the_detections_are_after_the_resize() -> None:
    # Given a 4000 x 3000 photo with one severe detection, rendered with a 1000 px cap
    photo = grey_photo(4000, 3000)
    detection = Detection(id=1, type="hail_hit", severity=5, confidence=0.9, box=(1000, 800, 1400, 1200))
    image = render_image(photo, [detection], pixels_per_foot=PPF, long_side=1000, labels=False)
    scale = image.shape[1] / 4000  # the photo is the full width of a landscape output
    assert image.shape[1] == round(4000 * scale)
    x0, y0, x1, y1 = (round(v * scale) for v in detection.box)
    magenta = np.array(SEVERITY_COLOURS[5])

    def is_box_colour(x: int, y: int) -> bool:
        return bool(np.abs(image[y, x].astype(np.int32) - magenta).max() <= 30)

    # Then the box's edges are on the scaled box and the colour is nowhere far from them
    middle_x, middle_y = (x0 + x1) // 2, (y0 + y1) // 2
    assert is_box_colour(x0, middle_y) and is_box_colour(x1 - 1, middle_y)
    assert is_box_colour(middle_x, y0) and is_box_colour(middle_x, y1 - 1)
    assert not is_box_colour(middle_x, middle_y)
    assert not is_box_colour(x0 - 8, middle_y) and not is_box_colour(x1 + 8, middle_y)


def test_labels_add_text_near_the_box() -> None:
    photo = grey_photo()
    detections = [hit(1, 800, 600, severity=4, half=40)]
    plain = render_image(photo, detections, pixels_per_foot=PPF, labels=False)
    labelled = render_image(photo, detections, pixels_per_foot=PPF, labels=True)
    changed = np.nonzero((plain != labelled).any(axis=2))
    assert changed[0].size > 0
    assert changed[0].min() >= 500 and changed[0].max() <= 700  # just above or below the box


def test_png_carries_no_metadata() -> None:
    png = render_heatmap(grey_photo(), [hit(1, 800, 600)], pixels_per_foot=PPF)
    assert set(chunks(png)) == {b"IHDR", b"IDAT", b"IEND"}


def test_rendering_is_deterministic() -> None:
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (900, 1200, 3), dtype=np.uint8)
    spots = rng.uniform(50, 850, (20, 2))
    detections = [hit(i, x, y, severity=int(rng.integers(1, 6))) for i, (x, y) in enumerate(spots, start=1)]
    assert render_heatmap(photo, detections) == render_heatmap(photo, detections)


def test_unknown_scale_assumes_the_default_span() -> None:
    assert feet_scale(4000, 3000, None) == (4000 / DEFAULT_SPAN_FT, True)
    assert feet_scale(4000, 3000, 25.0) == (25.0, False)
    # the same photo read at the assumed scale and at that scale given are the same map
    detections = [hit(1, 2000, 1500)]
    assumed = density_map(detections, 4000, 3000)
    given = density_map(detections, 4000, 3000, pixels_per_foot=4000 / DEFAULT_SPAN_FT)
    assert np.array_equal(assumed, given)


@pytest.mark.parametrize(
    ("pixels", "ppf"),
    [
        (np.zeros((10, 10), dtype=np.uint8), None),
        (np.zeros((10, 10, 4), dtype=np.uint8), None),
        (np.zeros((10, 10, 3), dtype=np.float32), None),
        (np.zeros((10, 10, 3), dtype=np.uint8), 0.0),
        (np.zeros((10, 10, 3), dtype=np.uint8), float("nan")),
    ],
)
def test_bad_input_is_refused(pixels: np.ndarray, ppf: float | None) -> None:
    with pytest.raises(ValueError, match="pixels"):
        render_heatmap(pixels, [], pixels_per_foot=ppf)


def test_boxes_outside_the_photo_are_ignored() -> None:
    detection = Detection(id=1, type="other", severity=3, confidence=0.5, box=(5000, 5000, 5100, 5100))
    assert not density_map([detection], 1600, 1200, pixels_per_foot=PPF).any()
    image = render_image(grey_photo(), [detection], pixels_per_foot=PPF)
    assert (image[:1200] == GREY).all()
