"""Quality gates on a finished report (its JSON), each reported with what it found. They read the
report itself, not the code that made it, so a report corrupted after the fact fails them too.

- facet areas add up to the total (and per structure), within 0.5%;
- the pitch table adds up to the total, its shares to 1;
- every eave and rake borders one facet, every ridge, hip and valley two, and each names facets of
  this roof;
- line totals are the sums of their lines, and the derived lengths follow their formulas;
- no component exceeds its parent: a facet's footprint its sloped area, a facet its structure, a
  slope's covered area the slope, steep squares the roof.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

AREA_TOLERANCE = 0.005
LENGTH_SLACK_FT = 0.15  # rounding of lines to a tenth of a foot, summed
Report = dict[str, Any]
Check = dict[str, Any]


def _close(a: float, b: float, tolerance: float = AREA_TOLERANCE) -> bool:
    return abs(a - b) <= tolerance * max(abs(a), abs(b), 1.0)


def facet_areas(report: Report) -> tuple[bool, str]:
    total = report["totals"]["area_sqft"]
    summed = sum(f["area_sqft"] for f in report["facets"])
    bad = [
        s["id"]
        for s in report["structures"]
        if not _close(
            sum(f["area_sqft"] for f in report["facets"] if f["structure"] == s["id"]), s["totals"]["area_sqft"]
        )
    ]
    ok = _close(summed, total) and not bad
    detail = f"facets {summed:,.1f} sq ft, total {total:,.1f} sq ft" + (
        f"; structures off: {', '.join(bad)}" if bad else ""
    )
    return ok, detail


def pitch_table(report: Report) -> tuple[bool, str]:
    total = report["totals"]["area_sqft"]
    summed = sum(p["area_sqft"] for p in report["pitches"])
    shares = sum(p["share"] for p in report["pitches"])
    ok = _close(summed, total) and (not report["pitches"] or abs(shares - 1.0) <= AREA_TOLERANCE)
    return ok, f"pitch rows {summed:,.1f} sq ft of {total:,.1f}; shares add to {shares:.3f}"


def edge_borders(report: Report) -> tuple[bool, str]:
    letters = {f["id"] for f in report["facets"]}
    wrong = []
    for i, edge in enumerate(report["edges"]):
        sides = 2 if edge["kind"] in ("ridge", "hip", "valley") else 1
        if len(edge["facets"]) != sides or not set(edge["facets"]) <= letters:
            wrong.append(f"{edge['kind']} #{i + 1} borders {', '.join(edge['facets']) or 'nothing'}")
    return not wrong, "; ".join(wrong[:5]) or f"{len(report['edges'])} lines each border the facets their kind needs"


def line_formulas(report: Report) -> tuple[bool, str]:
    lengths = report["lengths"]
    wrong = []
    for kind in ("ridge", "hip", "valley", "eave", "rake"):
        lines = [e["length_ft"] for e in report["edges"] if e["kind"] == kind]
        if len(lines) != lengths[kind]["count"] or abs(sum(lines) - lengths[kind]["ft"]) > LENGTH_SLACK_FT * max(
            1, len(lines)
        ):
            wrong.append(f"{kind} total")
    derived = {
        "drip_edge_ft": lengths["eave"]["ft"] + lengths["rake"]["ft"],
        "ridge_cap_ft": lengths["ridge"]["ft"] + lengths["hip"]["ft"],
        "starter_ft": lengths["eave"]["ft"]
        + (lengths["rake"]["ft"] if report["settings"]["starter"] == "eaves_and_rakes" else 0.0),
    }
    wrong += [name for name, value in derived.items() if abs(lengths[name] - value) > LENGTH_SLACK_FT]
    return not wrong, (
        "off: " + ", ".join(wrong)
    ) if wrong else "line totals and drip edge, ridge cap, starter follow their formulas"


def components(report: Report) -> tuple[bool, str]:
    wrong = []
    structures = {s["id"]: s["totals"]["area_sqft"] for s in report["structures"]}
    for f in report["facets"]:
        if f["footprint_sqft"] > f["area_sqft"] * (1 + AREA_TOLERANCE) + 0.1:
            wrong.append(f"{f['id']}: footprint over its sloped area")
        if f["area_sqft"] > structures.get(f["structure"], math.inf) * (1 + AREA_TOLERANCE):
            wrong.append(f"{f['id']}: larger than structure {f['structure']}")
        if f["damage"]["covered_sqft"] > f["area_sqft"] * (1 + AREA_TOLERANCE) + 0.1:
            wrong.append(f"{f['id']}: more seen than the facet holds")
    steep = sum(q["quantity"] for q in report["quantities"] if q["name"].startswith("steep_"))
    if steep > report["totals"]["squares"] * (1 + AREA_TOLERANCE) + 0.01:
        wrong.append("steep squares exceed the roof's")
    return not wrong, "; ".join(wrong[:5]) or "no component exceeds its parent"


GATES: tuple[tuple[str, Callable[[Report], tuple[bool, str]]], ...] = (
    ("facet_areas_add_up", facet_areas),
    ("pitch_table_adds_up", pitch_table),
    ("lines_border_their_facets", edge_borders),
    ("lengths_follow_formulas", line_formulas),
    ("no_component_exceeds_its_parent", components),
)


def run_gates(report: Report) -> dict[str, Any]:
    checks: list[Check] = []
    for name, gate in GATES:
        try:
            passed, detail = gate(report)
        except (KeyError, TypeError, ValueError) as exc:  # a report missing what a gate reads fails it
            passed, detail = False, f"could not be checked: {type(exc).__name__} {exc}"[:200]
        checks.append({"name": name, "passed": passed, "detail": detail})
    return {"passed": all(c["passed"] for c in checks), "checks": checks}
