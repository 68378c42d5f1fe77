"""`DynamoJobRepository` on the moto server's JobsTable: the same contract the in-memory backend is
held to, and the items as they are stored (the attribute names and types other readers rely on, and
items written before the repository existed still read)."""

from __future__ import annotations

import json

import pytest

from shared.jobs import DynamoJobRepository, JobRepository
from tests.support.aws_fixtures import AwsEnv
from tests.support.job_contract import EXPIRES, ORG, SHA, JobRepositoryContract, geometry_record, vision_record

pytestmark = pytest.mark.integration


class TestDynamoJobRepository(JobRepositoryContract):
    @pytest.fixture
    def repository(self, aws_env: AwsEnv) -> JobRepository:
        return DynamoJobRepository(aws_env.client("dynamodb"), aws_env.tables["JobsTable"])


def _item(aws_env: AwsEnv, sk: str) -> dict[str, object]:
    key = {"org_id": {"S": ORG}, "job_id": {"S": sk}}
    return dict(aws_env.client("dynamodb").get_item(TableName=aws_env.tables["JobsTable"], Key=key)["Item"])


def test_items_keep_the_attribute_names_and_types_stored_before(aws_env: AwsEnv) -> None:
    repository = DynamoJobRepository(aws_env.client("dynamodb"), aws_env.tables["JobsTable"])
    vision, geometry = vision_record(), geometry_record()
    repository.create(vision)
    repository.create(geometry)
    repository.put_input(ORG, SHA, geometry.job_id, EXPIRES)
    assert _item(aws_env, vision.job_id) == {
        "org_id": {"S": ORG},
        "job_id": {"S": vision.job_id},
        "kind": {"S": "vision"},
        "status": {"S": "awaiting_upload"},
        "name": {"S": "south.jpg"},
        "created_at": {"S": "2026-03-01T12:30:15.123+00:00"},
        "updated_at": {"S": "2026-03-01T12:30:15.123+00:00"},
        "tags": {"S": '{"claim_id":"c-1","test_square":true}'},
        "claim_key": {"S": f"{ORG}#c-1"},  # the by_claim index's key, from the claim tag
        "expires_at": {"N": str(EXPIRES)},
        "source_key": {"S": "uploads/acme/x/south.jpg"},
    }
    geometry_item = _item(aws_env, geometry.job_id)
    assert "kind" not in geometry_item
    assert "claim_key" not in geometry_item  # untagged: not in the sparse index
    assert geometry_item["facets"] == {"N": "2"}
    assert geometry_item["area_sqft"] == {"N": "1234.5"}
    assert geometry_item["predominant_pitch"] == {"NULL": True}
    assert _item(aws_env, "input#" + SHA) == {
        "org_id": {"S": ORG},
        "job_id": {"S": "input#" + SHA},
        "target": {"S": geometry.job_id},
        "expires_at": {"N": str(EXPIRES)},
    }


def test_an_item_written_before_the_repository_reads_back(aws_env: AwsEnv) -> None:
    job_id = "0123456789abcdef0123456789abcdef"
    aws_env.client("dynamodb").put_item(
        TableName=aws_env.tables["JobsTable"],
        Item={
            "org_id": {"S": ORG},
            "job_id": {"S": job_id},
            "status": {"S": "done"},
            "created_at": {"S": "2026-01-02T03:04:05.678+00:00"},
            "input_sha256": {"S": SHA},
            "input_name": {"S": "gable.npy"},
            "facets": {"N": "2"},
            "area_sqft": {"N": "1800.25"},
            "squares": {"NULL": True},
            "predominant_pitch": {"S": "6/12"},
            "report_key": {"S": f"orgs/{ORG}/geometry/{job_id}/report.json"},
            "expires_at": {"N": "1900000000"},
        },
    )
    record = DynamoJobRepository(aws_env.client("dynamodb"), aws_env.tables["JobsTable"]).get(ORG, job_id)
    assert record is not None
    assert (record.status, record.kind, record.expires_at) == ("done", None, 1_900_000_000)
    assert record.created_at.isoformat(timespec="milliseconds") == "2026-01-02T03:04:05.678+00:00"
    assert record.attributes == {
        "input_sha256": SHA,
        "input_name": "gable.npy",
        "facets": 2,
        "area_sqft": 1800.25,
        "squares": None,
        "predominant_pitch": "6/12",
        "report_key": f"orgs/{ORG}/geometry/{job_id}/report.json",
    }
    assert json.dumps(record.attributes)  # plain values, no Decimals
