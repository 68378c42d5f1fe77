"""`dominus report GEOMETRY.json [DETECTIONS.json ...] [--profile FILE] [--settings FILE] [--out DIR] [--json]`:
the report from `dominus geometry --json` and `dominus vision --json` outputs, written to DIR as
`report.json` with its CSVs; progress goes to stderr."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from reports.exports import artifacts
from reports.inputs import Photo, read_geometry, read_photos
from reports.profiles import DEFAULT_PROFILE, read_profile
from reports.report import ReportInput, build_report
from reports.settings import ReportSettings
from shared.errors import DominusError, InvalidInput
from shared.http import parse_json_body

MAX_INPUT_BYTES = 50 * 1024 * 1024
T = TypeVar("T")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "report",
        help="the slope-by-slope roof report: measurements, quantities and the per-slope damage scorecard",
        description="Join a geometry result and vision results into the roof report (ARCHITECTURE.md, Report JSON).",
    )
    parser.add_argument("geometry", type=Path, help="`dominus geometry --json` output")
    parser.add_argument(
        "detections", type=Path, nargs="*", help="`dominus vision --json` outputs (tags tie photos to facets)"
    )
    parser.add_argument("--profile", type=Path, help="a carrier profile (JSON); default: counts only, no decisions")
    parser.add_argument(
        "--settings", type=Path, help="the org's report settings (JSON): waste columns, starter, line codes"
    )
    parser.add_argument("--claim", help="the claim id the report is for")
    parser.add_argument("--out", type=Path, help="a folder to write report.json and its artifacts into")
    parser.add_argument("--json", action="store_true", help="print the report JSON")
    parser.set_defaults(handler=run)


def read(path: Path) -> bytes:
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file")
    size = path.stat().st_size
    if size > MAX_INPUT_BYTES:
        raise InvalidInput(f"{path} is {size / 1e6:.0f} MB; a report input is at most {MAX_INPUT_BYTES // 10**6} MB")
    return path.read_bytes()


def of_file(path: Path, parse: Callable[[bytes], T]) -> T:
    """The file parsed, a bad one named in the error."""
    try:
        return parse(read(path))
    except DominusError as exc:
        raise type(exc)(f"{path.name}: {exc.message}", details=exc.details) from None


def run(args: argparse.Namespace) -> int:
    geometry = of_file(args.geometry, read_geometry)
    photos: list[Photo] = []
    for number, path in enumerate(args.detections, start=1):
        photos += of_file(path, functools.partial(read_photos, name=path.name))
        print(f"[{number}/{len(args.detections)}] {path.name}", file=sys.stderr, flush=True)
    given = ReportInput(
        geometry=geometry,
        photos=photos,
        profile=of_file(args.profile, read_profile) if args.profile else DEFAULT_PROFILE,
        settings=of_file(args.settings, lambda raw: parse_json_body(ReportSettings, raw))
        if args.settings
        else ReportSettings(),
        claim_id=args.claim,
        sources={"geometry": args.geometry.name, "photos": [p.name for p in args.detections]},
    )
    report = build_report(given)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(json.dumps(report, indent=2))
        for name, body in artifacts(report, geometry, given.profile.hits_per_test_square).items():
            (args.out / name).write_bytes(body)
        print(f"wrote {args.out}/report.json and its artifacts", file=sys.stderr)
    print(json.dumps(report, indent=2) if args.json else readable(report))
    return 0


def readable(report: dict[str, Any]) -> str:
    lines = [report["summary"], f"Profile: {report['profile']['rules']}", ""]
    rows = [("Facet", "Pitch", "Facing", "Area sq ft", "Band", "Photos", "Hits", "Per 100 sq ft", "Decision")]
    for f in report["facets"]:
        d = f["damage"]
        rate = d["hits_per_100sqft"]["value"]
        rows.append(
            (
                f["id"] + (" *" if f["needs_review"] else ""),
                f["pitch"],
                f["facing"],
                f"{f['area_sqft']:,.0f}",
                f["steep_band"],
                str(len(d["photos"])),
                str(d["hail_hits"]),
                "-" if rate is None else f"{rate:.1f}",
                d["decision"] or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lengths = report["lengths"]
    lines.append("")
    lines.append(
        "Lines: "
        + ", ".join(
            f"{k} {lengths[k]['ft']:.0f} ft ({lengths[k]['count']})" for k in ("ridge", "hip", "valley", "eave", "rake")
        )
    )
    lines.append(f"Suggested waste {report['suggested_waste_percent']}%; * needs review")
    if report["unassigned_photos"]:
        lines.append(f"Unassigned photos: {', '.join(report['unassigned_photos'])}")
    return "\n".join(lines)
