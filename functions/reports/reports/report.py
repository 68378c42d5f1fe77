"""The roof report: measurement and damage fused per facet, under a carrier profile (ARCHITECTURE.md,
"Report CLI and JSON"). A pure function of its inputs: the same geometry, photos, profile, settings,
assignments and reviews give the same report, id included.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from reports.attribution import COMPASS, Attribution, attribute, compass_of
from reports.camera import locator
from reports.drone_photos import DroneFindings, combined, place_drone_photos
from reports.inputs import EDGE_KINDS, Geometry, Photo, Review
from reports.measurement import FacetMeasure, Measurements, measure, pitch_factor, squares, suggested_waste, waste_table
from reports.profiles import DEFAULT_PROFILE, CarrierProfile
from reports.qc import run_gates
from reports.quantities import quantity_sheet
from reports.scorecard import PhotoFindings, Score, counts, findings, score
from reports.settings import ReportSettings


@dataclass(frozen=True)
class ReportInput:
    geometry: Geometry
    photos: list[Photo] = field(default_factory=list)
    profile: CarrierProfile = DEFAULT_PROFILE
    settings: ReportSettings = field(default_factory=ReportSettings)
    assignments: dict[str, str] = field(default_factory=dict)  # photo -> facet, by a person
    reviews: list[Review] = field(default_factory=list)
    claim_id: str | None = None
    sources: dict[str, Any] = field(default_factory=dict)  # job ids or file names the inputs came from
    report_id: str | None = None  # a report job's id; None: the digest of the inputs (the CLI's)


def report_id(given: ReportInput) -> str:
    """A digest of everything the report is made from: rebuilding it from the same inputs gives the same id."""
    parts = {
        "geometry": given.geometry.model_dump(mode="json"),
        "photos": [p.model_dump(mode="json") for p in given.photos],
        "profile": given.profile.model_dump(mode="json"),
        "settings": given.settings.model_dump(mode="json"),
        "assignments": given.assignments,
        "reviews": [r.model_dump(mode="json") for r in given.reviews],
        "claim_id": given.claim_id,
    }
    return "rpt_" + hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def build_report(given: ReportInput) -> dict[str, Any]:
    geometry, settings, profile = given.geometry, given.settings, given.profile
    m = measure(geometry, settings)
    reasons = {p.id: list(p.review_reasons) for p in geometry.planes}  # the geometry's own (geometry.quality)
    waste = suggested_waste(m, settings.waste_percents)
    reviews = {(r.photo, r.detection): r for r in given.reviews}
    drone = place_drone_photos(geometry, given.photos, profile, reviews, set(given.assignments))
    attributions = [_attribution(p, geometry, given.assignments, drone) for p in given.photos]
    found = {p.name: findings(p, profile, reviews) for p in given.photos if p.name not in drone.attributions}
    facet_scores = _facet_scores(m, attributions, found, profile, drone)
    directional = _directional(m, attributions, found, profile, drone)
    report: dict[str, Any] = {
        "report_id": given.report_id or report_id(given),
        "claim_id": given.claim_id,
        "profile": {"name": profile.name, "version": profile.version, "rules": profile.summary()},
        "source": {**geometry.source.model_dump(mode="json"), "inputs": given.sources},
        "settings": settings.model_dump(mode="json"),
        "structures": _structures(geometry, m),
        "totals": _totals(m),
        "facets": [_facet_json(f, reasons[f.plane.id], facet_scores[f.plane.id]) for f in m.facets],
        "edges": [e.model_dump(mode="json", include={"kind", "facets", "length_ft"}) for e in geometry.edges],
        "lengths": {
            **{kind: {"ft": round(m.lines[kind].ft, 1), "count": m.lines[kind].count} for kind in EDGE_KINDS},
            "drip_edge_ft": round(m.drip_edge_ft, 1),
            "starter_ft": round(m.starter_ft, 1),
            "ridge_cap_ft": round(m.ridge_cap_ft, 1),
        },
        "ice_and_water_sqft": round(m.ice_and_water_sqft, 1),
        "penetrations": {
            "count": len(geometry.penetrations),
            "area_sqft": round(sum(p.area_sqft for p in geometry.penetrations), 1),
            "perimeter_ft": round(sum(p.perimeter_ft for p in geometry.penetrations), 1),
            "items": [p.model_dump(mode="json") for p in geometry.penetrations],
        },
        "pitches": m.pitches,
        "waste": waste_table(m.total_sqft, settings.waste_percents),
        "suggested_waste_percent": waste.percent,
        "suggested_waste_reasons": waste.reasons,
        "waste_note": "waste covers field shingles only; starter and ridge cap are listed by length",
        "quantities": quantity_sheet(m, geometry, waste.percent, settings),
        "directional": directional,
        "roof_decision": _roof_decision(directional, profile),
        "attributions": [a.to_json() for a in attributions],
        "placements": drone.placements_json(),
        "unassigned_photos": [a.photo for a in attributions if not a.facets],
        "photos": [_photo_json(p, profile, reviews) for p in given.photos],
        "reviews": [r.model_dump(mode="json") for r in given.reviews],
    }
    report["qc"] = run_gates(report)
    report["summary"] = summary_line(report)
    return report


def summary_line(report: dict[str, Any]) -> str:
    """The report's first line: a failed gate first, then the roof in one sentence."""
    totals = report["totals"]
    roof = (
        f"{totals['facets']} facets, {totals['area_sqft']:,.0f} sq ft ({totals['squares']:.2f} squares), "
        f"predominant pitch {totals['predominant_pitch']}"
    )
    failed = [c["name"] for c in report["qc"]["checks"] if not c["passed"]]
    return (f"QC FAILED ({', '.join(failed)}). " if failed else "") + roof


def _totals(m: Measurements) -> dict[str, Any]:
    return {
        "area_sqft": round(m.total_sqft, 1),
        "squares": round(squares(m.total_sqft), 2),
        "facets": len(m.facets),
        "predominant_pitch": m.predominant_pitch,
    }


def _structures(geometry: Geometry, m: Measurements) -> list[dict[str, Any]]:
    listed = {s.id: s for s in geometry.structures}
    ids = sorted({f.plane.structure for f in m.facets}, key=lambda s: (len(s), s))
    out = []
    for sid in ids:
        members = [f for f in m.facets if f.plane.structure == sid]
        area = sum(f.plane.area_sqft for f in members)
        known = listed.get(sid)
        out.append(
            {
                "id": sid,
                "facets": [f.plane.id for f in members],
                "totals": {"area_sqft": round(area, 1), "squares": round(squares(area), 2), "facets": len(members)},
                "eave_height_m": known.eave_height_m if known else None,
                "stories": known.stories if known else None,
                "complexity": _complexity(members),
            }
        )
    return out


def _complexity(members: list[FacetMeasure]) -> str:
    cuts = sum(f.edges_ft["hip"] + f.edges_ft["valley"] for f in members)
    if len(members) <= 2 and cuts == 0:
        return "simple"
    return "moderate" if len(members) <= 6 else "complex"


def _facet_json(f: FacetMeasure, reasons: list[str], damage: Score) -> dict[str, Any]:
    p = f.plane
    return {
        "id": p.id,
        "structure": p.structure,
        "pitch": f.pitch,
        "pitch_deg": p.pitch_deg,
        "pitch_factor": round(pitch_factor(p.pitch_deg), 4),
        "facing": p.facing,
        "azimuth_deg": p.azimuth_deg,
        "area_sqft": p.area_sqft,
        "footprint_sqft": p.footprint_sqft,
        "squares": round(squares(p.area_sqft), 2),
        "steep_band": f.band,
        "needs_review": bool(reasons),
        "review_reasons": reasons,
        "edges": {f"{kind}_ft": round(f.edges_ft[kind], 1) for kind in EDGE_KINDS},
        "damage": damage.to_json(),
    }


def _photo_json(photo: Photo, profile: CarrierProfile, reviews: dict[tuple[str, int], Review]) -> dict[str, Any]:
    """A photo's evidence as a packet shows it: its image, tags and scale, and every detection with
    whether it counted under the profile (and the reviewer's verdict, when there is one)."""
    tags = photo.tags.model_dump(mode="json", exclude_defaults=True)
    return {
        "id": photo.name,
        "image": photo.image.model_dump(mode="json"),
        "tags": tags,
        "pixels_per_foot": photo.scale.pixels_per_foot if photo.scale else None,
        "placed": photo.camera is not None,
        "detections": [
            {
                "id": d.id,
                "type": d.type,
                "confidence": round(d.confidence, 3),
                "box": list(d.box),
                "counted": counts(d, photo.name, profile.counted_types, profile, reviews),
                "review": review.verdict if (review := reviews.get((photo.name, d.id))) else None,
            }
            for d in photo.detections
        ],
    }


def _attribution(photo: Photo, geometry: Geometry, assignments: dict[str, str], drone: DroneFindings) -> Attribution:
    """A placed drone photo's attribution, else its tags' (saying why a drone photo was not placed)."""
    if photo.name in drone.attributions:
        return drone.attributions[photo.name]
    tagged = attribute(photo, geometry.planes, assignments.get(photo.name), locator(geometry))
    why = drone.unplaced.get(photo.name)
    return replace(tagged, note="; ".join(n for n in (f"not placed: {why}", tagged.note) if n)) if why else tagged


def _facet_scores(
    m: Measurements,
    attributions: list[Attribution],
    found: dict[str, PhotoFindings],
    profile: CarrierProfile,
    drone: DroneFindings,
) -> dict[str, Score]:
    """A facet counts the photos attributed to it alone (a photo shared by several facets counts for
    their direction only) and the marks placed drone photos put on it."""
    groups: dict[str, list[PhotoFindings]] = defaultdict(list)
    for a in attributions:
        if len(a.facets) == 1 and a.photo in found:
            groups[a.facets[0]].append(found[a.photo])
    return {
        f.plane.id: score(groups[f.plane.id], f.plane.area_sqft, profile, drone.shares.get(f.plane.id))
        for f in m.facets
    }


def _directional(
    m: Measurements,
    attributions: list[Attribution],
    found: dict[str, PhotoFindings],
    profile: CarrierProfile,
    drone: DroneFindings,
) -> dict[str, Any]:
    areas: dict[str, float] = defaultdict(float)
    facets: dict[str, list[str]] = defaultdict(list)
    for f in m.facets:
        if f.plane.facing != "flat":
            point = compass_of(f.plane.azimuth_deg)
            areas[point] += f.plane.area_sqft
            facets[point].append(f.plane.id)
    groups: dict[str, list[PhotoFindings]] = defaultdict(list)
    for a in attributions:
        if a.direction is not None and a.photo in found:
            groups[a.direction].append(found[a.photo])
    out = {}
    for point in COMPASS:  # N, NE, E, ... clockwise
        if point in areas:
            shares = [drone.shares[f] for f in facets[point] if f in drone.shares]
            scored = score(groups[point], areas[point], profile, combined(shares)).to_json()
            out[point] = {"facets": facets[point], "area_sqft": round(areas[point], 1), **scored}
    return out


def _roof_decision(directional: dict[str, Any], profile: CarrierProfile) -> dict[str, Any]:
    replace = [point for point, d in directional.items() if d["decision"] == "replace"]
    if not profile.decides:
        return {"decision": None, "rule": f"{profile.name} v{profile.version} decides nothing", "slopes_to_replace": []}
    if profile.roof_replace_slopes is not None and len(replace) >= profile.roof_replace_slopes:
        rule = f"{len(replace)} slopes to replace >= {profile.roof_replace_slopes} ({profile.name} v{profile.version})"
        return {"decision": "replace_roof", "rule": rule, "slopes_to_replace": replace}
    decision = "replace_slopes" if replace else None
    return {"decision": decision, "rule": "slope by slope", "slopes_to_replace": replace}
