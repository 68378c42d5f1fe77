"""`MemoryOrgRepository` held to the balance contract the DynamoDB backend is held to
(tests/integration/test_org_repository.py), so unit tests of the engine rely on the deployed rules."""

from __future__ import annotations

import pytest

from shared.orgs import MemoryOrgRepository
from tests.support.org_contract import DEFAULT_BALANCE, Clock, OrgRepositoryContract


class TestMemoryOrgRepository(OrgRepositoryContract):
    @pytest.fixture
    def repository(self, clock: Clock) -> MemoryOrgRepository:
        return MemoryOrgRepository(DEFAULT_BALANCE, clock=clock)
