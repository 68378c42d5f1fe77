"""The quantity sheet an estimator keys in, each line with the org's code for it.

Shingles carry the suggested waste and are rounded up to thirds of a square (bundles); tear-off,
steep charges, high-roof charge and underlayment are the measured area without waste (what is on
the roof); starter, ridge cap, drip edge, valley metal and the flashing round penetrations (their
perimeters) are lengths; ice and water an area.
The high-roof charge applies to the facets of a structure of two stories or more.
"""

from __future__ import annotations

from reports.inputs import Geometry
from reports.measurement import BANDS, Measurements, squares, up_to_third
from reports.settings import ReportSettings

HIGH_ROOF_STORIES = 2


def quantity_sheet(
    m: Measurements, geometry: Geometry, waste_percent: int, settings: ReportSettings
) -> list[dict[str, object]]:
    stories = {s.id: s.stories for s in geometry.structures}
    band_area = {band: sum(f.plane.area_sqft for f in m.facets if f.band == band) for band in BANDS}
    high = sum(f.plane.area_sqft for f in m.facets if (stories.get(f.plane.structure) or 1) >= HIGH_ROOF_STORIES)
    rows: list[tuple[str, str, float]] = [
        ("shingles", "SQ", up_to_third(squares(m.total_sqft * (1 + waste_percent / 100.0)))),
        ("tear_off", "SQ", squares(m.total_sqft)),
        ("steep_7_9", "SQ", squares(band_area["7-9/12"])),
        ("steep_10_12", "SQ", squares(band_area["10-12/12"])),
        ("steep_over_12", "SQ", squares(band_area["13+/12"])),
        ("high_roof", "SQ", squares(high)),
        ("starter", "LF", m.starter_ft),
        ("ridge_cap", "LF", m.ridge_cap_ft),
        ("drip_edge", "LF", m.drip_edge_ft),
        ("valley_metal", "LF", m.lines["valley"].ft),
        ("ice_and_water", "SF", m.ice_and_water_sqft),
        ("underlayment", "SQ", squares(m.total_sqft)),
        ("penetration_flashing", "LF", sum(p.perimeter_ft for p in geometry.penetrations)),
    ]
    return [
        {"name": name, "code": settings.line_codes.get(name), "unit": unit, "quantity": round(value, 2)}
        for name, unit, value in rows
    ]
