"""`dominus vision PHOTO|FOLDER [--detections JSON] [--heatmap OUT.png] [--offline] [--json]`.

A photo is analysed (the local stage, verified by the model when one is configured and `--offline`
is not given), or, with `--detections`, its heatmap is rendered from detections given as the
contract's JSON. A folder analyses every photo in it, showing progress on stderr; `--heatmap` then
names a folder that receives `<photo>.heatmap.png` for each. `--json` prints the detection JSON (a
list for a folder); without it, a readable summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from shared.engine import CallContext, Engine
from shared.errors import DominusError, InvalidInput
from shared.modes import Mode
from vision.detect import Detected
from vision.detections import DetectionResult
from vision.images import Photo, load_photo
from vision.jobs import PhotoTags
from vision.local.roof import roof_from_outline
from vision.photo_scale import PhotoScale
from vision.service import FUNCTION, detect_photo, heatmap_png

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"}
_RESULT = TypeAdapter(DetectionResult)


EngineFor = Callable[[bool], AbstractContextManager[Engine | None]]


def add_parser(commands: Any, engine_for: EngineFor) -> None:
    """`engine_for(offline)`: the engine to verify with, or None for the local stage alone (the
    `dominus` command supplies one on the local runtime when a model is configured)."""
    parser = commands.add_parser(
        "vision",
        help="roof damage in photos: detections (box, type, severity) and a damage heatmap",
        description="Detect roof damage in a photo (or every photo in a folder) and render damage heatmaps.",
    )
    parser.add_argument("input", type=Path, help="a photo (JPEG, PNG, WebP, HEIC) or a folder of them")
    parser.add_argument(
        "--detections", type=Path, metavar="JSON", help="render from these detections (the detection JSON) instead"
    )
    parser.add_argument(
        "--heatmap", type=Path, metavar="OUT.png", help="write the heatmap PNG (for a folder: a folder to write into)"
    )
    parser.add_argument("--offline", action="store_true", help="the local OpenCV stage only, no model")
    parser.add_argument("--test-square", action="store_true", help="the photos show a 10 x 10 ft test square")
    parser.add_argument("--json", action="store_true", help="print the detection JSON")
    parser.set_defaults(handler=lambda args: run(args, engine_for))


def run(args: argparse.Namespace, engine_for: EngineFor) -> int:
    photos = photo_paths(args.input)
    folder = args.input.is_dir()
    if args.detections is not None and folder:
        raise InvalidInput("--detections goes with one photo, not a folder")
    tags = PhotoTags(test_square=args.test_square)
    results: list[dict[str, Any]] = []
    with engine_for(args.offline) as engine, asyncio.Runner() as runner:  # one loop: the engine's clients live on it
        for number, path in enumerate(photos, start=1):
            photo = load_photo(path.read_bytes(), name=path.name)
            if args.detections is not None:
                detected = given(args.detections, photo)
            else:
                ctx = CallContext("cli", uuid.uuid4().hex, FUNCTION)
                detected = runner.run(detect_photo(photo, engine, ctx, None, offline=args.offline, tags=tags))
            if args.heatmap is not None:
                out = heatmap_path(args.heatmap, path, folder)
                png = heatmap_png(photo, detected)
                if png is None:
                    raise DominusError("the heatmap could not be rendered")
                out.write_bytes(png)
            results.append(detected.result.model_dump(mode="json"))
            if folder:
                print(f"[{number}/{len(photos)}] {path.name}: {detected.result.summary}", file=sys.stderr, flush=True)
            if not args.json:
                print(summary(path, detected))
    if args.json:
        print(json.dumps(results if folder else results[0], indent=2))
    return 0


def photo_paths(path: Path) -> list[Path]:
    if path.is_dir():
        photos = sorted(p for p in path.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
        if not photos:
            raise InvalidInput(f"{path} holds no photos ({', '.join(sorted(PHOTO_SUFFIXES))})")
        return photos
    if not path.is_file():
        raise InvalidInput(f"{path} is not a photo or a folder")
    return [path]


def heatmap_path(out: Path, photo: Path, folder: bool) -> Path:
    if not folder:
        return out
    out.mkdir(parents=True, exist_ok=True)
    return out / f"{photo.stem}.heatmap.png"


def given(path: Path, photo: Photo) -> Detected:
    """Detections from the detection JSON, checked against the photo they are drawn on."""
    try:
        result = _RESULT.validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise InvalidInput(f"{path} is not detection JSON: {exc}") from None
    if (result.image.width, result.image.height) != (photo.width, photo.height):
        raise InvalidInput(
            f"{path} is for a {result.image.width} x {result.image.height} image; this photo is "
            f"{photo.width} x {photo.height}"
        )
    roof = roof_from_outline(result.roof_mask, photo.width, photo.height) if result.roof_mask else None
    scale = PhotoScale.from_json(result.scale) if result.scale else None
    return Detected(result, [], Mode.CHEAP, roof=roof, scale=scale)


def summary(path: Path, detected: Detected) -> str:
    result = detected.result
    lines = [f"{path.name} ({result.image.width} x {result.image.height}), {result.model}: {result.summary}"]
    if result.roof_mask is not None:
        lines.append(f"  roof: {result.roof_mask.coverage:.0%} of the photo")
    if result.scale is not None:
        scale = result.scale
        lines.append(
            f"  scale: {scale['pixels_per_foot']:.1f} px per foot at the centre, +-{scale['uncertainty']:.0%} "
            f"({str(scale['source']).replace('_', ' ')})"
        )
    for d in result.detections:
        x0, y0, x1, y1 = d.box
        found_by = f"  found by {d.stage}" if d.stage else ""
        lines.append(
            f"  #{d.id:<3} {d.type:<16} severity {d.severity}  confidence {d.confidence:.2f}  "
            f"box {x0},{y0} - {x1},{y1}{found_by}"
        )
    if result.rejected:
        lines.append(f"  {len(result.rejected)} candidates rejected by the model")
    return "\n".join(lines)
