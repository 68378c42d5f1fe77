"""The report's artifacts: facets and quantities as CSV (spreadsheets and estimating tools), the
diagrams (reports.diagrams), GeoJSON and the roof-measurement XML (reports.geo_exports)."""

from __future__ import annotations

import csv
import io
from typing import Any

from reports.diagrams import damage_svg, facets_svg, lengths_svg, pitch_svg
from reports.geo_exports import facets_geojson, measurement_xml
from reports.inputs import Geometry
from shared.typeset import png_of

FACET_COLUMNS = (
    "id", "structure", "pitch", "pitch_deg", "facing", "azimuth_deg", "area_sqft", "footprint_sqft", "squares",
    "steep_band", "ridge_ft", "hip_ft", "valley_ft", "eave_ft", "rake_ft", "photos", "covered_sqft", "hail_hits",
    "hits_per_100sqft", "decision", "needs_review",
)  # fmt: skip


def facets_csv(report: dict[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FACET_COLUMNS)
    for f in report["facets"]:
        d = f["damage"]
        row = {
            **f,
            **f["edges"],
            "photos": len(d["photos"]),
            "covered_sqft": d["covered_sqft"],
            "hail_hits": d["hail_hits"],
            "hits_per_100sqft": d["hits_per_100sqft"]["value"],
            "decision": d["decision"],
        }
        writer.writerow(["" if row[c] is None else row[c] for c in FACET_COLUMNS])
    return out.getvalue().encode()


def quantities_csv(report: dict[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("name", "code", "unit", "quantity"))
    for q in report["quantities"]:
        writer.writerow((q["name"], q["code"] or "", q["unit"], q["quantity"]))
    return out.getvalue().encode()


def artifacts(report: dict[str, Any], geometry: Geometry, threshold: float | None) -> dict[str, bytes]:
    """The artifacts by their contract names; diagrams only when the geometry has outlines to draw."""
    found = {
        "facets.csv": facets_csv(report),
        "quantities.csv": quantities_csv(report),
        "facets.geojson": facets_geojson(report, geometry),
        "measurements.xml": measurement_xml(report, geometry),
    }
    drawings = {
        "facets.svg": facets_svg(geometry, report),
        "pitch.svg": pitch_svg(geometry, report),
        "lengths.svg": lengths_svg(geometry, report),
        "damage-map.svg": damage_svg(geometry, report, threshold),
    }
    found.update({name: svg for name, svg in drawings.items() if svg is not None})
    if "damage-map.svg" in found:
        found["damage-map.png"] = png_of(found["damage-map.svg"])
    return found
