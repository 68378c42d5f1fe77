"""The report's tabular exports: facets and quantities as CSV (spreadsheets and estimating tools)."""

from __future__ import annotations

import csv
import io
from typing import Any

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


def artifacts(report: dict[str, Any]) -> dict[str, bytes]:
    """The artifacts by their contract names."""
    return {"facets.csv": facets_csv(report), "quantities.csv": quantities_csv(report)}
