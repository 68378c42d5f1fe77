"""The claim packet rendered for a synthetic claim (evaluation.packets.claim: a roof of two structures,
40 photos as uploaded with their detections, two carrier profiles) and read the way a reviewer
would: the PDF's text (pdftotext) and pages (pdftoppm), the DOCX through python-docx, the manifest
against the files, and the bytes of a second rendering."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import docx
import numpy as np
import pytest
from PIL import Image

from evaluation.packets.claim import ACME, BRIGHT, Claim, claim, write_photos, write_report
from packets.build import PacketOptions
from packets.bundle import PacketFiles, PacketRequest, make_packet, without_gps
from packets.model import Table
from packets.photos import Original

LETTER = ["Dear Claims Reviewer,", "Please find the roof packet for claim CLM-1042.", "Regards,\nSummit Roofing"]


@cache
def synthetic() -> Claim:
    return claim(40)


@cache
def reported(profile: str, folder: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    out = Path(folder) / profile
    report = write_report(synthetic(), ACME if profile == "acme" else BRIGHT, out)
    return report, {p.name: p.read_bytes() for p in out.iterdir()}


def request(tmp: Path, profile: str = "acme", **changes: Any) -> PacketRequest:
    report, artifacts = reported(profile, str(tmp))
    originals = {pid: Original(pid, data) for pid, data in synthetic().files.items()}
    given: dict[str, Any] = {
        "report": report,
        "artifacts": artifacts,
        "originals": originals,
        "cover_letter": LETTER,
        "options": PacketOptions(org="Summit Roofing"),
    }
    return PacketRequest(**{**given, **changes})


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("claim")


@pytest.fixture(scope="module")
def acme(folder: Path) -> PacketFiles:
    return make_packet(request(folder))


def text_of(pdf: bytes, tmp: Path, layout: bool = True) -> str:
    """The PDF's text: laid out as on the page (table rows on one line), or in reading order (each
    photo's caption whole, where two columns of photos would interleave them)."""
    (tmp / "packet.pdf").write_bytes(pdf)
    command = ["pdftotext", *(["-layout"] if layout else []), str(tmp / "packet.pdf"), "-"]
    return subprocess.run(command, capture_output=True, check=True).stdout.decode()


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_the_pdf_shows_every_facet_the_scorecard_numbers_and_every_caption(acme: PacketFiles, tmp_path: Path) -> None:
    report = acme.packet
    text = text_of(acme.files["packet.pdf"], tmp_path)
    words = flat(text_of(acme.files["packet.pdf"], tmp_path, layout=False))
    source = json.loads(acme.files["report.json"])
    for facet in source["facets"]:
        assert re.search(rf"\b{facet['id']}\s+{facet['facing']} {re.escape(facet['pitch'])}\b", text), facet["id"]
    for point, d in source["directional"].items():
        row = next(
            line for line in text.splitlines() if re.match(rf"\s*{point}\s+{re.escape(', '.join(d['facets']))}\s", line)
        )
        assert f" {d['hail_hits']} " in row, (point, row)
        if d["hits_per_100sqft"]["value"] is not None:
            assert f"{d['hits_per_100sqft']['value']:.1f}" in row
    for photo in report.photos():
        assert flat(photo.caption) in words, photo.caption
    assert "Acme Mutual v3" in words and source["roof_decision"]["rule"] in words
    assert "does not interpret the policy" in words


def test_captions_say_facet_role_hits_and_capture_time(acme: PacketFiles) -> None:
    captions = [p.caption for p in acme.packet.photos()]
    assert len(captions) == 40
    assert all(re.match(r"Photo \d+: (facet [A-Z]+ \([NESW]{1,2}, \d+/12\)|facets? |not tied)", c) for c in captions)
    assert any(re.search(r"test square, \d+ functional hits?, 2026-05-28 \d\d:\d\d$", c) for c in captions)
    roles = [p.role for p in acme.packet.photos()]
    assert roles == sorted(roles, key=("overview", "slope", "test square", "close-up", "unassigned").index)


def test_the_pages_render_and_the_photos_carry_their_detection_boxes(acme: PacketFiles, tmp_path: Path) -> None:
    (tmp_path / "packet.pdf").write_bytes(acme.files["packet.pdf"])
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(tmp_path / "packet.pdf"), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == acme.pages
    first = Image.open(pages[0]).convert("L")
    assert int(np.asarray(first).min()) < 80  # text on the first page
    boxed = next(p for p in acme.packet.photos() if "0 functional" not in p.caption)
    rgb = np.asarray(Image.open(io.BytesIO(boxed.jpeg)).convert("RGB")).astype(int)
    red = (rgb[..., 0] > 170) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80)
    assert red.sum() > 50  # counted hits boxed in red


def test_fonts_are_embedded(acme: PacketFiles, tmp_path: Path) -> None:
    (tmp_path / "packet.pdf").write_bytes(acme.files["packet.pdf"])
    listing = subprocess.run(["pdffonts", str(tmp_path / "packet.pdf")], capture_output=True, check=True).stdout
    fonts = listing.decode().splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts


def test_the_docx_has_the_same_tables_as_the_pdf(acme: PacketFiles) -> None:
    document = docx.Document(io.BytesIO(acme.files["packet.docx"]))
    in_docx = [[tuple(c.text for c in row.cells) for row in t.rows] for t in document.tables]
    model = [b for s in acme.packet.sections for b in s.blocks if isinstance(b, Table)]
    for table in model:
        assert [table.columns, *table.rows] in in_docx, table.caption
    assert len(document.inline_shapes) >= 40  # the photos and the diagrams
    letter = docx.Document(io.BytesIO(acme.files["cover-letter.docx"]))
    assert [p.text for p in letter.paragraphs] == LETTER


def test_the_manifest_hashes_every_file(acme: PacketFiles) -> None:
    manifest = json.loads(acme.files["manifest.json"])
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == set(acme.files) - {"manifest.json"}
    for name, entry in listed.items():
        assert hashlib.sha256(acme.files[name]).hexdigest() == entry["sha256"]
        assert len(acme.files[name]) == entry["bytes"]
    assert {"packet.pdf", "packet.docx", "cover-letter.docx", "photos.zip", "report.json"} <= set(listed)
    assert manifest["pages"] == acme.pages and manifest["left_out"] == []


def test_the_same_inputs_give_the_same_bytes(acme: PacketFiles, folder: Path) -> None:
    again = make_packet(request(folder))
    assert set(again.files) == set(acme.files)
    for name, data in acme.files.items():
        assert again.files[name] == data, name


def test_two_carrier_profiles_give_different_decisions_each_printing_its_rules(
    acme: PacketFiles, folder: Path, tmp_path: Path
) -> None:
    bright = make_packet(request(folder, "bright"))
    acme_text, bright_text = (
        flat(text_of(acme.files["packet.pdf"], tmp_path)),
        flat(text_of(bright.files["packet.pdf"], tmp_path)),
    )
    acme_report, bright_report = (json.loads(p.files["report.json"]) for p in (acme, bright))
    assert acme_report["roof_decision"]["decision"] != bright_report["roof_decision"]["decision"]
    assert acme_report["profile"]["rules"] in acme_text and bright_report["profile"]["rules"] in bright_text
    assert "Bright Insurance v1" not in acme_text and "Acme Mutual v3" not in bright_text


def test_a_corrupt_or_missing_photo_is_left_out_and_listed_and_the_packet_still_renders(
    folder: Path, tmp_path: Path
) -> None:
    originals = {pid: Original(pid, data) for pid, data in synthetic().files.items()}
    truncated = synthetic().files["photo03"][:2000]
    originals["photo03"] = Original("photo03", truncated)  # its hash differs
    originals["photo05"] = Original("photo05", None)
    report, artifacts = reported("acme", str(folder))
    forged = dict(
        report,
        photos=[dict(p, image=dict(p["image"], sha256="")) if p["id"] == "photo07" else p for p in report["photos"]],
    )
    originals["photo07"] = Original("photo07", b"\xff\xd8 not a jpeg")
    made = make_packet(request(folder, report=forged, artifacts=artifacts, originals=originals))
    left = {x["what"]: x["why"] for x in json.loads(made.files["manifest.json"])["left_out"]}
    assert set(left) == {"photo03", "photo05", "photo07"}
    assert (
        "SHA-256" in left["photo03"]
        and "could not be found" in left["photo05"]
        and "could not be read" in left["photo07"]
    )
    assert len(made.packet.photos()) == 37
    text = flat(text_of(made.files["packet.pdf"], tmp_path))
    assert "Not in this packet" in text and "photo05" in text


def test_gps_goes_when_the_org_says_and_nothing_else_of_the_photo_changes(folder: Path) -> None:
    made = make_packet(request(folder, keep_gps=False, options=PacketOptions(sections=("summary",))))
    with zipfile.ZipFile(io.BytesIO(made.files["photos.zip"])) as archive:
        names = archive.namelist()
        data = archive.read(names[0])
    assert len(names) == 40 and names[0].startswith("photo-001-")
    original = synthetic().files[names[0].split("-", 2)[2].removesuffix(".jpg")]
    image = Image.open(io.BytesIO(data))
    assert not image.getexif().get_ifd(0x8825)  # no GPS
    assert image.getexif().get_ifd(0x8769).get(0x9003, "").startswith("2026:05:28")  # the capture time stays
    assert data[data.index(b"\xff\xda") :] == original[original.index(b"\xff\xda") :]  # the image itself untouched
    kept = make_packet(request(folder, options=PacketOptions(sections=("summary",))))
    with zipfile.ZipFile(io.BytesIO(kept.files["photos.zip"])) as archive:
        assert archive.read(names[0]) == original


def test_xmp_gps_fields_of_a_drone_photo_go_too() -> None:
    xmp = (
        b'http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description drone-dji:GpsLatitude="33.98" '
        b'drone-dji:GpsLongitude="-84.2" drone-dji:RelativeAltitude="+30.0" drone-dji:GimbalYawDegree="12.0"/>'
        b"</x:xmpmeta>"
    )
    jpeg = io.BytesIO()
    Image.new("RGB", (8, 8)).save(jpeg, "JPEG")
    raw = jpeg.getvalue()
    segment = b"\xff\xe1" + (len(xmp) + 2).to_bytes(2, "big") + xmp
    stripped, reencoded = without_gps(raw[:2] + segment + raw[2:])
    assert not reencoded and b"GpsLatitude" not in stripped and b"Altitude" not in stripped
    assert b"GimbalYawDegree" in stripped
    Image.open(io.BytesIO(stripped)).load()


def test_markup_in_text_is_printed_not_run(folder: Path, tmp_path: Path) -> None:
    letter = ['#panic("boom") $x^2$ <label> @ref *bold* _it_ \\ `raw`']
    made = make_packet(request(folder, cover_letter=letter, options=PacketOptions(sections=("cover_letter",))))
    assert '#panic("boom") $x^2$ <label> @ref *bold* _it_' in flat(text_of(made.files["packet.pdf"], tmp_path))


def test_pdfa_on_request(folder: Path) -> None:
    made = make_packet(request(folder, pdfa=True, options=PacketOptions(sections=("summary", "scorecard"))))
    assert b"pdfaid" in made.files["packet.pdf"]
    assert json.loads(made.files["manifest.json"])["pdfa"] is True


def test_sections_follow_the_template_order_and_photos_two_a_page(folder: Path) -> None:
    options = PacketOptions(sections=("quantities", "photos", "summary"), photos_per_page=2)
    made = make_packet(request(folder, options=options))
    assert [s.key for s in made.packet.sections] == ["quantities", "photos", "summary"]
    assert made.pages >= 20  # 40 photos, two to a page
    text = flat(text_of(made.files["packet.pdf"], Path(folder)))
    assert text.index("Quantity sheet") < text.index("Photo report") < text.index("Property and inspection summary")


def test_the_cli_writes_the_packet_from_a_report_folder(folder: Path, tmp_path: Path) -> None:
    from dominus_dev.cli import main

    reported("acme", str(folder))
    write_photos(synthetic(), tmp_path / "photos")
    (tmp_path / "letter.txt").write_text("\n\n".join(LETTER))
    code = main(
        [
            "packet", str(folder / "acme"), str(tmp_path / "photos"), "--out", str(tmp_path / "out"),
            "--cover-letter", str(tmp_path / "letter.txt"), "--sections", "summary,photos", "--strip-gps",
        ]
    )  # fmt: skip
    assert code == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["sections"] == ["summary", "photos"] and manifest["gps"] == "removed"
    assert manifest["left_out"] == []
    assert main(["packet", str(folder / "acme"), "--out", str(tmp_path / "x"), "--sections", "summary,nope"]) == 2
