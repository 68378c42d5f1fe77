"""The packets function through the dev server, as the CRM uses it: a claim's roof and photos analysed,
its report built, the cover letter drafted through the engine, the packet queued, its progress
followed over SSE, its files downloaded from their presigned URLs and checked against the manifest
and the photos as uploaded; and another org finding none of it."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dominus_dev.local import LocalRuntime
from evaluation.geometry.synthetic import SceneSpec, build_scene
from evaluation.vision.synthetic import PhotoSpec, render
from tests.support.dev_server import new_org, npy_bytes, running_dev_server
from vision.images import encode_jpeg

pytestmark = pytest.mark.integration

ACME = {"name": "Acme Mutual", "version": "3", "hits_per_test_square": 8, "min_coverage_sqft": 0}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, LocalRuntime]]:
    with running_dev_server() as running:
        yield running


@pytest.fixture(scope="module")
def http(server: tuple[str, LocalRuntime]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0], timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def claim(http: httpx.Client) -> dict[str, Any]:
    """One org's claim: a hip roof, three photos (two tagged, one test square), and its report."""
    org, claim_id = new_org(), f"CLM-{uuid.uuid4().hex[:6]}"
    headers = {"X-Org-Id": org}
    hip = build_scene(SceneSpec(roof="hip", pitch=7.0, resolution=0.25, rotation_deg=10.0, seed=4))
    roof = http.post(
        "/v1/geometry/analyze",
        files={"file": ("hip.npy", npy_bytes(hip.grid.z), "application/octet-stream")},
        data={"resolution": "0.25", "claim_id": claim_id},
        headers=headers,
    )
    assert roof.status_code == 201, roof.text
    facets = {p["facing"]: p["id"] for p in roof.json()["report"]["planes"]}
    uploads = {}
    for seed, tags in (
        (21, {"facet": facets["S"]}),
        (22, {"facing": "N"}),
        (23, {"facet": facets["S"], "test_square": "true"}),
    ):
        jpeg = encode_jpeg(render(PhotoSpec(width=800, height=600, seed=seed, hail=6)).pixels, quality=90)
        done = http.post(
            "/v1/vision/analyze",
            files={"file": (f"p{seed}.jpg", jpeg, "image/jpeg")},
            data={"claim_id": claim_id, **tags},
            headers=headers,
        )
        assert done.status_code == 201, done.text
        uploads[done.json()["job_id"]] = jpeg
    report = http.post("/v1/reports", json={"claim_id": claim_id, "profile": ACME}, headers=headers)
    assert report.status_code == 201, report.text
    return {"org": org, "claim_id": claim_id, "report": report.json(), "uploads": uploads}


def sse(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    events, name = [], ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


def test_a_drafted_letter_then_a_packet_followed_to_its_files(
    http: httpx.Client, claim: dict[str, Any], tmp_path: Path
) -> None:
    headers = {"X-Org-Id": claim["org"]}
    report_id = claim["report"]["report_id"]
    letter = http.post(
        "/v1/packets/cover-letter",
        json={"report_id": report_id, "carrier": "Acme Mutual", "sender": {"company": "Summit Roofing"}},
        headers=headers,
    )
    assert letter.status_code == 200, letter.text
    assert letter.json()["paragraphs"] and letter.headers["X-Dominus-Cache"] in ("miss", "hit", "shared")
    again = http.post(
        "/v1/packets/cover-letter",
        json={"report_id": report_id, "carrier": "Acme Mutual", "sender": {"company": "Summit Roofing"}},
        headers=headers,
    )
    assert again.headers["X-Dominus-Cache"] == "hit" and again.json() == letter.json()  # cached, not billed twice
    edited = [*letter.json()["paragraphs"][:2], "Edited by Dana before sending."]
    queued = http.post(
        "/v1/packets",
        json={
            "report_id": report_id,
            "cover_letter": edited,
            "letter_by_ai": True,
            "template": {"org_name": "Summit Roofing"},
        },
        headers=headers,
    )
    assert queued.status_code == 202, queued.text
    packet_id = queued.json()["packet_id"]
    assert queued.json()["status"] in ("queued", "running", "done")
    with http.stream("GET", f"/v1/packets/{packet_id}/stream", headers=headers) as streamed:
        assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
        events = sse(streamed)
    names = [n for n, _ in events]
    assert names[0] == "meta" and names[-2:] == ["result", "done"] and "progress" in names, names
    fractions = [e["fraction"] for n, e in events if n == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    result = events[-2][1]["result"]
    assert result["status"] == "done" and result["pages"] >= 5
    files = {name: httpx.get(url, timeout=60).content for name, url in result["files"].items()}
    assert {"packet.pdf", "packet.docx", "cover-letter.docx", "photos.zip", "manifest.json"} <= set(files)
    manifest = json.loads(files["manifest.json"])
    for entry in manifest["files"]:
        assert hashlib.sha256(files[entry["name"]]).hexdigest() == entry["sha256"], entry["name"]
    with zipfile.ZipFile(io.BytesIO(files["photos.zip"])) as archive:
        stored = {name.rsplit(".", 1)[0].split("-", 2)[-1]: archive.read(name) for name in archive.namelist()}
    assert stored == claim["uploads"]  # the originals, byte for byte
    (tmp_path / "packet.pdf").write_bytes(files["packet.pdf"])
    text = subprocess.run(["pdftotext", str(tmp_path / "packet.pdf"), "-"], capture_output=True, check=True).stdout
    assert b"Edited by Dana before sending." in text and b"Photo 1:" in text and b"Acme Mutual v3" in text
    assert b"drafted with a language model" in text
    assert http.get(f"/v1/packets/{packet_id}", headers=headers).json()["status"] == "done"
    events_seen = http.get("/dev/events", headers=headers).json()["events"]
    assert events_seen[0]["kind"] == "packet" and events_seen[0]["job_id"] == packet_id
    listed = http.get(f"/v1/claims/{claim['claim_id']}/jobs", headers=headers).json()["jobs"]
    assert any(j["kind"] == "packet" and j["job_id"] == packet_id for j in listed)


def test_another_org_gets_404_on_every_packet_route(http: httpx.Client, claim: dict[str, Any]) -> None:
    mine = {"X-Org-Id": claim["org"]}
    report_id = claim["report"]["report_id"]
    packet_id = http.post("/v1/packets", json={"report_id": report_id}, headers=mine).json()["packet_id"]
    other = {"X-Org-Id": new_org()}
    answers = [
        http.get(f"/v1/packets/{packet_id}", headers=other),
        http.get(f"/v1/packets/{packet_id}/stream", headers=other),
        http.post("/v1/packets", json={"report_id": report_id}, headers=other),
        http.post("/v1/packets/cover-letter", json={"report_id": report_id}, headers=other),
        http.post("/v1/packets/cover-letter/stream", json={"report_id": report_id}, headers=other),
    ]
    for answer in answers:
        assert answer.status_code == 404, answer.text
        assert report_id not in answer.text and packet_id not in answer.text


def test_bad_requests_say_what_to_fix(http: httpx.Client, claim: dict[str, Any]) -> None:
    headers = {"X-Org-Id": claim["org"]}
    report_id = claim["report"]["report_id"]
    unknown = http.post("/v1/packets", json={"report_id": report_id, "sections": ["summary", "nope"]}, headers=headers)
    assert unknown.status_code == 422 and "sections" in unknown.json()["error"]["message"]
    twice = http.post("/v1/packets", json={"report_id": report_id, "sections": ["summary", "summary"]}, headers=headers)
    assert twice.status_code == 422 and "once" in twice.json()["error"]["message"]
    bad_id = http.post("/v1/packets", json={"report_id": "x" * 5000}, headers=headers)
    assert bad_id.status_code == 422 and len(bad_id.text) < 2000
    long_letter = http.post(
        "/v1/packets", json={"report_id": report_id, "cover_letter": ["x" * 3000] * 10}, headers=headers
    )
    assert long_letter.status_code == 422 and "20000 characters" in long_letter.json()["error"]["message"]
    assert http.get(f"/v1/packets/{uuid.uuid4().hex}", headers=headers).status_code == 404


def test_a_saved_template_and_its_word_document_shape_the_packet(http: httpx.Client, claim: dict[str, Any]) -> None:
    import docx

    headers = {"X-Org-Id": claim["org"]}
    layout = {
        "sections": ["summary", "quantities"],
        "photos_per_page": 2,
        "org_name": "Summit Roofing",
        "keep_gps": False,
    }
    saved = http.put("/v1/orgs/me/packet-templates/Desk review", json=layout, headers=headers)
    assert saved.status_code == 200, saved.text
    assert http.get("/v1/orgs/me/packet-templates/Desk review", headers=headers).json()["docx"] is False
    branded = docx.Document()
    branded.sections[0].header.paragraphs[0].text = "SUMMIT ROOFING · licensed and insured"
    word = io.BytesIO()
    branded.save(word)
    kind = {"Content-Type": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}
    uploaded = http.put(
        "/v1/orgs/me/packet-templates/Desk review/docx", content=word.getvalue(), headers=headers | kind
    )
    assert uploaded.status_code == 200, uploaded.text
    not_word = http.put(
        "/v1/orgs/me/packet-templates/Desk review/docx", content=b"PK not a docx", headers=headers | kind
    )
    assert not_word.status_code == 422 and ".docx" in not_word.json()["error"]["message"]
    assert http.get("/v1/orgs/me/packet-templates", headers=headers).json()["templates"] == ["Desk review"]
    assert http.get("/v1/orgs/me/packet-templates/Desk review", headers=headers).json()["docx"] is True
    queued = http.post(
        "/v1/packets", json={"report_id": claim["report"]["report_id"], "template": "Desk review"}, headers=headers
    )
    assert queued.status_code == 202, queued.text
    with http.stream("GET", f"/v1/packets/{queued.json()['packet_id']}/stream", headers=headers) as streamed:
        result = sse(streamed)[-2][1]["result"]
    files = {name: httpx.get(url, timeout=60).content for name, url in result["files"].items()}
    manifest = json.loads(files["manifest.json"])
    assert manifest["sections"] == ["summary", "quantities"] and manifest["gps"] == "removed"
    made = docx.Document(io.BytesIO(files["packet.docx"]))
    assert made.sections[0].header.paragraphs[0].text == "SUMMIT ROOFING · licensed and insured"
    other = {"X-Org-Id": new_org()}
    assert http.get("/v1/orgs/me/packet-templates/Desk review", headers=other).status_code == 404
    missing = http.post(
        "/v1/packets", json={"report_id": claim["report"]["report_id"], "template": "Nope"}, headers=headers
    )
    assert missing.status_code == 404
