"""Drone photos in the report: each photo with a camera pose, on a georeferenced roof, is placed
rather than tagged. Its counted detections become marks on facets (one mark however many photos saw
it), the facets it saw get the area it saw, and every mark keeps the photos and detections it came
from. A photo that cannot be placed (no georeference, no focal length) falls back to its tags, and
its attribution says why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from reports.attribution import Attribution, compass_of
from reports.camera import Camera, NotPlaceable, camera_of
from reports.inputs import Detection, Geometry, Photo, Plane, Review
from reports.placement import (
    Mark,
    Surface,
    coverage,
    covered_sqft,
    merge,
    most_in_a_test_square,
    place,
    pose_shifts,
    settle_facets,
    surfaces,
)
from reports.profiles import WIND_TYPES, CarrierProfile
from reports.scorecard import DroneShare, counts

PLACED_CONFIDENCE = 0.95


@dataclass
class DroneFindings:
    attributions: dict[str, Attribution] = field(default_factory=dict)  # photo -> how it was placed
    unplaced: dict[str, str] = field(default_factory=dict)  # photo -> why not
    shares: dict[str, DroneShare] = field(default_factory=dict)  # facet -> its share
    marks: list[Mark] = field(default_factory=list)

    def placements_json(self) -> list[dict[str, Any]]:
        return [
            {
                "facet": m.facet,
                "type": m.members[0].detection.type,
                "x_m": round(m.point[0], 3),
                "y_m": round(m.point[1], 3),
                "z_m": round(m.point[2], 3),
                "sigma_m": round(m.sigma_m, 3),
                "seen_in": [{"photo": p.photo, "detection": p.detection.id} for p in m.members],
            }
            for m in self.marks
        ]


def place_drone_photos(
    geometry: Geometry,
    photos: list[Photo],
    profile: CarrierProfile,
    reviews: dict[tuple[str, int], Review],
    assigned: set[str],
) -> DroneFindings:
    """Place every photo with a camera (and no reviewer's assignment, which overrides it)."""
    found = DroneFindings()
    roof = surfaces(geometry)
    with_pose = [p for p in photos if p.camera is not None and p.name not in assigned]
    if not with_pose:
        return found
    by_id = {s.id: s for s in roof}
    planes = {p.id: p for p in geometry.planes}
    cells: dict[str, set[tuple[int, int]]] = {}
    seen_by: dict[str, set[str]] = {}
    cameras: dict[str, Camera] = {}
    counted: dict[str, list[Detection]] = {}
    windy: dict[str, list[Detection]] = {}
    for photo in with_pose:
        assert photo.camera is not None
        try:
            camera = camera_of(photo.camera, geometry, photo.image.width, photo.image.height)
        except NotPlaceable as why:
            found.unplaced[photo.name] = str(why)
            continue
        saw = coverage(camera, roof)
        for facet, mine in saw.items():
            cells.setdefault(facet, set()).update(mine)
            seen_by.setdefault(facet, set()).add(photo.name)
        cameras[photo.name] = camera
        counted[photo.name] = [
            d for d in photo.detections if counts(d, photo.name, profile.counted_types, profile, reviews)
        ]
        windy[photo.name] = [d for d in photo.detections if counts(d, photo.name, WIND_TYPES, profile, reviews)]
        found.attributions[photo.name] = _attribution(photo, saw, planes, len(counted[photo.name]))
    found.marks = _marks(cameras, counted, roof)
    shifts = pose_shifts(found.marks)
    if shifts:  # placed again from the corrected poses: the same marks, closer together
        cameras = {name: replace(c, centre=c.centre + shifts.get(name, 0.0)) for name, c in cameras.items()}
        found.marks = _marks(cameras, counted, roof)
    wind_marks = _marks(cameras, windy, roof)
    for facet, facet_cells in cells.items():
        on_facet = [m for m in found.marks if m.facet == facet]
        points = np.array([m.point[:2] for m in on_facet]).reshape(-1, 2)
        found.shares[facet] = DroneShare(
            photos=sorted(seen_by[facet]),
            covered_sqft=covered_sqft(facet_cells, by_id[facet]),
            hits=len(on_facet),
            test_square_max=float(most_in_a_test_square(points, by_id[facet])),
            wind=dict(Counter(m.members[0].detection.type for m in wind_marks if m.facet == facet)),
        )
    return found


def _marks(cameras: dict[str, Camera], detections: dict[str, list[Detection]], roof: list[Surface]) -> list[Mark]:
    marks = merge([p for name, camera in cameras.items() for p in place(name, detections[name], camera, roof)])
    settle_facets(marks, roof)
    return marks


def _attribution(
    photo: Photo, saw: dict[str, set[tuple[int, int]]], planes: dict[str, Plane], counted: int
) -> Attribution:
    facets = tuple(sorted(saw, key=lambda f: -len(saw[f])))
    if not facets:
        return Attribution(
            photo.name, (), None, "unassigned", 0.0, "placed by its camera, it shows no facet of this roof"
        )
    main = planes[facets[0]]
    direction = None if main.facing == "flat" else compass_of(main.azimuth_deg)
    note = f"placed by its camera pose: sees {len(facets)} facet(s); {counted} counted detection(s) placed"
    return Attribution(photo.name, facets, direction, "drone_pose", PLACED_CONFIDENCE, note)


def combined(shares: list[DroneShare]) -> DroneShare | None:
    """Several facets' shares as one (a direction's): areas and marks add, the largest test square."""
    if not shares:
        return None
    squares = [s.test_square_max for s in shares if s.test_square_max is not None]
    wind: Counter[str] = Counter()
    for share in shares:
        wind.update(share.wind)
    return DroneShare(
        photos=sorted({p for s in shares for p in s.photos}),
        covered_sqft=sum(s.covered_sqft for s in shares),
        hits=sum(s.hits for s in shares),
        test_square_max=max(squares) if squares else None,
        wind=dict(wind),
    )
