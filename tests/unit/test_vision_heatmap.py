"""The damage heatmap (vision.heatmap): a local density in hits per 100 sq ft of roof on fixed steps,
even where the damage is even (under perspective too), tint only on the roof, the test-square count
and covered area, boxes where the detections are after the resize, and a PNG of pixels only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from vision.detections import DamageType, Detection
from vision.heatmap import (
    MIN_LEGEND_WIDTH,
    PER_AREA_SQFT,
    SEVERITY_COLOURS,
    SEVERITY_WEIGHTS,
    SIGMA_FT,
    STEP_ALPHA,
    STEP_EDGES,
    THRESHOLD,
    assumed_scale,
    density_map,
    read_damage,
    render_heatmap,
    render_image,
    scale_caption,
    stats_caption,
    step_colours,
    step_of,
    threshold_position,
)
from vision.photo_scale import PhotoScale

PPF = 40.0  # px per foot in most tests: a test square is 400 px
GREY = 128
WIDTH, HEIGHT = 1600, 1200


def grey_photo(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    return np.full((height, width, 3), GREY, dtype=np.uint8)


def flat_scale(ppf: float = PPF, direction: float = math.pi / 2) -> PhotoScale:
    return PhotoScale(ppf, WIDTH / 2, HEIGHT / 2, "shingle_courses", 0.04, direction=direction)


def hit(
    ident: int, cx: float, cy: float, severity: int = 3, half: int = 10, kind: DamageType = "hail_hit"
) -> Detection:
    box = (round(cx - half), round(cy - half), round(cx + half), round(cy + half))
    return Detection(id=ident, type=kind, severity=severity, confidence=0.9, box=box)


def hits_at(points: Sequence[tuple[float, float]], severity: int = 3) -> list[Detection]:
    return [hit(i, x, y, severity=severity) for i, (x, y) in enumerate(points, start=1)]


def decode(png: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def chunks(png: bytes) -> list[bytes]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    names, at = [], 8
    while at < len(png):
        length = int.from_bytes(png[at : at + 4], "big")
        names.append(png[at + 4 : at + 8])
        at += 12 + length
    return names


def single_peak(weight: float) -> float:
    """One hit's density at its centre in open roof: its weight over the Gaussian's 2 pi sigma^2."""
    return weight * PER_AREA_SQFT / (2 * math.pi * SIGMA_FT**2)


def blended(step: int, alpha: float) -> np.ndarray:
    """The colour a grey pixel takes under a step's tint at an opacity."""
    return np.asarray(alpha * step_colours()[step].astype(np.float64) + (1 - alpha) * GREY)


def less_than_a_step_apart(a: float, b: float) -> bool:
    """Two densities in the same or neighbouring steps and closer than the width of the lower's step."""
    low, high = sorted((a, b))
    edges = [0.0, *STEP_EDGES, 2 * STEP_EDGES[-1]]
    step = int(step_of(low))
    return high - low < edges[step + 1] - edges[step]


# ---- a roof receding from the camera ---------------------------------------------------------------


@dataclass(frozen=True)
class RecedingRoof:
    """A rectangle of roof, 2 * half_u ft along the courses, seen with the scale growing linearly
    down the photo (the eave nearer the camera): sky above it, the rest of the frame off the roof.
    Roof-plane feet (u along the courses from the centre column, v down the slope from the centre
    row) map to the image so that every small patch has the scale's pixels per foot both ways."""

    scale: PhotoScale
    top: int
    bottom: int
    half_u: float

    def ppf(self, y: np.ndarray | float) -> np.ndarray:
        return np.asarray(self.scale.pixels_per_foot + self.scale.gy * (np.asarray(y) - self.scale.cy))

    def to_image(self, u: float, v: float) -> tuple[float, float]:
        s = self.scale
        y = s.cy + s.pixels_per_foot / s.gy * (math.exp(s.gy * v) - 1)
        return s.cx + u * float(self.ppf(y)), y

    def v_of(self, y: float) -> float:
        return math.log(float(self.ppf(y)) / self.scale.pixels_per_foot) / self.scale.gy

    def mask(self) -> np.ndarray:
        ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
        on = np.abs(xs + 0.5 - self.scale.cx) <= self.half_u * self.ppf(ys + 0.5)
        return np.asarray(on & (ys >= self.top) & (ys < self.bottom))

    def lattice(self, spacing_ft: float) -> list[tuple[float, float]]:
        v0, v1 = self.v_of(self.top), self.v_of(self.bottom)
        us = np.arange(-self.half_u + spacing_ft / 2, self.half_u, spacing_ft)
        vs = np.arange(v0 + spacing_ft / 2, v1, spacing_ft)
        return [self.to_image(float(u), float(v)) for v in vs for u in us]

    def corners_inside(self, inset_ft: float) -> list[tuple[float, float]]:
        v0, v1 = self.v_of(self.top) + inset_ft, self.v_of(self.bottom) - inset_ft
        u = self.half_u - inset_ft
        return [self.to_image(su * u, v) for su in (-1, 1) for v in (v0, v1)]

    def centre(self) -> tuple[float, float]:
        return self.to_image(0.0, (self.v_of(self.top) + self.v_of(self.bottom)) / 2)


def receding_roof() -> RecedingRoof:
    """18 ft along the courses, 24 ft down the slope from the ridge (row 150) to the eave (row 1150),
    the scale doubling on the way (29 to 58 px per ft): whole multiples of a 3 ft lattice."""
    top, bottom, slope_ft = 150, 1150, 24.0
    p_top = (bottom - top) * math.log(2) / slope_ft  # rows = (p_bottom - p_top) / gy, slope = ln 2 / gy
    gy = p_top / (bottom - top)
    scale = PhotoScale(p_top + gy * (HEIGHT / 2 - top), WIDTH / 2, HEIGHT / 2, "shingle_courses", 0.04, gy=gy)
    return RecedingRoof(scale, top, bottom, half_u=9.0)


# ---- one hit ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("severity", [1, 2])
def test_one_minor_hit_stays_in_the_lowest_step(severity: int) -> None:
    # Given one minor hit in the middle of the roof
    detections = [hit(1, 800, 600, severity=severity)]
    # When the density and the picture are made
    density = density_map(detections, WIDTH, HEIGHT, scale=flat_scale())
    image = render_image(grey_photo(), detections, scale=flat_scale(), boxes=False)[0].astype(np.int32)
    # Then its peak is its weight spread over the kernel, inside the lowest step, drawn in that step's
    # colour at that step's opacity, and nothing on the photo turns warm
    assert density.peak == pytest.approx(single_peak(SEVERITY_WEIGHTS[severity]), rel=0.05)
    assert step_of(density.peak) == 0
    assert np.abs(image[600, 800] - blended(0, STEP_ALPHA[0])).max() <= 4
    b, g, r = image[:HEIGHT, :, 0], image[:HEIGHT, :, 1], image[:HEIGHT, :, 2]
    assert not ((r > g + 20) & (r > b + 20)).any()


def test_one_ordinary_hit_stays_under_the_carrier_threshold() -> None:
    density = density_map([hit(1, 800, 600)], WIDTH, HEIGHT, scale=flat_scale())
    assert single_peak(1.0) * 0.95 < density.peak < THRESHOLD


def test_severity_weights_scale_the_density() -> None:
    for severity, weight in SEVERITY_WEIGHTS.items():
        density = density_map([hit(1, 800, 600, severity=severity)], WIDTH, HEIGHT, scale=flat_scale())
        assert density.peak == pytest.approx(single_peak(weight), rel=0.05)


def test_the_kernel_is_measured_in_feet_on_the_roof() -> None:
    # Given the same hit on a photo at 40 and at 20 px per ft
    near = density_map([hit(1, 800, 600)], WIDTH, HEIGHT, scale=flat_scale(40.0))
    far = density_map([hit(1, 800, 600)], WIDTH, HEIGHT, scale=flat_scale(20.0))
    # Then both peak at one hit's density, and 3 ft away (120 px, then 60 px) both read the same
    assert near.peak == pytest.approx(far.peak, rel=0.05)
    expected = single_peak(1.0) * math.exp(-0.5 * (3 / SIGMA_FT) ** 2)
    assert near.at(920, 600) == pytest.approx(expected, rel=0.1)
    assert far.at(860, 600) == pytest.approx(expected, rel=0.1)


# ---- even spreads ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("spacing", "width", "height"), [(2.0, 1600, 1200), (3.0, 1560, 1200), (4.0, 1600, 1280)])
def test_an_even_spread_reads_its_rate_at_the_centre_and_the_corners(spacing: float, width: int, height: int) -> None:
    # Given ordinary hits on a lattice over the whole photo (25, 11.1 and 6.25 per 100 sq ft), no roof mask
    rate = PER_AREA_SQFT / spacing**2
    step_px = spacing * PPF
    points = [(x, y) for y in np.arange(step_px / 2, height, step_px) for x in np.arange(step_px / 2, width, step_px)]
    # When the density is made
    density = density_map(hits_at(points), width, height, scale=flat_scale())
    # Then the centre and the corners (the kernel cut by the photo's edge) read alike: no dark corners
    centre = density.at(width / 2, height / 2)
    corners = [density.at(x, y) for x in (20, width - 20) for y in (20, height - 20)]
    for corner in corners:
        assert less_than_a_step_apart(centre, corner)
    if spacing <= 3.0:  # a 1.5 ft kernel smooths a lattice this fine to within a few percent
        assert centre == pytest.approx(rate, rel=0.1)
        assert corners == pytest.approx([rate] * 4, rel=0.2)


def test_an_even_spread_on_a_receding_roof_reads_even() -> None:
    # Given hits every 3 ft on the roof plane of a roof seen at 30 px per ft at the ridge and 60 at the eave
    roof = receding_roof()
    rate = PER_AREA_SQFT / 3.0**2
    detections = hits_at(roof.lattice(3.0))
    # When the density is made with the roof mask and the perspective scale
    density = density_map(detections, WIDTH, HEIGHT, scale=roof.scale, roof=roof.mask())
    # Then near and far, at the centre and 1 ft inside each corner, it reads the rate
    centre = density.at(*roof.centre())
    assert centre == pytest.approx(rate, rel=0.1)
    for x, y in roof.corners_inside(1.0):
        assert density.at(x, y) == pytest.approx(rate, rel=0.2)
        assert less_than_a_step_apart(centre, density.at(x, y))


def test_without_the_perspective_the_same_roof_reads_uneven() -> None:
    # Given the receding roof's even spread, read with one scale for the whole photo (what the
    # perspective-aware map corrects): the far end holds 4x the hits per pixel area
    roof = receding_roof()
    flat = PhotoScale(roof.scale.pixels_per_foot, WIDTH / 2, HEIGHT / 2, "shingle_courses", 0.04)
    density = density_map(hits_at(roof.lattice(3.0)), WIDTH, HEIGHT, scale=flat, roof=roof.mask())
    near, far = roof.to_image(0.0, roof.v_of(roof.bottom) - 2), roof.to_image(0.0, roof.v_of(roof.top) + 2)
    assert density.at(*far) > 2.5 * density.at(*near)


def test_a_dense_cluster_is_over_the_threshold_and_the_empty_roof_beside_it_untinted() -> None:
    # Given 8 ordinary hits within 2 ft x 2 ft on the left, nothing on the right
    spots = [(400 + dx * 40, 600 + dy * 40) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0)]
    image, reading = render_image(grey_photo(), hits_at(spots), scale=flat_scale(), boxes=False)
    # Then the cluster reads well over the threshold, and 10 ft away the roof is the photo's own grey
    assert reading.density.at(400, 600) > 2 * THRESHOLD
    assert reading.test_square_max == pytest.approx(8.0)
    assert (image[200:1000, 1000:1600] == GREY).all()


# ---- roof only -------------------------------------------------------------------------------------


def sky_roof_wall() -> tuple[np.ndarray, np.ndarray]:
    """A photo with sky (rows 0-299), roof (300-899), a gutter (900-939) and a wall below, and its
    roof mask. Textured so that an untinted pixel is told from a tinted one."""
    rng = np.random.default_rng(5)
    photo = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    photo[:300] = (150, 190, 235)  # sky
    photo[300:900] = rng.integers(60, 110, (600, WIDTH, 1), dtype=np.uint8)  # roof
    photo[900:940] = (230, 230, 230)  # gutter
    photo[940:] = (180, 120, 90)  # brick wall
    roof = np.zeros((HEIGHT, WIDTH), dtype=bool)
    roof[300:900] = True
    return photo, roof


@pytest.mark.parametrize("long_side", [1200, 800])  # reduced by 3/4 (averaging 1 to 2 pixels) and by half
def test_nothing_is_tinted_off_the_roof(long_side: int) -> None:
    # Given hits on the roof, some right at its edges next to the sky and the gutter
    photo, roof = sky_roof_wall()
    spots = [(200, 310), (600, 320), (800, 600), (1000, 890), (1400, 880), (820, 640), (780, 580)]
    detections = hits_at(spots, severity=5)
    # When rendered, at a reduced size (the photo is downscaled with its mask)
    image, _ = render_image(photo, detections, roof=roof, scale=flat_scale(), long_side=long_side, boxes=False)
    out_h = round(HEIGHT * image.shape[1] / WIDTH)
    size = (image.shape[1], out_h)
    expected = cv2.cvtColor(cv2.resize(photo, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR)
    roof_share = cv2.resize(roof.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA)
    # Then every pixel off the roof is the downscaled photo's, and the roof near the hits is tinted
    off = roof_share == 0
    assert off.sum() > 0.4 * off.size
    assert np.array_equal(image[:out_h][off], expected[off])
    scale = image.shape[1] / WIDTH
    assert (image[round(600 * scale), round(800 * scale)] != expected[round(600 * scale), round(800 * scale)]).any()


def test_detections_off_the_roof_are_drawn_but_not_counted() -> None:
    # Given one hit on the roof and three on the wall below it
    _, roof = sky_roof_wall()
    detections = hits_at([(800, 600), (300, 1000), (800, 1050), (1300, 1100)])
    # When read
    reading = read_damage(detections, WIDTH, HEIGHT, scale=flat_scale(), roof=roof)
    # Then only the roof's is counted, and the roof next to the wall reads nothing from them
    assert reading.counted == 1
    assert reading.density.at(800, 890) < 0.1
    assert reading.density.peak == pytest.approx(single_peak(1.0), rel=0.05)


def test_a_hit_at_the_roof_edge_is_renormalised_over_the_roof_part() -> None:
    # Given ordinary hits every 3 ft over the roof only (rows 300-899), the roof's edge on both sides
    _, roof = sky_roof_wall()
    step_px = 3.0 * PPF
    points = [
        (x, y) for y in np.arange(300 + step_px / 2, 900, step_px) for x in np.arange(step_px / 2, WIDTH, step_px)
    ]
    density = density_map(hits_at(points), WIDTH, HEIGHT, scale=flat_scale(), roof=roof)
    # Then the rows along the roof's edges read the rate as the middle does, not half of it
    rate = PER_AREA_SQFT / 9.0
    for y in (310, 600, 890):
        assert density.at(WIDTH / 2, y) == pytest.approx(rate, rel=0.2)


# ---- statistics ------------------------------------------------------------------------------------


def test_the_test_square_count_finds_the_most_hits_in_10_by_10_ft() -> None:
    # Given 9 hits on a 4 ft grid (inside an 8 ft square), a tenth 11 ft from the nearest, and others far off
    cluster = [(400 + dx * 160, 400 + dy * 160) for dx in range(3) for dy in range(3)]
    others = [(1240, 400), (1400, 1100), (200, 1150), (1500, 300)]
    reading = read_damage(hits_at(cluster + others), WIDTH, HEIGHT, scale=flat_scale())
    # Then the largest test-square count is the cluster's 9
    assert reading.test_square_max == pytest.approx(9.0)
    assert reading.counted == 13


def test_the_test_square_counts_hail_hits_one_each_as_a_carrier_does() -> None:
    # Given 9 minor hits and, in the same square, a missing shingle and a crease
    cluster = [(400 + dx * 160, 400 + dy * 160) for dx in range(3) for dy in range(3)]
    wind = [
        Detection(id=20, type="missing_shingle", severity=4, confidence=0.9, box=(500, 500, 560, 530)),
        Detection(id=21, type="wind_crease", severity=2, confidence=0.9, box=(600, 450, 660, 460)),
    ]
    reading = read_damage([*hits_at(cluster, severity=1), *wind], WIDTH, HEIGHT, scale=flat_scale())
    # Then the square holds 9 hail hits, whatever their severity; the wind damage is not a hit
    assert reading.test_square_max == pytest.approx(9.0)
    assert reading.counted == 11


def test_test_squares_are_laid_along_the_courses() -> None:
    # Given 5 hits at the corners and centre of a 9.6 ft square turned 45 degrees in the photo
    reach = 4.8 * math.sqrt(2) * PPF  # centre to corner
    x, y = 800.0, 600.0
    detections = hits_at([(x, y), (x - reach, y), (x + reach, y), (x, y - reach), (x, y + reach)])
    # When the courses run at 45 degrees, the squares turn with them and hold all 5
    turned = read_damage(detections, WIDTH, HEIGHT, scale=flat_scale(direction=math.pi / 4))
    assert turned.test_square_max == pytest.approx(5.0)
    # And with level courses a square holds at most 3 of them (the diamond spans 13.6 ft both ways)
    level = read_damage(detections, WIDTH, HEIGHT, scale=flat_scale())
    assert level.test_square_max is not None and level.test_square_max <= 3.0


def test_a_roof_smaller_than_a_test_square_has_no_count_but_its_area() -> None:
    # Given a roof 20 ft x 4 ft (80 sq ft at 40 px per ft) with hits on it
    roof = np.zeros((HEIGHT, WIDTH), dtype=bool)
    roof[500:660, 400:1200] = True
    reading = read_damage(hits_at([(500, 580), (700, 580)]), WIDTH, HEIGHT, scale=flat_scale(), roof=roof)
    assert reading.test_square_max is None
    assert reading.covered_sqft == pytest.approx(80.0, rel=0.02)
    assert "no 10 x 10 ft test square fits" in stats_caption(reading)


def test_a_narrow_roof_has_no_test_square_even_when_its_area_is_enough() -> None:
    # Given a roof 40 ft x 6 ft (240 sq ft): more than a test square of area, but none fits on it
    roof = np.zeros((HEIGHT, WIDTH), dtype=bool)
    roof[500:740, :] = True
    reading = read_damage(hits_at([(500, 600)]), WIDTH, HEIGHT, scale=flat_scale(), roof=roof)
    assert reading.covered_sqft == pytest.approx(240.0, rel=0.02)
    assert reading.test_square_max is None


def test_covered_area_follows_the_perspective() -> None:
    # Given the receding roof (18 ft along the courses), whose slope length is known from the scale
    roof = receding_roof()
    reading = read_damage([], WIDTH, HEIGHT, scale=roof.scale, roof=roof.mask())
    slope_ft = roof.v_of(roof.bottom) - roof.v_of(roof.top)
    # Then the covered area is 18 ft times that, and an empty roof that holds test squares counts 0
    assert reading.covered_sqft == pytest.approx(2 * roof.half_u * slope_ft, rel=0.03)
    assert reading.test_square_max == 0.0


def test_an_unknown_scale_is_assumed_and_said_so_with_no_count() -> None:
    # Given no scale
    cluster = [(400 + dx * 160, 400 + dy * 160) for dx in range(3) for dy in range(3)]
    heatmap = render_heatmap(grey_photo(), hits_at(cluster))
    # Then the long side is taken as 12 ft, the legend says the scale is assumed, and neither the
    # test-square count nor the covered area is reported (they would be guesses)
    assert heatmap.scale == assumed_scale(WIDTH, HEIGHT)
    assert heatmap.scale_source == "assumed"
    assert heatmap.test_square_max is None and heatmap.covered_sqft is None
    assert heatmap.peak_per_100sqft > 0
    assert "Scale assumed" in scale_caption(heatmap.scale, WIDTH, HEIGHT)
    assert (
        stats_caption(read_damage(hits_at(cluster), WIDTH, HEIGHT)) == "No test-square count: the scale is not known."
    )


def test_the_legend_states_the_scale_source_and_its_uncertainty() -> None:
    courses = scale_caption(flat_scale(), WIDTH, HEIGHT)
    assert courses.startswith("Scale from shingle courses, +-4%")
    tag = PhotoScale(120.0, 800, 600, "test_square_tag", 0.2)
    assert scale_caption(tag, WIDTH, HEIGHT).startswith("Scale from the test-square tag (short side 10 ft), +-20%")
    assert "perspective" in scale_caption(receding_roof().scale, WIDTH, HEIGHT)
    assert "perspective" not in courses


def test_the_heatmap_carries_its_numbers() -> None:
    cluster = [(400 + dx * 160, 400 + dy * 160) for dx in range(3) for dy in range(3)]
    heatmap = render_heatmap(grey_photo(), hits_at(cluster), scale=flat_scale(), threshold=10.0)
    stats = heatmap.reading.stats_json()
    assert stats["test_square_max"] == pytest.approx(9.0) and stats["threshold"] == 10.0
    assert stats["covered_sqft"] == pytest.approx(WIDTH * HEIGHT / PPF**2, rel=0.01)
    assert stats["counted"] == 9 and stats["scale_source"] == "shingle_courses"
    assert "under the threshold of 10" in stats_caption(
        read_damage(hits_at(cluster), WIDTH, HEIGHT, scale=flat_scale(), threshold=10.0)
    )


# ---- legend ----------------------------------------------------------------------------------------


def test_the_threshold_is_marked_on_the_legend() -> None:
    # The default threshold is on the edge between the 4-8 and 8-16 steps; another lies within its step
    steps = len(STEP_EDGES) + 1
    assert threshold_position(8.0) == pytest.approx(2 / steps)
    assert 2 / steps < threshold_position(12.0) < 3 / steps
    # and the mark is drawn: the legend differs where it moved, the photo does not
    eight, _ = render_image(grey_photo(), [hit(1, 800, 600)], scale=flat_scale(), threshold=8.0)
    twelve, _ = render_image(grey_photo(), [hit(1, 800, 600)], scale=flat_scale(), threshold=12.0)
    changed = np.nonzero((eight != twelve).any(axis=2))[0]
    assert changed.size > 0 and changed.min() >= HEIGHT


def test_steps_are_fixed_and_absolute() -> None:
    assert list(step_of([0.0, 3.99, 4.0, 7.9, 8.0, 16.0, 31.9, 32.0, 500.0])) == [0, 0, 1, 1, 2, 3, 3, 4, 4]


# ---- the picture -----------------------------------------------------------------------------------


def test_no_detections_is_the_photo_untouched_over_the_legend() -> None:
    # Given a textured photo smaller than the long side, and no detections
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    # When rendered
    heatmap = render_heatmap(photo, [])
    image = decode(heatmap.png)
    # Then the top is the photo pixel for pixel (no tint, not resized) and the legend is under it
    assert image.shape[1] == 640 and image.shape[0] > 480
    assert np.array_equal(image[:480], photo[:, :, ::-1])
    assert (image[480:] == 255).mean() > 0.5  # a white band with the legend drawn on it
    assert heatmap.peak_per_100sqft == 0.0 and heatmap.counted == 0


@pytest.mark.parametrize(("width", "height"), [(4000, 3000), (3000, 4000), (4000, 1000)])
def test_output_long_side_is_capped_and_the_aspect_kept(width: int, height: int) -> None:
    # Given a green photo larger than the cap (against the legend's white its extent is measurable)
    photo = np.zeros((height, width, 3), dtype=np.uint8)
    photo[:, :, 1] = 200
    # When rendered at the default cap
    image, _ = render_image(photo, [])
    # Then the whole fits in 2048 px and the photo part keeps its aspect
    assert max(image.shape[:2]) <= 2048
    green = (image[:, :, 1] == 200) & (image[:, :, 0] == 0) & (image[:, :, 2] == 0)
    photo_h, photo_w = int((green.mean(axis=1) > 0.5).sum()), int((green.mean(axis=0) > 0.5).sum())
    assert photo_w / photo_h == pytest.approx(width / height, rel=0.01)
    assert max(photo_w, photo_h) >= 1750  # as large as the legend leaves room for


def test_a_small_photo_is_never_enlarged() -> None:
    image, _ = render_image(grey_photo(300, 200), [hit(1, 150, 100)])
    photo_rows = (image[:, :, 0] != 255).any(axis=1)
    assert int(photo_rows[:200].sum()) == 200 and image.shape[0] > 200
    assert image.shape[1] == max(300, MIN_LEGEND_WIDTH)  # padded for the legend, not scaled


def test_boxes_are_drawn_where_the_detections_are_after_the_resize() -> None:
    # Given a 4000 x 3000 photo with one severe detection, rendered with a 1000 px cap
    photo = grey_photo(4000, 3000)
    detection = Detection(id=1, type="hail_hit", severity=5, confidence=0.9, box=(1000, 800, 1400, 1200))
    image, _ = render_image(photo, [detection], scale=flat_scale(), long_side=1000, labels=False)
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
    plain, _ = render_image(photo, detections, scale=flat_scale(), labels=False)
    labelled, _ = render_image(photo, detections, scale=flat_scale(), labels=True)
    changed = np.nonzero((plain != labelled).any(axis=2))
    assert changed[0].size > 0
    assert changed[0].min() >= 500 and changed[0].max() <= 700  # just above or below the box


def test_png_carries_no_metadata() -> None:
    png = render_heatmap(grey_photo(), [hit(1, 800, 600)], scale=flat_scale()).png
    assert set(chunks(png)) == {b"IHDR", b"IDAT", b"IEND"}


def test_rendering_is_deterministic() -> None:
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (900, 1200, 3), dtype=np.uint8)
    spots = rng.uniform(50, 850, (20, 2))
    detections = [hit(i, x, y, severity=int(rng.integers(1, 6))) for i, (x, y) in enumerate(spots, start=1)]
    assert render_heatmap(photo, detections) == render_heatmap(photo, detections)


@pytest.mark.parametrize(
    ("pixels", "roof", "threshold", "message"),
    [
        (np.zeros((10, 10), dtype=np.uint8), None, 8.0, "pixels"),
        (np.zeros((10, 10, 4), dtype=np.uint8), None, 8.0, "pixels"),
        (np.zeros((10, 10, 3), dtype=np.float32), None, 8.0, "pixels"),
        (np.zeros((10, 10, 3), dtype=np.uint8), np.ones((10, 10), dtype=np.uint8), 8.0, "roof"),
        (np.zeros((10, 10, 3), dtype=np.uint8), np.ones((10, 9), dtype=bool), 8.0, "roof"),
        (np.zeros((10, 10, 3), dtype=np.uint8), None, 0.0, "threshold"),
        (np.zeros((10, 10, 3), dtype=np.uint8), None, float("nan"), "threshold"),
    ],
)
def test_bad_input_is_refused(pixels: np.ndarray, roof: np.ndarray | None, threshold: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_heatmap(pixels, [], roof=roof, threshold=threshold)


def test_boxes_outside_the_photo_are_ignored() -> None:
    detection = Detection(id=1, type="other", severity=3, confidence=0.5, box=(5000, 5000, 5100, 5100))
    assert not density_map([detection], WIDTH, HEIGHT, scale=flat_scale()).values.any()
    image, reading = render_image(grey_photo(), [detection], scale=flat_scale())
    assert (image[:HEIGHT] == GREY).all() and reading.counted == 0
