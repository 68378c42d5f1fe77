"""The damage scorecard, per facet and per direction, and the decision under a carrier profile.

Per group of photos (the ones attributed to one facet, or counting for one direction):
- covered area: each photo's roof area in square feet (vision's own figure, else its roof mask at its
  scale, else 100 sq ft for a photo tagged as a test square), summed and capped at the group's area
  (photos of one slope overlap; without placement they cannot be added beyond the slope);
- hits: detections of the profile's counted types at its minimum confidence, less those a reviewer
  rejected, plus those a reviewer accepted below it;
- hits per 100 sq ft with an exact (Garwood) 95% Poisson interval: a slope seen over 300 sq ft with
  6 hits is 2.0 (0.7 to 4.4), and the interval says how far that is from a threshold;
- the largest count in one 10 x 10 ft window, where vision could place one on the photo;
- wind findings by type.
A group with too little seen is "insufficient_evidence", never "no damage".
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from reports.inputs import Detection, Photo, Review
from reports.profiles import WIND_TYPES, CarrierProfile

TEST_SQUARE_SQFT = 100.0
Z95 = 0.025  # each tail


@dataclass(frozen=True)
class PhotoFindings:
    photo: str
    covered_sqft: float | None
    hits: int
    test_square_max: float | None
    wind: dict[str, int]


def findings(photo: Photo, profile: CarrierProfile, reviews: dict[tuple[str, int], Review]) -> PhotoFindings:
    counted = [d for d in photo.detections if counts(d, photo.name, profile.counted_types, profile, reviews)]
    wind = Counter(d.type for d in photo.detections if counts(d, photo.name, WIND_TYPES, profile, reviews))
    square = photo.density.test_square_max if photo.density is not None else None
    if photo.tags.test_square:
        square = float(len(counted))
    elif square is not None:
        square = min(square, float(len(counted)))
    return PhotoFindings(photo.name, covered_sqft(photo), len(counted), square, dict(wind))


def counts(
    d: Detection, photo: str, types: Iterable[str], profile: CarrierProfile, reviews: dict[tuple[str, int], Review]
) -> bool:
    if d.type not in types:
        return False
    review = reviews.get((photo, d.id))
    if review is not None:
        return review.verdict == "accept"
    return d.confidence >= profile.min_confidence


def covered_sqft(photo: Photo) -> float | None:
    if photo.density is not None and photo.density.covered_sqft is not None:
        return photo.density.covered_sqft
    if photo.scale is not None and photo.roof_mask is not None:
        pixels = photo.roof_mask.coverage * photo.image.width * photo.image.height
        return pixels / photo.scale.pixels_per_foot**2
    if photo.tags.test_square:
        return TEST_SQUARE_SQFT
    return None


def poisson_interval(k: int) -> tuple[float, float]:
    """The exact two-sided 95% interval of a Poisson mean given k events (Garwood)."""
    lower = 0.0 if k == 0 else _solve(lambda m: 1.0 - _cdf(k - 1, m), Z95, k)
    upper = _solve(lambda m: _cdf(k, m), Z95, k, falling=True)
    return lower, upper


def _cdf(k: int, mean: float) -> float:
    if mean <= 0.0:
        return 1.0
    term = math.exp(-mean)
    total = term
    for i in range(1, k + 1):
        term *= mean / i
        total += term
    return min(1.0, total)


def _solve(f: Callable[[float], float], target: float, k: int, *, falling: bool = False) -> float:
    """The mean where f(mean) crosses target (f rises with the mean unless `falling`), by bisection."""
    lo, hi = 0.0, max(10.0, 3.0 * k + 30.0)
    for _ in range(80):
        mid = (lo + hi) / 2.0
        above = f(mid) > target
        if above != falling:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2.0


@dataclass(frozen=True)
class Score:
    photos: list[str]
    covered_sqft: float
    coverage: float
    hits: int
    rate: float | None
    ci95: tuple[float, float] | None
    test_square_max: float | None
    wind: dict[str, int]
    decision: str | None
    rule: str
    unknown_coverage: list[str]

    def to_json(self) -> dict[str, object]:
        return {
            "photos": self.photos,
            "covered_sqft": round(self.covered_sqft, 1),
            "coverage": round(self.coverage, 3),
            "hail_hits": self.hits,
            "hits_per_100sqft": {
                "value": None if self.rate is None else round(self.rate, 2),
                "ci95": None if self.ci95 is None else [round(v, 2) for v in self.ci95],
            },
            "test_square_max": self.test_square_max,
            "wind": self.wind,
            "decision": self.decision,
            "rule": self.rule,
            "photos_without_coverage": self.unknown_coverage,
        }


@dataclass(frozen=True)
class DroneShare:
    """What placed drone photos found on a facet (or a direction's facets): each mark once."""

    photos: list[str]
    covered_sqft: float
    hits: int
    test_square_max: float | None
    wind: dict[str, int]


def score(
    group: list[PhotoFindings], area_sqft: float, profile: CarrierProfile, drone: DroneShare | None = None
) -> Score:
    if drone is not None:
        group = [*group, PhotoFindings("", drone.covered_sqft, drone.hits, drone.test_square_max, drone.wind)]
    known = [f.covered_sqft for f in group if f.covered_sqft is not None]
    covered = min(sum(known), area_sqft)
    hits = sum(f.hits for f in group)
    rate = ci = None
    if covered > 0:
        lo, hi = poisson_interval(hits)
        rate, ci = hits / covered * TEST_SQUARE_SQFT, (lo / covered * TEST_SQUARE_SQFT, hi / covered * TEST_SQUARE_SQFT)
    squares = [f.test_square_max for f in group if f.test_square_max is not None]
    wind: Counter[str] = Counter()
    for f in group:
        wind.update(f.wind)
    decision, rule = decide(covered, hits, rate, max(squares) if squares else None, dict(wind), profile)
    return Score(
        photos=[f.photo for f in group if f.photo] + (drone.photos if drone is not None else []),
        covered_sqft=covered,
        coverage=covered / area_sqft if area_sqft else 0.0,
        hits=hits,
        rate=rate,
        ci95=ci,
        test_square_max=max(squares) if squares else None,
        wind=dict(wind),
        decision=decision,
        rule=rule,
        unknown_coverage=[f.photo for f in group if f.covered_sqft is None and f.photo],
    )


def decide(
    covered: float,
    hits: int,
    rate: float | None,
    square_max: float | None,
    wind: dict[str, int],
    profile: CarrierProfile,
) -> tuple[str | None, str]:
    named = f"{profile.name} v{profile.version}"
    if not profile.decides:
        return None, f"{named} reports counts and decides nothing"
    if covered < profile.min_coverage_sqft:
        return (
            "insufficient_evidence",
            f"photos cover {covered:.0f} sq ft; {named} needs {profile.min_coverage_sqft:g} sq ft",
        )
    threshold = profile.hits_per_test_square
    if threshold is not None:
        if square_max is not None and square_max >= threshold:
            return "replace", f"{square_max:g} hits in one 10 x 10 ft test square >= {threshold:g} ({named})"
        if rate is not None and rate >= threshold:
            return "replace", f"{rate:.1f} hits per 100 sq ft >= {threshold:g} per test square ({named})"
    for kind, limit in sorted(profile.wind_per_slope.items()):
        if wind.get(kind, 0) >= limit:
            return "replace", f"{wind[kind]} {kind.replace('_', ' ')}s >= {limit} per slope ({named})"
    seen = f"{hits} hits" + (f", most {square_max:g} in a test square" if square_max is not None else "")
    if hits or any(wind.values()):
        return "repair", f"{seen}: under {named}'s thresholds"
    return "no_functional_damage", f"no counted damage in {covered:.0f} sq ft seen ({named})"
