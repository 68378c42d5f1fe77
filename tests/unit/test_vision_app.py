"""The vision function's event and key handling."""

from __future__ import annotations

import pytest

from shared.objects import created_objects, object_created_event
from vision.jobs import PhotoTags, parse_upload_key, safe_name, upload_key

JOB = "0123456789abcdef0123456789abcdef"


def test_s3_records_arrive_url_encoded_and_are_read_back_as_keys() -> None:
    key = f"uploads/acme/{JOB}/south slope+1.jpg"
    event = object_created_event("bucket", key, '"abc"', 123)
    assert event["Records"][0]["s3"]["object"]["key"] == f"uploads/acme/{JOB}/south+slope%2B1.jpg"
    assert created_objects(event) == [{"bucket": "bucket", "key": key, "etag": "abc", "size": 123}]


def test_only_object_created_s3_records_are_jobs() -> None:
    removed = object_created_event("bucket", f"uploads/acme/{JOB}/a.jpg", "e", 1)
    removed["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert created_objects(removed) == []
    assert created_objects({"httpMethod": "GET", "path": "/healthz"}) == []


def test_an_upload_key_names_its_org_and_job_and_nothing_else_is_one() -> None:
    ref = parse_upload_key(f"uploads/acme/{JOB}/roof.jpg")
    assert ref is not None and (ref.org_id, ref.job_id, ref.name) == ("acme", JOB, "roof.jpg")
    for key in (f"orgs/acme/{JOB}/roof.jpg", "uploads/acme/not-a-job/roof.jpg", f"uploads/acme/{JOB}/a/b.jpg"):
        assert parse_upload_key(key) is None


@pytest.mark.parametrize(
    ("name", "safe"),
    [("../../orgs/x/roof.jpg", "roof.jpg"), ("C:\\photos\\south slope.JPG", "south-slope.JPG"), ("...", "photo")],
)
def test_upload_names_are_made_safe_for_a_key(name: str, safe: str) -> None:
    assert safe_name(name) == safe
    assert upload_key("acme", JOB, name) == f"uploads/acme/{JOB}/{safe}"


def test_tags_travel_as_s3_metadata_and_come_back() -> None:
    tags = PhotoTags(lead_id="L-1", slope="NE", test_square=True)
    assert tags.metadata() == {"lead-id": "L-1", "slope": "NE", "test-square": "true"}
    assert PhotoTags.from_metadata(tags.metadata()) == tags
    assert PhotoTags.from_metadata({"other": "x"}) == PhotoTags()
