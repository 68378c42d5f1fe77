"""`dominus geometry INPUT [--resolution M] [--mask FILE] [--labels OUT] [--preview OUT.png] [--json]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from geometry.analysis import analyze_file, write_labels
from geometry.measure import RoofReport
from geometry.preview import write_preview
from geometry.units import SQFT_PER_M2


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "geometry",
        help="roof planes, pitch, facing and areas from a DSM raster or a point cloud",
        description="Segment roof planes and measure each facet: pitch, facing, sloped area and squares.",
    )
    parser.add_argument("input", type=Path, help="GeoTIFF or .npy DSM, or a point cloud (.xyz .pts .txt .las .laz)")
    parser.add_argument("--resolution", type=float, help="metres per pixel (.npy) or per cell (point clouds)")
    parser.add_argument("--mask", type=Path, help="a roof mask on the DSM's grid (nonzero = roof)")
    parser.add_argument("--labels", type=Path, metavar="OUT", help="write each cell's (or point's) facet label")
    parser.add_argument(
        "--preview", type=Path, metavar="OUT.png", help="draw the facets over a hillshade, to check at a glance"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    analysis = analyze_file(args.input, resolution=args.resolution, mask=args.mask)
    if args.labels is not None:
        write_labels(analysis, args.labels)
    if args.preview is not None:
        write_preview(analysis, args.preview)
    if args.json:
        print(json.dumps(analysis.report.to_json(), indent=2))
    else:
        print(table(analysis.report))
    return 0


def table(report: RoofReport) -> str:
    if not report.facets:
        return "\n".join(w.message for w in report.warnings) or "No roof planes found."
    rows = [("Facet", "Pitch", "Angle", "Facing", "Azimuth", "Area sq ft", "Squares", "Review")]
    for facet in report.facets:
        rows.append(
            (
                facet.id,
                facet.pitch,
                f"{facet.pitch_deg:.1f}°",
                facet.facing,
                f"{facet.azimuth_deg:.0f}°",
                f"{facet.area_m2 * SQFT_PER_M2:,.0f}",
                f"{facet.area_m2 * SQFT_PER_M2 / 100:.2f}",
                "; ".join(facet.review_reasons) if facet.review_reasons else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    totals = report.to_json()["totals"]
    lines.append(
        f"\n{totals['facets']} facets, {totals['area_sqft']:,.0f} sq ft, {totals['squares']:.2f} squares, "
        f"predominant pitch {totals['predominant_pitch']}"
    )
    lines += [f"{w.code}: {w.message}" for w in report.warnings]  # what the figures rest on
    return "\n".join(lines)
