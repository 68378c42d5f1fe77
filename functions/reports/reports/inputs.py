"""What the report reads: a geometry result (`dominus geometry --json`, or a geometry job's report) and
vision results (`dominus vision --json`, or vision jobs' results), as their contracts in
ARCHITECTURE.md give them. The report never imports either function: it reads their stored JSON.

Unknown keys are ignored (either function may add more); what the report needs is checked, and a
document that lacks it is 422 with the field to fix. Sizes are bounded so a report's work is too.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared.errors import InvalidInput
from shared.http import invalid_fields, invalid_input, parse_json_body, read_json

EdgeKind = Literal["ridge", "hip", "valley", "eave", "rake"]
EDGE_KINDS: tuple[EdgeKind, ...] = ("ridge", "hip", "valley", "eave", "rake")
CREASES: tuple[EdgeKind, ...] = ("ridge", "hip", "valley")  # between two facets; eaves and rakes border one
MAX_FACETS = 400
MAX_EDGES = 8 * MAX_FACETS
MAX_POINTS = 2_000  # corners of one facet's outline
MAX_PHOTOS = 500
MAX_DETECTIONS = 2_000  # per photo
Point2 = tuple[float, float]


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Plane(_Read):
    id: str = Field(min_length=1, max_length=8)
    pitch_deg: float = Field(ge=0.0, lt=90.0)
    pitch: str = Field(max_length=8)
    azimuth_deg: float = Field(ge=0.0, le=360.0)
    facing: str = Field(max_length=4)
    area_sqft: float = Field(ge=0.0)
    footprint_sqft: float = Field(ge=0.0)
    rms_m: float = Field(0.0, ge=0.0)
    count: int = Field(0, ge=0)
    structure: str = Field("1", max_length=8)
    outline: list[Point2] | None = Field(None, max_length=MAX_POINTS)
    holes: list[list[Point2]] = Field(default_factory=list, max_length=64)
    plane: tuple[float, float, float] | None = None  # z = a x + b y + c on the geometry's frame
    review_reasons: list[Annotated[str, Field(max_length=300)]] = Field(default_factory=list, max_length=12)


class Edge(_Read):
    kind: EdgeKind
    facets: list[str] = Field(max_length=2)
    length_ft: float = Field(ge=0.0)
    start: tuple[float, float, float] | None = None
    end: tuple[float, float, float] | None = None


class Structure(_Read):
    id: str = Field(max_length=8)
    facets: list[str] = Field(max_length=MAX_FACETS)
    ground_m: float | None = None
    eave_height_m: float | None = None
    stories: int | None = Field(None, ge=1, le=100)


class Source(_Read):
    """Where the height data came from. `crs` and `origin` (the grid's top-left corner in that CRS)
    georeference the geometry's frame: drone photos can then be placed on it."""

    resolution_m: float | None = Field(None, gt=0.0)
    capture_date: str | None = Field(None, max_length=32)
    name: str | None = Field(None, max_length=200)
    crs: str | None = Field(None, max_length=64, pattern=r"^EPSG:\d{4,6}$")
    origin: tuple[float, float] | None = None
    crs_units_m: float = Field(1.0, gt=0.0)


class Penetration(_Read):
    kind: str = Field(max_length=16)
    facet: str = Field(max_length=8)
    area_sqft: float = Field(ge=0.0)
    perimeter_ft: float = Field(ge=0.0)
    height_ft: float | None = None


class Geometry(_Read):
    """A geometry result: the planes, the roof lines, the structures (older results have none: then
    one structure holds every facet)."""

    planes: list[Plane] = Field(max_length=MAX_FACETS)
    edges: list[Edge] = Field(default_factory=list, max_length=MAX_EDGES)
    structures: list[Structure] = Field(default_factory=list, max_length=MAX_FACETS)
    source: Source = Field(default_factory=Source)
    penetrations: list[Penetration] = Field(default_factory=list, max_length=MAX_FACETS)


class ImageInfo(_Read):
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    sha256: str = Field(max_length=64)


class Detection(_Read):
    id: int
    type: str = Field(max_length=32)
    severity: int = Field(ge=1, le=5)
    confidence: float = Field(ge=0.0, le=1.0)
    box: tuple[int, int, int, int]
    stage: str | None = Field(None, max_length=8)


class Tags(_Read):
    """How the CRM tied the photo to the roof: `facet` (a letter), `facing` (a compass point), and
    vision's own `slope` (either). `structure` narrows both."""

    claim_id: str | None = Field(None, max_length=64)
    facet: str | None = Field(None, max_length=8)
    facing: str | None = Field(None, max_length=4)
    slope: str | None = Field(None, max_length=8)
    structure: str | None = Field(None, max_length=8)
    test_square: bool = False


class Scale(_Read):
    pixels_per_foot: float = Field(gt=0.0)
    source: str = Field("unknown", max_length=32)
    uncertainty: float | None = Field(None, ge=0.0)


class RoofMask(_Read):
    coverage: float = Field(ge=0.0, le=1.0)


class Density(_Read):
    test_square_max: float | None = Field(None, ge=0.0)
    covered_sqft: float | None = Field(None, ge=0.0)


class CameraPose(_Read):
    """Where a photo was taken from and where the camera pointed, as drones write it (EXIF GPS, and
    XMP gimbal angles): WGS 84 position; altitude above the DSM's vertical datum (`absolute`) or above
    the take-off point (`relative`, taken as the ground around the roof); yaw clockwise from north,
    pitch from level (-90 straight down), roll; the focal length in pixels, or its 35 mm equivalent."""

    latitude: float = Field(ge=-90.0, le=90.0)
    longitude: float = Field(ge=-180.0, le=180.0)
    altitude_m: float = Field(ge=-500.0, le=10_000.0)
    altitude_ref: Literal["absolute", "relative"] = "relative"
    yaw_deg: float = Field(ge=-360.0, le=360.0)
    pitch_deg: float = Field(ge=-90.0, le=30.0)
    roll_deg: float = Field(0.0, ge=-90.0, le=90.0)
    focal_px: float | None = Field(None, gt=0.0)
    focal_35mm: float | None = Field(None, gt=0.0, le=2_000.0)


class HandheldPose(_Read):
    """Where a phone or camera photo was taken from (EXIF GPS) and, when the phone wrote it, the
    compass heading it pointed (GPSImgDirection, clockwise from north)."""

    latitude: float = Field(ge=-90.0, le=90.0)
    longitude: float = Field(ge=-180.0, le=180.0)
    heading_deg: float | None = Field(None, ge=0.0, le=360.0)


class Photo(_Read):
    """One photo's vision result. `id` names it in the report: the vision job's id, or the file's name."""

    id: str = Field("", max_length=128)
    image: ImageInfo
    detections: list[Detection] = Field(max_length=MAX_DETECTIONS)
    tags: Tags = Field(default_factory=Tags)
    scale: Scale | None = None
    roof_mask: RoofMask | None = None
    density: Density | None = None
    camera: CameraPose | None = None
    handheld: HandheldPose | None = None

    @property
    def name(self) -> str:
        return self.id or self.image.sha256[:12]


def read_geometry(raw: bytes) -> Geometry:
    """A geometry result from its JSON bytes: the CLI's output, or a job record's `report`."""
    return parse_json_body(Geometry, raw)


def read_photos(raw: bytes, name: str) -> list[Photo]:
    """Vision results from JSON bytes: one result or a list of them (the CLI's output for a folder).
    A photo without an id is named after the file (and its place in the list)."""
    document = read_json(raw)
    listed = isinstance(document, list)
    items = document if listed else [document]
    if len(items) > MAX_PHOTOS:
        raise InvalidInput(f"{len(items)} photos in one file; at most {MAX_PHOTOS} go in one report")
    try:
        photos = _PHOTOS.validate_python(items)
    except ValidationError as exc:
        raise invalid_input(invalid_fields(exc.errors(include_url=False, include_input=False))) from None
    named = [f"{name}#{i}" if listed else name for i in range(1, len(photos) + 1)]
    return [p if p.id else p.model_copy(update={"id": n}) for p, n in zip(photos, named, strict=True)]


_PHOTOS = TypeAdapter(list[Photo])


class Review(_Read):
    """A reviewer's verdict on one detection: a rejected one is not counted, an accepted one is
    counted whatever its confidence. Who and when are kept with the report."""

    photo: str = Field(min_length=1, max_length=128)
    detection: int
    verdict: Literal["accept", "reject"]
    by: str = Field(min_length=1, max_length=128)
    at: str = Field(min_length=1, max_length=40)
