"""The balance rules every `OrgRepository` backend owes the engine, as one suite: the unit tests run it
against `MemoryOrgRepository`, the integration tests against `DynamoOrgRepository` on moto.

Subclass `OrgRepositoryContract` (named `Test...`) and give it a `repository` fixture built on the
`clock` fixture (seconds since 1970, moved by the tests), with `set_balance`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import pytest

from shared.orgs import HOLD_TTL_S, Debit, Hold, OrgRepository
from tests.support.dev_server import new_org

DEFAULT_BALANCE = 10_000


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


class BalanceRepository(OrgRepository, Protocol):
    def set_balance(self, org_id: str, tokens: int) -> None: ...


class OrgRepositoryContract:
    @pytest.fixture
    def clock(self) -> Clock:
        return Clock()

    @pytest.fixture
    def org(self, repository: BalanceRepository) -> str:
        org = new_org()
        repository.set_balance(org, 40)
        return org

    def test_a_hold_takes_its_tokens_at_once(self, repository: BalanceRepository, org: str) -> None:
        hold = repository.reserve(org, 15)
        assert hold is not None and (hold.tokens, hold.balance_after) == (15, 25)
        assert repository.get(org).token_balance == 25

    def test_a_hold_the_balance_cannot_cover_is_refused_and_takes_nothing(
        self, repository: BalanceRepository, org: str
    ) -> None:
        assert repository.reserve(org, 41) is None
        assert repository.get(org).token_balance == 40
        assert repository.reserve(org, 40) is not None
        assert repository.reserve(org, 1) is None

    def test_an_org_with_no_record_holds_from_the_default_balance(self, repository: BalanceRepository) -> None:
        hold = repository.reserve(new_org(), 10)
        assert hold is not None and hold.balance_after == DEFAULT_BALANCE - 10

    def test_settling_charges_the_real_cost_and_gives_back_the_rest(
        self, repository: BalanceRepository, org: str
    ) -> None:
        hold = repository.reserve(org, 15)
        assert hold is not None
        assert repository.settle(hold, 4) == Debit(4, 36, 0)
        assert repository.get(org).token_balance == 36

    def test_a_call_that_cost_nothing_gives_back_its_whole_hold(self, repository: BalanceRepository, org: str) -> None:
        hold = repository.reserve(org, 15)
        assert hold is not None
        assert repository.settle(hold, 0) == Debit(0, 40, 0)

    def test_a_cost_over_the_hold_takes_the_difference_or_the_rest(
        self, repository: BalanceRepository, org: str
    ) -> None:
        first = repository.reserve(org, 10)
        assert first is not None
        assert repository.settle(first, 12) == Debit(12, 28, 0)  # 2 more were there
        second = repository.reserve(org, 25)
        assert second is not None
        assert repository.settle(second, 31) == Debit(28, 0, 3)  # 3 were not: taken to zero, reported

    def test_concurrent_holds_never_take_more_than_the_balance(self, repository: BalanceRepository, org: str) -> None:
        with ThreadPoolExecutor(16) as pool:
            holds = list(pool.map(lambda _: repository.reserve(org, 3), range(40)))
        taken = [h for h in holds if h is not None]
        assert len(taken) == 13  # 13 x 3 = 39 of 40
        assert repository.get(org).token_balance == 1
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda h: repository.settle(h, 1), taken))
        assert repository.get(org).token_balance == 40 - 13

    def test_the_hold_of_a_call_that_crashed_is_given_back_once_it_expires(
        self, repository: BalanceRepository, org: str, clock: Clock
    ) -> None:
        crashed = repository.reserve(org, 30)
        assert crashed is not None
        assert repository.reserve(org, 20) is None  # held, and not yet expired
        clock.now += HOLD_TTL_S + 1
        later = repository.reserve(org, 20)
        assert later is not None and later.balance_after == 20
        assert repository.reserve(org, 21) is None  # the live hold is not given back
        # A call that settles after its hold was given back is charged as if it had had none.
        assert repository.settle(crashed, 5) == Debit(5, 15, 0)
        assert repository.settle(later, 20) == Debit(20, 15, 0)

    def test_a_debit_with_no_hold_takes_what_is_there(self, repository: BalanceRepository, org: str) -> None:
        assert repository.debit(org, 30) == Debit(30, 10, 0)
        assert repository.debit(org, 30) == Debit(10, 0, 20)

    def test_holds_are_per_org(self, repository: BalanceRepository, org: str) -> None:
        other = new_org()
        repository.set_balance(other, 5)
        assert repository.reserve(other, 6) is None
        hold = repository.reserve(org, 6)
        assert isinstance(hold, Hold) and hold.org_id == org
        assert repository.get(other).token_balance == 5
