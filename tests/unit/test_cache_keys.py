"""Cache keys: org-scoped, versioned, canonical, sensitive to everything that changes an answer."""

import pytest
from pydantic import BaseModel

from shared.cache_keys import KeySpace, canonical_json, check_org_id, fingerprint
from shared.errors import BadRequest
from shared.requests import ImagePart, Message
from shared.schemas import strict_schema
from tests.support.fakes import Assessment, assessment_request


class Other(BaseModel):
    score: int


def key(request=None, model: str = "gpt-4o", org: str = "acme") -> str:
    request = request or assessment_request()
    return KeySpace(org, request.operation, fingerprint(request, model, strict_schema(request.response_model))).cache


def test_identical_requests_share_a_key_and_each_change_makes_a_new_one() -> None:
    base = key()
    assert key() == base
    assert key(org="other") != base
    assert key(model="gpt-4o-mini") != base
    assert key(assessment_request("Assess lead 43")) != base
    assert key(assessment_request(response_model=Other)) != base
    assert key(assessment_request(temperature=0.9)) != base
    assert key(assessment_request(version="2")) != base
    assert base.startswith("dominus:v1:acme:cache:analyze:")


def test_images_count_by_content_not_by_object() -> None:
    def with_image(data: bytes):
        return assessment_request(messages=[Message("user", ["look", ImagePart(data, "image/png")])])

    assert key(with_image(b"\x89PNG one")) == key(with_image(b"\x89PNG one"))
    assert key(with_image(b"\x89PNG one")) != key(with_image(b"\x89PNG two"))


def test_canonical_json_ignores_dict_order() -> None:
    assert canonical_json({"b": 1, "a": [1, {"y": 2, "x": 1}]}) == canonical_json({"a": [1, {"x": 1, "y": 2}], "b": 1})


@pytest.mark.parametrize("org", ["", "a:b", "*", "x" * 129, "acme corp"])
def test_org_ids_that_could_reach_other_keys_are_refused(org: str) -> None:
    with pytest.raises(BadRequest):
        check_org_id(org)


def test_strict_schema_closes_objects_and_requires_every_field() -> None:
    schema = strict_schema(Assessment)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"score", "summary", "reasons"}
    assert "default" not in str(schema)
