"""The report's geometry for other tools: GeoJSON of facets and roof lines, and the roof-measurement
XML estimating tools read (faces, lines, points and a summary).

GeoJSON (RFC 7946) is WGS 84 longitude and latitude: when the geometry is georeferenced, every corner
is carried there through the DSM's CRS (`dsm_crs` and `dsm_origin` say which); otherwise the
coordinates are the geometry's own frame in metres and the collection says so (`frame`: "local").
Facets are Polygons (holes too) with the report's per-facet numbers; lines are LineStrings with kind
and length; placed damage marks are Points.

The XML names what it is (`roof-measurement`), in feet on the geometry's frame: every corner once as
a point, every roof line by its two points, every face by its ring of points and its lines.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from typing import Any

from reports.camera import transformer
from reports.inputs import Geometry

FT_PER_M = 1 / 0.3048
Transform = Callable[[float, float], tuple[float, float]]
LINE_TYPES = {"ridge": "RIDGE", "hip": "HIP", "valley": "VALLEY", "eave": "EAVE", "rake": "RAKE"}


def to_wgs84(geometry: Geometry) -> Transform | None:
    source = geometry.source
    if source.crs is None or source.origin is None:
        return None
    to_lonlat, (ox, oy), unit = transformer(source.crs, "EPSG:4326"), source.origin, source.crs_units_m

    def carry(x: float, y: float) -> tuple[float, float]:
        lon, lat = to_lonlat.transform(ox + x / unit, oy + y / unit)
        return round(float(lon), 8), round(float(lat), 8)

    return carry


def _ring(points: Sequence[Sequence[float]], carry: Transform | None) -> list[list[float]]:
    ring = [list(carry(p[0], p[1])) if carry else [round(p[0], 3), round(p[1], 3)] for p in points]
    return [*ring, ring[0]] if ring else ring


def facets_geojson(report: dict[str, Any], geometry: Geometry) -> bytes:
    carry = to_wgs84(geometry)
    numbers = {f["id"]: f for f in report["facets"]}
    features: list[dict[str, Any]] = []
    for plane in geometry.planes:
        if not plane.outline:
            continue
        facet = numbers[plane.id]
        properties = {
            "kind": "facet",
            "id": plane.id,
            "structure": plane.structure,
            **{
                k: facet[k]
                for k in ("pitch", "pitch_deg", "facing", "azimuth_deg", "area_sqft", "squares", "steep_band")
            },
            "hail_hits": facet["damage"]["hail_hits"],
            "hits_per_100sqft": facet["damage"]["hits_per_100sqft"]["value"],
            "decision": facet["damage"]["decision"],
        }
        rings = [_ring(plane.outline, carry), *(_ring(h, carry) for h in plane.holes)]
        features.append(
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": rings}, "properties": properties}
        )
    for edge in geometry.edges:
        if edge.start is None or edge.end is None:
            continue
        line = [list(carry(*p[:2])) if carry else [round(p[0], 3), round(p[1], 3)] for p in (edge.start, edge.end)]
        properties = {"kind": edge.kind, "facets": edge.facets, "length_ft": edge.length_ft}
        features.append(
            {"type": "Feature", "geometry": {"type": "LineString", "coordinates": line}, "properties": properties}
        )
    for mark in report.get("placements", []):
        point = list(carry(mark["x_m"], mark["y_m"])) if carry else [mark["x_m"], mark["y_m"]]
        properties = {"kind": "damage", "type": mark["type"], "facet": mark["facet"], "seen_in": mark["seen_in"]}
        features.append(
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": point}, "properties": properties}
        )
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": features, "report_id": report["report_id"]}
    if carry is None:
        collection["frame"] = "local: metres, x east and y north of the DSM's top-left corner (not georeferenced)"
    else:
        collection["dsm_crs"] = geometry.source.crs
        collection["dsm_origin"] = geometry.source.origin
    return json.dumps(collection, separators=(",", ":")).encode()


class _Points:
    """Corners in feet, each once (within a hundredth of a foot)."""

    def __init__(self, root: ET.Element) -> None:
        self.element = ET.SubElement(root, "points")
        self.ids: dict[tuple[int, int, int], str] = {}

    def id_of(self, x_m: float, y_m: float, z_m: float) -> str:
        key = (round(x_m * FT_PER_M * 100), round(y_m * FT_PER_M * 100), round(z_m * FT_PER_M * 100))
        if key not in self.ids:
            self.ids[key] = f"P{len(self.ids) + 1}"
            ET.SubElement(
                self.element,
                "point",
                id=self.ids[key],
                x=f"{key[0] / 100:.2f}",
                y=f"{key[1] / 100:.2f}",
                z=f"{key[2] / 100:.2f}",
            )
        return self.ids[key]


def measurement_xml(report: dict[str, Any], geometry: Geometry) -> bytes:
    totals = report["totals"]
    root = ET.Element("roof-measurement", version="1", report=report["report_id"], units="feet")
    ET.SubElement(
        root,
        "summary",
        area=f"{totals['area_sqft']:.1f}",
        squares=f"{totals['squares']:.2f}",
        facets=str(totals["facets"]),
        predominant_pitch=str(totals["predominant_pitch"]),
        suggested_waste_percent=str(report["suggested_waste_percent"]),
    )
    points = _Points(root)
    lines = ET.SubElement(root, "lines")
    line_ids: dict[str, list[str]] = {}
    for number, edge in enumerate(geometry.edges, start=1):
        if edge.start is None or edge.end is None:
            continue
        ends = [points.id_of(*edge.start), points.id_of(*edge.end)]
        ET.SubElement(
            lines,
            "line",
            id=f"L{number}",
            type=LINE_TYPES[edge.kind],
            path=",".join(ends),
            length=f"{edge.length_ft:.1f}",
        )
        for facet in edge.facets:
            line_ids.setdefault(facet, []).append(f"L{number}")
    faces = ET.SubElement(root, "faces")
    numbers = {f["id"]: f for f in report["facets"]}
    for plane in geometry.planes:
        facet = numbers[plane.id]
        face = ET.SubElement(
            faces,
            "face",
            id=plane.id,
            structure=plane.structure,
            pitch=facet["pitch"],
            area=f"{facet['area_sqft']:.1f}",
            facing=plane.facing,
        )
        if plane.outline and plane.plane is not None:
            a, b, c = plane.plane
            ring = [points.id_of(x, y, a * x + b * y + c) for x, y in plane.outline]
            ET.SubElement(face, "polygon", path=",".join(ring))
        ET.SubElement(face, "lines", path=",".join(line_ids.get(plane.id, [])))
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document
