"""The reports function through the dev server, as the CRM uses it: a claim's roof (geometry) and
photos (vision) analysed with the claim's tags, the claim's jobs listed, a report built from the
claim alone, its artifacts served, a reviewer's verdict and an assignment recomputing it, events for
every finished job; and another org finding none of it."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from dominus_dev.local import LocalRuntime
from evaluation.geometry.synthetic import SceneSpec, build_scene
from evaluation.vision.synthetic import PhotoSpec, render
from tests.support.dev_server import new_org, npy_bytes, running_dev_server
from vision.images import encode_jpeg

pytestmark = pytest.mark.integration

RESOLUTION = 0.25
ACME = {"name": "Acme Mutual", "version": "3", "hits_per_test_square": 8, "min_coverage_sqft": 0}
ARTIFACT_TYPES = {
    "facets.svg": "image/svg+xml",
    "pitch.svg": "image/svg+xml",
    "lengths.svg": "image/svg+xml",
    "damage-map.svg": "image/svg+xml",
    "damage-map.png": "image/png",
    "facets.csv": "text/csv; charset=utf-8",
    "quantities.csv": "text/csv; charset=utf-8",
    "facets.geojson": "application/geo+json",
    "measurements.xml": "application/xml",
}


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
    """One org's claim: a gable roof and three photos (two tagged to a facet, one untagged)."""
    org, claim_id = new_org(), f"CLM-{uuid.uuid4().hex[:6]}"
    headers = {"X-Org-Id": org}
    gable = build_scene(SceneSpec(roof="gable", pitch=6.0, resolution=RESOLUTION, rotation_deg=0.0, seed=3))
    roof = http.post(
        "/v1/geometry/analyze",
        files={"file": ("gable.npy", npy_bytes(gable.grid.z), "application/octet-stream")},
        data={"resolution": str(RESOLUTION), "claim_id": claim_id},
        headers=headers,
    )
    assert roof.status_code == 201, roof.text
    facets = {p["facing"]: p["id"] for p in roof.json()["report"]["planes"]}
    photos = []
    for seed, tags in ((11, {"facet": facets["S"]}), (12, {"facing": "N"}), (13, {})):
        jpeg = encode_jpeg(render(PhotoSpec(width=800, height=600, seed=seed, hail=5)).pixels, quality=90)
        data = {"claim_id": claim_id, **tags}
        done = http.post(
            "/v1/vision/analyze", files={"file": (f"p{seed}.jpg", jpeg, "image/jpeg")}, data=data, headers=headers
        )
        assert done.status_code == 201, done.text
        photos.append(done.json())
    return {"org": org, "claim_id": claim_id, "roof": roof.json(), "photos": photos, "facets": facets}


def test_a_claims_jobs_list_its_roof_and_photos_oldest_first(http: httpx.Client, claim: dict[str, Any]) -> None:
    listed = http.get(f"/v1/claims/{claim['claim_id']}/jobs", headers={"X-Org-Id": claim["org"]})
    assert listed.status_code == 200, listed.text
    jobs = listed.json()["jobs"]
    kinds = [j["kind"] for j in jobs]
    assert kinds[:4] == ["geometry", "vision", "vision", "vision"]
    assert set(kinds[4:]) <= {"report"}  # reports other tests of this module made on the claim
    assert jobs[0]["job_id"] == claim["roof"]["job_id"] and jobs[0]["url"] == f"/v1/geometry/{jobs[0]['job_id']}"
    assert all(j["status"] == "done" and j["tags"]["claim_id"] == claim["claim_id"] for j in jobs)


def test_a_report_from_the_claim_alone_with_its_artifacts(http: httpx.Client, claim: dict[str, Any]) -> None:
    headers = {"X-Org-Id": claim["org"]}
    made = http.post("/v1/reports", json={"claim_id": claim["claim_id"], "profile": ACME}, headers=headers)
    assert made.status_code == 201, made.text
    report = made.json()
    assert report["claim_id"] == claim["claim_id"] and report["qc"]["passed"] and report["version"] == 1
    assert report["source"]["inputs"]["geometry_job_id"] == claim["roof"]["job_id"]
    south = next(f for f in report["facets"] if f["facing"] == "S")
    tagged = claim["photos"][0]["job_id"]
    assert south["damage"]["photos"] == [tagged]
    assert south["damage"]["hail_hits"] == sum(
        d["type"] == "hail_hit" and d["confidence"] >= 0.5 for d in claim["photos"][0]["result"]["detections"]
    )
    assert report["unassigned_photos"] == [claim["photos"][2]["job_id"]]
    assert report["profile"]["name"] == "Acme Mutual"
    again = http.get(f"/v1/reports/{report['report_id']}", headers=headers)
    assert again.status_code == 200 and again.json() == report
    for name, media in ARTIFACT_TYPES.items():
        artifact = http.get(f"/v1/reports/{report['report_id']}/{name}", headers=headers)
        assert artifact.status_code == 200, (name, artifact.text)
        assert artifact.headers["content-type"] == media
        assert artifact.content
    image = Image.open(
        io.BytesIO(http.get(f"/v1/reports/{report['report_id']}/damage-map.png", headers=headers).content)
    )
    assert image.width >= 1500
    assert http.get(f"/v1/reports/{report['report_id']}/secrets.txt", headers=headers).status_code == 404
    events = http.get("/dev/events", headers=headers).json()["events"]
    assert [e["kind"] for e in events][:1] == ["report"] and events[0]["job_id"] == report["report_id"]
    assert {e["kind"] for e in events} == {"geometry", "vision", "report"}


def test_a_verdict_and_an_assignment_make_new_versions_that_recompute_the_scorecard(
    http: httpx.Client, claim: dict[str, Any]
) -> None:
    headers = {"X-Org-Id": claim["org"], "X-User-Id": "adjuster@acme.example"}
    report = http.post("/v1/reports", json={"claim_id": claim["claim_id"], "profile": ACME}, headers=headers).json()
    tagged = claim["photos"][0]
    hail = [d for d in tagged["result"]["detections"] if d["type"] == "hail_hit" and d["confidence"] >= 0.5]
    assert hail, "the tagged photo's local stage found hail to judge"
    south = next(f for f in report["facets"] if f["facing"] == "S")["id"]
    url = f"/v1/reports/{report['report_id']}"
    reviewed = http.post(
        f"{url}/reviews",
        json={"photo": tagged["job_id"], "detection": hail[0]["id"], "verdict": "reject"},
        headers=headers,
    )
    assert reviewed.status_code == 200, reviewed.text
    revised = reviewed.json()
    assert revised["version"] == 2 and revised["report_id"] == report["report_id"]
    before = next(f for f in report["facets"] if f["id"] == south)["damage"]["hail_hits"]
    assert next(f for f in revised["facets"] if f["id"] == south)["damage"]["hail_hits"] == before - 1
    (verdict,) = revised["reviews"]
    assert verdict["by"] == "adjuster@acme.example" and verdict["verdict"] == "reject" and verdict["at"]
    untagged = claim["photos"][2]["job_id"]
    placed = http.post(f"{url}/assignments", json={"photo": untagged, "facet": south}, headers=headers)
    assert placed.status_code == 200, placed.text
    assert placed.json()["version"] == 3 and placed.json()["unassigned_photos"] == []
    assert http.get(url, headers=headers).json() == placed.json()
    bad_facet = http.post(f"{url}/assignments", json={"photo": untagged, "facet": "Z"}, headers=headers)
    assert bad_facet.status_code == 422 and "no facet Z" in bad_facet.json()["error"]["message"]
    no_such = http.post(
        f"{url}/reviews", json={"photo": untagged, "detection": 9999, "verdict": "accept"}, headers=headers
    )
    assert no_such.status_code == 404


def test_another_org_finds_none_of_it(http: httpx.Client, claim: dict[str, Any]) -> None:
    mine = {"X-Org-Id": claim["org"]}
    report = http.post("/v1/reports", json={"claim_id": claim["claim_id"]}, headers=mine).json()
    other = {"X-Org-Id": new_org()}
    url = f"/v1/reports/{report['report_id']}"
    photo = claim["photos"][0]["job_id"]
    answers = [
        http.get(url, headers=other),
        http.get(f"{url}/facets.svg", headers=other),
        http.post(f"{url}/reviews", json={"photo": photo, "detection": 1, "verdict": "accept"}, headers=other),
        http.post(f"{url}/assignments", json={"photo": photo, "facet": "A"}, headers=other),
        http.get(f"/v1/claims/{claim['claim_id']}/jobs", headers=other),
        http.post(
            "/v1/reports", json={"geometry_job_id": claim["roof"]["job_id"], "vision_job_ids": [photo]}, headers=other
        ),
    ]
    for answer in answers:
        assert answer.status_code == 404, answer.text
        assert (
            report["report_id"] not in answer.text
            and claim["roof"]["job_id"] not in answer.json()["error"]["message"][:0]
        )


def test_bad_requests_say_what_to_fix(http: httpx.Client) -> None:
    headers = {"X-Org-Id": new_org()}
    nothing = http.post("/v1/reports", json={}, headers=headers)
    assert nothing.status_code == 422 and "claim_id" in nothing.json()["error"]["message"]
    empty_claim = http.post("/v1/reports", json={"claim_id": "CLM-none"}, headers=headers)
    assert empty_claim.status_code == 422 and "no finished geometry job" in empty_claim.json()["error"]["message"]
    bad_id = http.post("/v1/reports", json={"geometry_job_id": "x" * 5000}, headers=headers)
    assert bad_id.status_code == 422 and len(bad_id.text) < 2000
    assert http.get("/v1/reports/not-a-report", headers=headers).status_code in (404, 422)
    assert http.get("/v1/claims/no such claim/jobs", headers=headers).status_code == 422


def test_a_drone_photo_uploaded_with_its_pose_is_placed_on_a_georeferenced_roof(
    http: httpx.Client, tmp_path: Any
) -> None:
    """The whole path: a GeoTIFF DSM with its CRS, a DJI photo with its XMP pose; the report places
    the photo by its camera, not by tags (it has none)."""
    import tifffile
    from pyproj import Transformer

    from evaluation.reports.drone import CRS, ORIGIN

    org, claim_id = new_org(), f"CLM-{uuid.uuid4().hex[:6]}"
    headers = {"X-Org-Id": org}
    scene = build_scene(SceneSpec(roof="hip", pitch=7.0, resolution=RESOLUTION, rotation_deg=20.0, seed=5))
    dsm = tmp_path / "roof.tif"
    geokeys = (1, 1, 0, 4, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, int(CRS.split(":")[1]), 3076, 0, 1, 9001)
    tags = [
        (33550, 12, 3, (RESOLUTION, RESOLUTION, 0.0), True),
        (33922, 12, 6, (0.0, 0.0, 0.0, ORIGIN[0], ORIGIN[1], 0.0), True),
        (34735, 3, len(geokeys), geokeys, True),
    ]
    tifffile.imwrite(dsm, np.nan_to_num(scene.grid.z, nan=-9999).astype(np.float32), extratags=tags)
    roof = http.post(
        "/v1/geometry/analyze",
        files={"file": ("roof.tif", dsm.read_bytes(), "image/tiff")},
        data={"claim_id": claim_id},
        headers=headers,
    )
    assert roof.status_code == 201, roof.text
    assert roof.json()["report"]["source"]["crs"] == CRS
    rows, cols = scene.grid.shape
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(
        ORIGIN[0] + cols * RESOLUTION / 2, ORIGIN[1] - rows * RESOLUTION / 2
    )
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" drone-dji:GpsLatitude="{lat:.8f}" '
        f'drone-dji:GpsLongitude="{lon:.8f}" drone-dji:RelativeAltitude="+30.0" drone-dji:GimbalYawDegree="0.0" '
        'drone-dji:GimbalPitchDegree="-90.0" drone-dji:GimbalRollDegree="0.0"/></rdf:RDF></x:xmpmeta>'
    )
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 24
    buffer = io.BytesIO()
    Image.fromarray(render(PhotoSpec(width=800, height=600, seed=21, hail=4)).pixels).save(
        buffer, "JPEG", exif=exif, xmp=xmp.encode(), quality=90
    )
    photo = http.post(
        "/v1/vision/analyze",
        files={"file": ("DJI_0042.JPG", buffer.getvalue(), "image/jpeg")},
        data={"claim_id": claim_id},
        headers=headers,
    )
    assert photo.status_code == 201, photo.text
    assert "latitude" not in photo.text  # the pose is kept beside the result, never in it
    report = http.post("/v1/reports", json={"claim_id": claim_id}, headers=headers)
    assert report.status_code == 201, report.text
    (attribution,) = report.json()["attributions"]
    assert attribution["method"] == "drone_pose", attribution
    assert len(attribution["facets"]) == 4  # a nadir view over a hip roof sees all four slopes
    assert all(f["damage"]["photos"] == [photo.json()["job_id"]] for f in report.json()["facets"])
    assert all(f["damage"]["coverage"] > 0.9 for f in report.json()["facets"])


def test_named_carrier_profiles_are_versioned_and_reports_name_the_version(
    http: httpx.Client, claim: dict[str, Any]
) -> None:
    headers = {"X-Org-Id": claim["org"]}
    name = f"Acme Mutual {uuid.uuid4().hex[:4]}"
    first = http.put(f"/v1/orgs/me/carrier-profiles/{name}", json={"hits_per_test_square": 8}, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["version"] == "1" and "8+ hits per 10 x 10 ft test square" in first.json()["rules"]
    second = http.put(
        f"/v1/orgs/me/carrier-profiles/{name}",
        json={"hits_per_test_square": 10, "min_coverage_sqft": 0},
        headers=headers,
    )
    assert second.json()["version"] == "2"
    assert (
        http.get(f"/v1/orgs/me/carrier-profiles/{name}", params={"version": "1"}, headers=headers).json()[
            "hits_per_test_square"
        ]
        == 8
    )
    assert [
        p["version"]
        for p in http.get("/v1/orgs/me/carrier-profiles", headers=headers).json()["profiles"]
        if p["name"] == name
    ] == ["2"]
    report = http.post("/v1/reports", json={"claim_id": claim["claim_id"], "profile": name}, headers=headers).json()
    assert report["profile"]["name"] == name and report["profile"]["version"] == "2"
    missing = http.post(
        "/v1/reports", json={"claim_id": claim["claim_id"], "profile": "Nobody Mutual"}, headers=headers
    )
    assert missing.status_code == 404 and "no carrier profile named" in missing.json()["error"]["message"]
    assert http.get(f"/v1/orgs/me/carrier-profiles/{name}", headers={"X-Org-Id": new_org()}).status_code == 404


def test_the_orgs_report_settings_apply_to_its_reports(http: httpx.Client, claim: dict[str, Any]) -> None:
    headers = {"X-Org-Id": claim["org"]}
    saved = http.put(
        "/v1/orgs/me/report-settings",
        json={"waste_percents": [0, 8, 14], "line_codes": {"shingles": "RFG 240"}},
        headers=headers,
    )
    assert saved.status_code == 200, saved.text
    report = http.post("/v1/reports", json={"claim_id": claim["claim_id"]}, headers=headers).json()
    assert [w["percent"] for w in report["waste"]] == [0, 8, 14]
    assert next(q for q in report["quantities"] if q["name"] == "shingles")["code"] == "RFG 240"
    bad = http.put("/v1/orgs/me/report-settings", json={"line_codes": {"gutters": "X"}}, headers=headers)
    assert bad.status_code == 422 and "no quantity is named gutters" in bad.json()["error"]["message"]
    assert http.get("/v1/orgs/me/report-settings", headers={"X-Org-Id": new_org()}).json()["line_codes"] == {}
