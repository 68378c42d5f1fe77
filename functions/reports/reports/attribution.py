"""Which facet(s) a photo shows, with the method and how sure it is; the strongest evidence wins:

1. `assigned`: a person assigned it (the report's assignments) - it overrides everything below;
2. `facet_tag`: the photo's `facet` tag (or vision's `slope` tag holding a letter) names a facet;
3. `facing_tag`: its `facing` tag (or a compass `slope` tag) names a direction: the facets facing
   it (within 22.5 degrees of the compass point, else within 67.5). One such facet takes the photo;
   several share it, and the photo then counts for the direction, not for any one facet;
4. `gps_heading` / `gps_position`: a handheld photo's EXIF position (and compass heading) on a
   georeferenced roof: the facet that faces the photographer and that the camera points at;
5. otherwise the photo is unassigned, listed for a person to assign.

A `structure` tag narrows the facets to that structure. When tags conflict (a facet tag and a facing
tag that facet does not face), the facet tag wins and the attribution says so.
Drone photos with a camera pose are placed detection by detection instead (reports.drone_photos).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from reports.inputs import Photo, Plane

Locate = Callable[[float, float], tuple[float, float]]
FACES_DEG = 75.0  # a facet turned further from the photographer shows no shingles
HEADING_DEG = 40.0  # about half a phone camera's field of view across
COMPASS = {"N": 0.0, "NE": 45.0, "E": 90.0, "SE": 135.0, "S": 180.0, "SW": 225.0, "W": 270.0, "NW": 315.0}
NEAR_DEG = 22.5
WIDE_DEG = 67.5


@dataclass(frozen=True)
class Attribution:
    photo: str
    facets: tuple[str, ...]  # empty: unassigned
    direction: str | None  # the compass point the photo counts for
    method: str  # assigned | facet_tag | facing_tag | unassigned
    confidence: float
    note: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "photo": self.photo,
            "facets": list(self.facets),
            "direction": self.direction,
            "method": self.method,
            "confidence": self.confidence,
            "note": self.note,
        }


def compass_of(azimuth_deg: float) -> str:
    points = list(COMPASS)
    return points[round(azimuth_deg / 45.0) % 8]


def attribute(
    photo: Photo, planes: list[Plane], assigned: str | None = None, where: Locate | None = None
) -> Attribution:
    """`where` carries a WGS 84 position onto the roof's frame (None: the roof is not georeferenced)."""
    by_id = {p.id: p for p in planes}
    if assigned is not None and assigned in by_id:
        return _to_facet(photo.name, by_id[assigned], "assigned", 1.0, "assigned by a reviewer")
    tags = photo.tags
    candidates = [p for p in planes if tags.structure is None or p.structure == tags.structure]
    facet, facing = tags.facet, tags.facing
    if tags.slope is not None:
        if tags.slope in COMPASS:
            facing = facing or tags.slope
        else:
            facet = facet or tags.slope
    if facet is not None:
        plane = by_id.get(facet)
        if plane is not None:
            note = ""
            if facing is not None and facing in COMPASS and _apart(plane.azimuth_deg, COMPASS[facing]) > WIDE_DEG:
                note = f"the facet tag {facet} wins over the facing tag {facing} (facet {facet} faces {plane.facing})"
            return _to_facet(photo.name, plane, "facet_tag", 1.0, note)
        missing = f"the facet tag {facet} names no facet of this roof"
        if facing is None:
            return Attribution(photo.name, (), None, "unassigned", 0.0, missing)
    if facing is not None and facing in COMPASS:
        return _by_facing(photo.name, candidates, facing)
    if photo.handheld is not None:
        if where is None:
            return Attribution(
                photo.name,
                (),
                None,
                "unassigned",
                0.0,
                "its GPS position cannot be used: the roof is not georeferenced",
            )
        return by_position(
            photo.name, candidates, where(photo.handheld.latitude, photo.handheld.longitude), photo.handheld.heading_deg
        )
    return Attribution(photo.name, (), None, "unassigned", 0.0, "no facet or facing tag")


def by_position(photo: str, planes: list[Plane], at: tuple[float, float], heading: float | None) -> Attribution:
    """The facet a handheld photo shows, from where it was taken and where it pointed: of the sloped
    facets that face the photographer (within `FACES_DEG`) and, when the heading is known, lie within
    `HEADING_DEG` of it, the one it points at most directly, the nearer on a tie. A heading gives
    0.7 confidence; a position alone, the facet facing it most squarely, 0.4."""
    best: tuple[float, Plane, float] | None = None
    for plane in planes:
        if plane.facing == "flat" or not plane.outline:
            continue
        cx = sum(p[0] for p in plane.outline) / len(plane.outline)
        cy = sum(p[1] for p in plane.outline) / len(plane.outline)
        towards = math.degrees(math.atan2(cx - at[0], cy - at[1])) % 360.0  # from the photographer
        if _apart(plane.azimuth_deg, (towards + 180.0) % 360.0) > FACES_DEG:
            continue  # it faces away: its shingles are not in the photo
        off = _apart(heading, towards) if heading is not None else _apart(plane.azimuth_deg, (towards + 180.0) % 360.0)
        if heading is not None and off > HEADING_DEG:
            continue
        distance = math.hypot(cx - at[0], cy - at[1])
        cost = off + 0.5 * distance  # degrees, and half a degree a metre
        if best is None or cost < best[0]:
            best = (cost, plane, distance)
    if best is None:
        why = "no facet faces where it was taken" + (
            "" if heading is None else f" within {HEADING_DEG:g} degrees of its heading"
        )
        return Attribution(photo, (), None, "unassigned", 0.0, why)
    _, plane, distance = best
    if heading is not None:
        note = f"taken {distance:.0f} m from the facet, pointing {heading:.0f} degrees"
        return _to_facet(photo, plane, "gps_heading", 0.7, note)
    return _to_facet(
        photo, plane, "gps_position", 0.4, "no compass heading: the facet facing its position most squarely"
    )


def _to_facet(photo: str, plane: Plane, method: str, confidence: float, note: str) -> Attribution:
    direction = None if plane.facing == "flat" else compass_of(plane.azimuth_deg)
    return Attribution(photo, (plane.id,), direction, method, confidence, note)


def _by_facing(photo: str, planes: list[Plane], facing: str) -> Attribution:
    sloped = [p for p in planes if p.facing != "flat"]
    for reach, confidence in ((NEAR_DEG, 0.8), (WIDE_DEG, 0.5)):
        near = [p for p in sloped if _apart(p.azimuth_deg, COMPASS[facing]) <= reach]
        if near:
            note = "" if len(near) == 1 else f"{len(near)} facets face {facing}: the photo counts for the direction"
            return Attribution(
                photo,
                tuple(p.id for p in near),
                facing,
                "facing_tag",
                confidence if len(near) == 1 else confidence * 0.75,
                note,
            )
    return Attribution(photo, (), None, "unassigned", 0.0, f"no facet faces {facing}")


def _apart(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)
