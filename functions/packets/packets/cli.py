"""`dominus packet REPORT_DIR [PHOTOS ...] --out DIR`: the claim packet from a report folder (what
`dominus report --out` writes) and the photos' originals (files or folders; each matched to the
report's photo by its SHA-256, else by its file name without extension). Progress goes to stderr."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from packets.build import PacketOptions
from packets.bundle import DIAGRAMS, EXPORTS, PacketRequest, TooManyPages, make_packet
from packets.model import SECTION_KEYS, SectionKey
from packets.photos import Original
from shared.errors import InvalidInput

MAX_FILE_BYTES = 60 * 1024 * 1024
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "packet",
        help="the claim packet: PDF, DOCX, cover letter, photos.zip and manifest from a report folder",
        description="Render the claim packet from `dominus report --out DIR` output and the photos' originals.",
    )
    parser.add_argument("report_dir", type=Path, help="the folder `dominus report --out` wrote")
    parser.add_argument("photos", type=Path, nargs="*", help="the photos as uploaded (files or folders)")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write the packet's files into")
    parser.add_argument("--cover-letter", type=Path, help="the cover letter's text (paragraphs split by blank lines)")
    parser.add_argument(
        "--sections", help=f"sections in order, comma-separated (default all: {','.join(SECTION_KEYS)})"
    )
    parser.add_argument("--photos-per-page", type=int, choices=(2, 4), default=4)
    parser.add_argument("--org", default="", help="the org's name on the packet")
    parser.add_argument("--paper", choices=("us-letter", "a4"), default="us-letter")
    parser.add_argument("--pdfa", action="store_true", help="PDF/A-2b, for archiving")
    parser.add_argument("--strip-gps", action="store_true", help="take GPS out of the originals in photos.zip")
    parser.add_argument("--template", type=Path, help="the org's Word template (.docx) for the DOCX files")
    parser.set_defaults(handler=run)


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InvalidInput(f"{path} is over {MAX_FILE_BYTES // 10**6} MB")
    return path.read_bytes()


def sections_of(text: str | None) -> tuple[SectionKey, ...]:
    if not text:
        return SECTION_KEYS
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SECTION_KEYS]
    if unknown:
        raise InvalidInput(f"unknown section(s) {', '.join(unknown)[:200]}; choose from {', '.join(SECTION_KEYS)}")
    return tuple(k for n in dict.fromkeys(names) for k in SECTION_KEYS if k == n)


def originals(report: dict[str, Any], paths: list[Path]) -> dict[str, Original]:
    """The report's photos matched to the files given: by SHA-256, else by file name."""
    files = [p for path in paths for p in (sorted(path.iterdir()) if path.is_dir() else [path])]
    files = [p for p in files if p.suffix.lower() in PHOTO_SUFFIXES]
    by_hash: dict[str, bytes] = {}
    by_name: dict[str, bytes] = {}
    for path in files:
        content = _read(path)
        by_hash[hashlib.sha256(content).hexdigest()] = content
        by_name[path.stem] = content
    found = {}
    for photo in report.get("photos", []):
        data = by_hash.get(photo["image"].get("sha256", "")) or by_name.get(photo["id"])
        found[photo["id"]] = Original(photo["id"], data)
    return found


def run(args: argparse.Namespace) -> int:
    folder: Path = args.report_dir
    report_bytes = _read(folder / "report.json")
    report = json.loads(report_bytes)
    artifacts = {"report.json": report_bytes}
    for name in (*EXPORTS, *DIAGRAMS, "damage-map.png"):
        if (folder / name).is_file():
            artifacts[name] = _read(folder / name)
    letter = _read(args.cover_letter).decode() if args.cover_letter else ""
    request = PacketRequest(
        report=report,
        artifacts=artifacts,
        originals=originals(report, args.photos),
        cover_letter=[p.strip() for p in letter.split("\n\n") if p.strip()],
        options=PacketOptions(sections=sections_of(args.sections), photos_per_page=args.photos_per_page, org=args.org),
        keep_gps=not args.strip_gps,
        pdfa=args.pdfa,
        paper=args.paper,
        template=_read(args.template) if args.template else None,
    )
    try:
        made = make_packet(request, lambda stage, fraction: print(f"[{fraction:4.0%}] {stage}", file=sys.stderr))
    except TooManyPages as exc:
        raise InvalidInput(str(exc)) from None
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in made.files.items():
        (args.out / name).write_bytes(data)
    print(f"wrote {len(made.names())} files ({made.pages} pages) to {args.out}")
    for left in made.packet.left_out:
        print(f"left out {left.what}: {left.why}")
    return 0
