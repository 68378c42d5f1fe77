"""The packet built once from a claim's report, its photos and the cover letter: each section as
plain blocks (see `model`), in the order the org's template asks for.

Wording reports findings and counts (what was measured, what was seen, what the profile's rule gives)
and never interprets the policy: the carrier applies its own guidelines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from packets.model import (
    SECTION_KEYS,
    Block,
    Figure,
    LeftOut,
    Packet,
    PacketPhoto,
    Paragraph,
    PhotoGrid,
    Section,
    SectionKey,
    Table,
)

COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
DECISIONS = {
    "replace_roof": "replace roof",
    "replace_slopes": "replace slopes",
    "replace": "replace",
    "repair": "repair",
    "insufficient_evidence": "insufficient evidence",
    None: "counts only",
}
DISCLAIMER = (
    "This packet reports measurements, findings and counts. It does not interpret the policy: the carrier "
    "applies its own guidelines to them."
)


@dataclass(frozen=True)
class PacketOptions:
    """What the org's template decides: which sections, in which order; photos per page; names."""

    sections: tuple[SectionKey, ...] = SECTION_KEYS
    photos_per_page: int = 4
    org: str = ""
    title: str = "Roof claim packet"
    letter_by_ai: bool = False  # the cover letter was drafted through the engine (the disclosure says so)
    date: str = ""  # the packet's date (YYYY-MM-DD); the report's when empty


@dataclass(frozen=True)
class Diagrams:
    """The report's drawings as PNG (the damage map, facets, pitch, lengths), where it has them."""

    png: dict[str, bytes] = field(default_factory=dict)


def build_packet(
    report: dict[str, Any],
    photos: list[PacketPhoto],
    left_out: list[LeftOut],
    diagrams: Diagrams,
    cover_letter: list[str],
    options: PacketOptions,
) -> Packet:
    numbers = _photo_numbers(report, photos)
    makers: dict[SectionKey, Callable[[], tuple[Block, ...]]] = {
        "cover_letter": lambda: tuple(Paragraph(p) for p in cover_letter),
        "evidence_index": lambda: _evidence_index(report, photos, left_out),
        "summary": lambda: _summary(report),
        "scorecard": lambda: _scorecard(report, diagrams, numbers),
        "measurements": lambda: _measurements(report, diagrams),
        "photos": lambda: _photos(photos, options.photos_per_page),
        "damage_summary": lambda: _damage_summary(report, numbers),
        "quantities": lambda: _quantities(report, numbers),
        "methodology": lambda: _methodology(report, left_out, options.letter_by_ai),
    }
    sections = tuple(
        Section(key, TITLES[key], blocks)
        for key in options.sections
        if (blocks := makers[key]()) and not (key == "photos" and not photos)
    )
    claim = report.get("claim_id") or "no claim id"
    subtitle = f"Claim {claim} · report {report['report_id']}"
    return Packet(
        title=options.title,
        subtitle=subtitle,
        org=options.org,
        date=options.date or _report_date(report),
        sections=sections,
        left_out=tuple(left_out),
        cover_letter=tuple(Paragraph(p) for p in cover_letter),
    )


TITLES: dict[SectionKey, str] = {
    "cover_letter": "Cover letter",
    "evidence_index": "Evidence index",
    "summary": "Property and inspection summary",
    "scorecard": "Damage scorecard by slope",
    "measurements": "Roof measurements",
    "photos": "Photo report",
    "damage_summary": "Damage summary by slope",
    "quantities": "Quantity sheet",
    "methodology": "Methodology, quality checks and AI disclosure",
}


def _report_date(report: dict[str, Any]) -> str:
    created = str(report.get("created_at") or report.get("source", {}).get("capture_date") or "")
    return created[:10]


def _photo_numbers(report: dict[str, Any], photos: list[PacketPhoto]) -> dict[str, list[int]]:
    """Facet letter (and compass point) -> the numbers of the photos attributed to it."""
    number = {p.id: p.number for p in photos}
    found: dict[str, list[int]] = defaultdict(list)
    for a in report.get("attributions", []):
        if a["photo"] not in number:
            continue
        for facet in a.get("facets") or []:
            found[facet].append(number[a["photo"]])
        if a.get("direction"):
            found[a["direction"]].append(number[a["photo"]])
    return {k: sorted(set(v)) for k, v in found.items()}


def _numbers(values: Iterable[int]) -> str:
    """Photo numbers as ranges: 1-3, 7, 9-10."""
    runs: list[list[int]] = []
    for n in sorted(set(values)):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def _ft(value: float) -> str:
    return f"{value:,.1f}"


def _sqft(value: float) -> str:
    return f"{value:,.0f}"


def _rate(damage: dict[str, Any]) -> tuple[str, str]:
    rate = damage.get("hits_per_100sqft") or {}
    if rate.get("value") is None:
        return "-", "-"
    lo, hi = rate.get("ci95") or (None, None)
    ci = f"{lo:.1f}-{hi:.1f}" if lo is not None and hi is not None else "-"
    return f"{rate['value']:.1f}", ci


def _evidence_index(report: dict[str, Any], photos: list[PacketPhoto], left_out: list[LeftOut]) -> tuple[Block, ...]:
    source = report.get("source", {})
    measured = f"height data at {source['resolution_m']} m" if source.get("resolution_m") else "height data"
    if source.get("capture_date"):
        measured += f", captured {source['capture_date']}"
    rows = [
        ("Roof report", f"report {report['report_id']}, {report['totals']['facets']} facets", "Roof measurements"),
        ("Measurement source", measured, "Roof measurements"),
        ("Carrier profile", f"{report['profile']['name']} v{report['profile']['version']}", "Damage scorecard"),
        ("Photos", f"{len(photos)} shown, {len(left_out)} left out", "Photo report; photos.zip"),
        ("Exports", "report JSON, facets GeoJSON, CSVs, measurement XML", "files beside this packet"),
    ]
    blocks: list[Block] = [Table(("Item", "What", "Where"), tuple(rows), widths=(0.25, 0.45, 0.3))]
    if photos:
        listed = tuple((str(p.number), p.role, p.shows, p.id[:40]) for p in photos)
        blocks.append(Table(("Photo", "Kind", "Shows", "Photo id"), listed, caption="Photos in this packet"))
    return tuple(blocks)


def _summary(report: dict[str, Any]) -> tuple[Block, ...]:
    totals = report["totals"]
    qc = report.get("qc", {})
    first = report.get("summary", "")
    lead = Paragraph(first if first else f"{totals['facets']} facets, {_sqft(totals['area_sqft'])} sq ft", "lead")
    structures = tuple(
        (
            s["id"],
            str(s["totals"]["facets"]),
            _sqft(s["totals"]["area_sqft"]),
            f"{s['totals']['squares']:.2f}",
            str(s.get("stories") or "-"),
            f"{s['eave_height_m']:.1f} m" if s.get("eave_height_m") is not None else "-",
            s.get("complexity") or "-",
        )
        for s in report.get("structures", [])
    )
    decision = report.get("roof_decision", {})
    rows = (
        ("Claim", report.get("claim_id") or "-"),
        ("Report", f"{report['report_id']}"),
        ("Total roof area", f"{_sqft(totals['area_sqft'])} sq ft ({totals['squares']:.2f} squares)"),
        ("Predominant pitch", totals["predominant_pitch"]),
        ("Carrier profile", report["profile"].get("rules") or report["profile"]["name"]),
        ("Roof-level result", f"{DECISIONS.get(decision.get('decision'), 'none')}: {decision.get('rule', '-')}"),
        ("Quality checks", "all passed" if qc.get("passed") else "FAILED: see Methodology"),
    )
    return (
        lead,
        Table(("Item", "Detail"), rows, widths=(0.3, 0.7)),
        Table(
            ("Structure", "Facets", "Area sq ft", "Squares", "Stories", "Eave height", "Complexity"),
            structures,
            caption="Structures",
            numeric=(1, 2, 3),
        ),
        Paragraph(DISCLAIMER, "note"),
    )


def _scorecard(report: dict[str, Any], diagrams: Diagrams, numbers: dict[str, list[int]]) -> tuple[Block, ...]:
    blocks: list[Block] = []
    if "damage-map.png" in diagrams.png:
        blocks.append(
            Figure(
                "damage-map.png",
                diagrams.png["damage-map.png"],
                "Damage map: facets coloured by functional hits per 100 sq ft; placed hits drawn where they are",
                0.9,
            )
        )
    directional = report.get("directional", {})
    rows = [
        _damage_row(p, ", ".join(directional[p]["facets"]), directional[p], numbers)
        for p in COMPASS
        if p in directional
    ]
    blocks.append(
        Table(
            ("Slope", "Facets", "Sq ft", "Seen", "Hits", "Per 100 sq ft", "95% CI", "Test sq.", "Result", "Photos"),
            tuple(rows),
            caption=f"By direction, under {report['profile']['name']} v{report['profile']['version']}",
            numeric=(2, 3, 4, 5, 7),
        )
    )
    facet_rows = [
        _damage_row(f["id"], f"{f['facing']} {f['pitch']}", {**f["damage"], "area_sqft": f["area_sqft"]}, numbers)
        for f in report["facets"]
    ]
    blocks.append(
        Table(
            ("Facet", "Facing", "Sq ft", "Seen", "Hits", "Per 100 sq ft", "95% CI", "Test sq.", "Result", "Photos"),
            tuple(facet_rows),
            caption="By facet",
            numeric=(2, 3, 4, 5, 7),
        )
    )
    rules = sorted({d.get("rule", "") for d in report.get("directional", {}).values()} - {""})
    blocks.append(Paragraph(f"Profile: {report['profile'].get('rules') or report['profile']['name']}", "note"))
    blocks += [Paragraph(f"Rule applied: {rule}", "note") for rule in rules[:8]]
    return tuple(blocks)


def _damage_row(name: str, what: str, d: dict[str, Any], numbers: dict[str, list[int]]) -> tuple[str, ...]:
    """A slope's or a facet's scorecard line: its area, coverage, hits, rate and interval, test
    square, the profile's result and the photos behind it."""
    rate, ci = _rate(d)
    return (
        name,
        what,
        _sqft(d["area_sqft"]),
        f"{d.get('coverage', 0.0):.0%}",
        str(d["hail_hits"]),
        rate,
        ci,
        "-" if d.get("test_square_max") is None else f"{d['test_square_max']:.0f}",
        DECISIONS.get(d.get("decision"), str(d.get("decision"))),
        _numbers(numbers.get(name, [])) or "-",
    )


def _measurements(report: dict[str, Any], diagrams: Diagrams) -> tuple[Block, ...]:
    blocks: list[Block] = []
    for name, caption in (
        ("facets.png", "Facets, lettered, with their areas"),
        ("pitch.png", "Pitch, with down-slope arrows coloured by steep band"),
        ("lengths.png", "Roof lines by kind, in feet and inches"),
    ):
        if name in diagrams.png:
            blocks.append(Figure(name, diagrams.png[name], caption, 0.9))
    facets = tuple(
        (
            f["id"],
            f["structure"],
            f"{f['facing']} {f['azimuth_deg']:.0f}°",
            f"{f['pitch']} ({f['pitch_deg']:.1f}°)",
            _sqft(f["area_sqft"]),
            f"{f['squares']:.2f}",
            f["steep_band"],
            " / ".join(_ft(f["edges"][f"{k}_ft"]) for k in ("ridge", "hip", "valley", "eave", "rake")),
            "; ".join(f["review_reasons"]) if f["needs_review"] else "",
        )
        for f in report["facets"]
    )
    blocks.append(
        Table(
            ("Facet", "Str.", "Facing", "Pitch", "Sq ft", "Squares", "Band", "Ridge/hip/valley/eave/rake ft", "Review"),
            facets,
            caption="Facets",
            numeric=(4, 5),
            widths=(0.06, 0.05, 0.1, 0.13, 0.08, 0.08, 0.09, 0.22, 0.19),
        )
    )
    pitches = tuple(
        (p["pitch"], _sqft(p["area_sqft"]), f"{p['share']:.1%}", f"{p['squares']:.2f}") for p in report["pitches"]
    )
    blocks.append(Table(("Pitch", "Sq ft", "Share", "Squares"), pitches, caption="Areas per pitch", numeric=(1, 2, 3)))
    lengths = report["lengths"]
    line_rows = [
        (k, _ft(lengths[k]["ft"]), str(lengths[k]["count"])) for k in ("ridge", "hip", "valley", "rake", "eave")
    ]
    line_rows += [
        ("drip edge (eaves + rakes)", _ft(lengths["drip_edge_ft"]), "-"),
        ("starter", _ft(lengths["starter_ft"]), "-"),
        ("ridge cap (ridges + hips)", _ft(lengths["ridge_cap_ft"]), "-"),
    ]
    blocks.append(Table(("Line", "Feet", "Count"), tuple(line_rows), caption="Lengths", numeric=(1, 2)))
    waste = tuple(
        ("measured" if w["percent"] == 0 else f"{w['percent']}%", _sqft(w["area_sqft"]), f"{w['squares']:.2f}")
        for w in report["waste"]
    )
    blocks.append(Table(("Waste", "Sq ft", "Squares"), waste, caption="Waste table", numeric=(1, 2)))
    suggested = f"Suggested waste: {report['suggested_waste_percent']}%"
    reasons = report.get("suggested_waste_reasons") or []
    blocks.append(
        Paragraph(suggested + (f" ({'; '.join(reasons)})" if reasons else "") + f". {report['waste_note']}.", "note")
    )
    pens = report.get("penetrations", {})
    if pens.get("count"):
        blocks.append(
            Paragraph(
                f"Penetrations the height data shows: {pens['count']}, {_sqft(pens['area_sqft'])} sq ft, "
                f"{_ft(pens['perimeter_ft'])} ft of perimeter.",
                "note",
            )
        )
    return tuple(blocks)


def _photos(photos: list[PacketPhoto], per_page: int) -> tuple[Block, ...]:
    if not photos:
        return ()
    return (PhotoGrid(tuple(photos), 2 if per_page == 2 else 4),)


def _damage_summary(report: dict[str, Any], numbers: dict[str, list[int]]) -> tuple[Block, ...]:
    blocks: list[Block] = []
    profile = f"{report['profile']['name']} v{report['profile']['version']}"
    for point in COMPASS:
        d = report.get("directional", {}).get(point)
        if d is None:
            continue
        seen = f"photos cover {_sqft(d.get('covered_sqft') or 0)} sq ft ({d.get('coverage', 0.0):.0%})"
        rate, ci = _rate(d)
        hits = f"{d['hail_hits']} functional hail hit{'' if d['hail_hits'] == 1 else 's'} counted"
        if rate != "-":
            hits += f" ({rate} per 100 sq ft, 95% interval {ci})"
        square = (
            "" if d.get("test_square_max") is None else f"; at most {d['test_square_max']:.0f} in one 10 x 10 ft square"
        )
        wind = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted((d.get("wind") or {}).items()))
        photos = _numbers(numbers.get(point, []))
        text = (
            f"{point} slope (facets {', '.join(d['facets'])}; {_sqft(d['area_sqft'])} sq ft): {seen}; {hits}{square}"
            + (f"; wind: {wind}" if wind else "")
            + f". Under {profile}: {DECISIONS.get(d.get('decision'), d.get('decision'))} ({d.get('rule', '-')})."
            + (f" Photos {photos}." if photos else "")
        )
        blocks.append(Paragraph(text))
    decision = report.get("roof_decision", {})
    if decision:
        blocks.append(
            Paragraph(
                f"Roof level: {DECISIONS.get(decision.get('decision'), 'none')} ({decision.get('rule', '-')}).", "lead"
            )
        )
    return tuple(blocks)


_QUANTITY_EVIDENCE: dict[str, tuple[str, Callable[[dict[str, Any]], bool]]] = {
    "shingles": ("facet table total + suggested waste", lambda f: True),
    "tear_off": ("facet table total", lambda f: True),
    "steep_7_9": ("facets in band 7-9/12", lambda f: f["steep_band"] == "7-9/12"),
    "steep_10_12": ("facets in band 10-12/12", lambda f: f["steep_band"] == "10-12/12"),
    "steep_over_12": ("facets in band 13+/12", lambda f: f["steep_band"] == "13+/12"),
    "starter": ("lengths: starter", lambda f: f["edges"]["eave_ft"] > 0),
    "ridge_cap": ("lengths: ridges + hips", lambda f: f["edges"]["ridge_ft"] + f["edges"]["hip_ft"] > 0),
    "drip_edge": ("lengths: eaves + rakes", lambda f: f["edges"]["eave_ft"] + f["edges"]["rake_ft"] > 0),
    "valley_metal": ("lengths: valleys", lambda f: f["edges"]["valley_ft"] > 0),
    "ice_and_water": (
        "eaves and valleys (IRC R905.1.2)",
        lambda f: f["edges"]["eave_ft"] + f["edges"]["valley_ft"] > 0,
    ),
    "underlayment": ("facet table total", lambda f: True),
    "penetration_flashing": ("penetrations: perimeter", lambda f: False),
}


def _quantities(report: dict[str, Any], numbers: dict[str, list[int]]) -> tuple[Block, ...]:
    stories = {s["id"]: s.get("stories") or 1 for s in report.get("structures", [])}
    rows = []
    for q in report["quantities"]:
        name = q["name"]
        if name == "high_roof":
            rows_of, chosen = (
                "structures of 2+ stories",
                [f for f in report["facets"] if stories.get(f["structure"], 1) >= 2],
            )
        else:
            rows_of, test = _QUANTITY_EVIDENCE.get(name, ("measurements", lambda f: False))
            chosen = [f for f in report["facets"] if test(f)]
        letters = [f["id"] for f in chosen]
        facets_text = (
            "" if not letters else "all facets" if len(letters) == len(report["facets"]) else ", ".join(letters)
        )
        photos = _numbers(n for f in letters for n in numbers.get(f, []))
        evidence = "; ".join(x for x in (rows_of, facets_text, f"photos {photos}" if photos else "") if x)
        rows.append((name.replace("_", " "), q.get("code") or "-", q["unit"], f"{q['quantity']:,.2f}", evidence))
    return (
        Table(
            ("Item", "Code", "Unit", "Quantity", "Evidence"),
            tuple(rows),
            numeric=(3,),
            widths=(0.18, 0.1, 0.07, 0.12, 0.53),
        ),
        Paragraph(
            f"Shingles include {report['suggested_waste_percent']}% waste; tear-off does not. {report['waste_note']}.",
            "note",
        ),
    )


def _methodology(report: dict[str, Any], left_out: list[LeftOut], letter_by_ai: bool) -> tuple[Block, ...]:
    methods: dict[str, int] = defaultdict(int)
    for a in report.get("attributions", []):
        methods[a["method"]] += 1
    tiers = ", ".join(f"{n} by {m.replace('_', ' ')}" for m, n in sorted(methods.items())) or "none"
    source = report.get("source", {})
    blocks: list[Block] = [
        Paragraph(
            "Measurements: roof planes fitted to height data"
            + (f" at {source['resolution_m']} m" if source.get("resolution_m") else "")
            + "; areas are sloped (true) areas, lengths are measured along the lines between planes; squares in "
            "the waste table are rounded up to the next third."
        ),
        Paragraph(f"Photos tied to facets: {tiers}."),
        Paragraph(
            f"Damage counted under {report['profile'].get('rules') or report['profile']['name']}. Too little coverage "
            "is reported as insufficient evidence, never as zero damage. Detection boxes on the photos: red counted, "
            "amber seen but not counted, grey rejected by a reviewer."
        ),
        Table(
            ("Quality check", "Result", "Detail"),
            tuple(
                (c["name"].replace("_", " "), "passed" if c["passed"] else "FAILED", c["detail"])
                for c in report.get("qc", {}).get("checks", [])
            ),
            widths=(0.3, 0.12, 0.58),
        ),
        Paragraph(
            "AI disclosure: damage detections come from a computer-vision model, and a reviewer's verdict overrides "
            "it where one is recorded; "
            + (
                "the cover letter was drafted with a language model and edited by a person before rendering; "
                if letter_by_ai
                else ""
            )
            + "measurements come from height data, not from AI text.",
            "note",
        ),
        Paragraph(DISCLAIMER, "note"),
    ]
    if left_out:
        blocks.append(
            Table(("Left out", "Why"), tuple((x.what, x.why) for x in left_out), caption="Not in this packet")
        )
    return tuple(blocks)
