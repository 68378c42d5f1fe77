"""`DynamoOrgRepository` on the moto server's org table: the balance contract the in-memory backend
is held to, and the hold as it is stored."""

from __future__ import annotations

import pytest

from shared.orgs import HOLD_TTL_S, DynamoOrgRepository
from tests.support.aws_fixtures import AwsEnv
from tests.support.dev_server import new_org
from tests.support.org_contract import DEFAULT_BALANCE, Clock, OrgRepositoryContract

pytestmark = pytest.mark.integration


def _repository(aws_env: AwsEnv, clock: Clock) -> DynamoOrgRepository:
    return DynamoOrgRepository(
        aws_env.client("dynamodb"), aws_env.tables["OrgSettingsTable"], DEFAULT_BALANCE, clock=clock
    )


class TestDynamoOrgRepository(OrgRepositoryContract):
    @pytest.fixture
    def repository(self, aws_env: AwsEnv, clock: Clock) -> DynamoOrgRepository:
        return _repository(aws_env, clock)


def test_a_hold_is_an_attribute_of_the_org_item_until_it_is_settled(aws_env: AwsEnv) -> None:
    clock = Clock()
    repository, org = _repository(aws_env, clock), new_org()
    hold = repository.reserve(org, 7)
    assert hold is not None

    def item() -> dict[str, object]:
        key = {"org_id": {"S": org}}
        return dict(aws_env.client("dynamodb").get_item(TableName=aws_env.tables["OrgSettingsTable"], Key=key)["Item"])

    assert item()[f"hold_{hold.hold_id}"] == {
        "M": {"tokens": {"N": "7"}, "expires": {"N": str(int(clock.now) + HOLD_TTL_S)}}
    }
    repository.settle(hold, 2)
    assert not any(name.startswith("hold_") for name in item())
    assert repository.get(org).token_balance == DEFAULT_BALANCE - 2
