"""Org AI settings and token balance, kept in DynamoDB.

An org with no record gets the defaults. The balance only moves through conditional updates, so
concurrent calls can never drive it below zero.

A call is paid by reservation: before it goes upstream its worst case is *held* (taken from the
balance by a conditional update that fails when the balance cannot cover it), and after it the hold
is *settled* to the real cost (the rest is given back; a failed or cancelled call gives it all back).
Concurrent calls therefore cannot spend what is not there: each one's worst case is already taken.
A hold names its expiry, so the hold of a call that crashed before settling is given back by the
next reservation that finds the balance short. A call whose real cost exceeds its hold (the worst
case is an estimate) takes the difference if it is there, else the rest, and the shortfall is reported.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.modes import Mode

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MIN_CACHE_TTL_S = 60
MAX_CACHE_TTL_S = 30 * 24 * 3600
DEFAULT_CACHE_TTL_S = 604_800
# A hold outlives any call that made it: no Lambda runs longer than 15 minutes.
HOLD_TTL_S = 900
_HOLD_PREFIX = "hold_"  # a hold is an attribute of the org's item: taken in the same update as the tokens


class OrgPreferences(BaseModel):
    """What an org chooses for itself (the balance is not a preference: it is only shown)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode_default: Mode = Mode.AUTO
    cache_enabled: bool = True
    cache_ttl_s: int = Field(DEFAULT_CACHE_TTL_S, ge=MIN_CACHE_TTL_S, le=MAX_CACHE_TTL_S)
    dedupe_enabled: bool = True
    # Vision in cheap mode: answer photos with the local stage alone (no model cost, unverified).
    vision_local_when_cheap: bool = False


class OrgSettings(OrgPreferences):
    org_id: str
    token_balance: int = Field(ge=0)


@dataclass(frozen=True, slots=True)
class Debit:
    charged: int
    balance_after: int
    shortfall: int


@dataclass(frozen=True, slots=True)
class Hold:
    """Tokens taken from an org's balance for one call in flight, until it is settled."""

    org_id: str
    hold_id: str
    tokens: int
    balance_after: int  # the balance once the hold was taken


class OrgRepository(Protocol):
    def get(self, org_id: str) -> OrgSettings: ...

    def reserve(self, org_id: str, tokens: int) -> Hold | None:
        """Hold `tokens` if the balance covers them (atomically); None when it does not."""
        ...

    def settle(self, hold: Hold, tokens: int) -> Debit:
        """Charge a held call's real cost `tokens`, giving back the rest of the hold."""
        ...

    def debit(self, org_id: str, tokens: int) -> Debit:
        """Charge `tokens` with no hold: all of them, or the rest of the balance."""
        ...


def new_hold_id() -> str:
    return uuid.uuid4().hex[:20]


class DynamoOrgRepository:
    def __init__(
        self,
        client: DynamoDBClient | Callable[[], DynamoDBClient],
        table: str,
        default_balance: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # A factory defers building the client (and importing boto3) until an org is really read:
        # a cold start served from the store's copy of the settings never pays for it.
        self._make_client = client if callable(client) else (lambda: client)
        self._table = table
        self._default_balance = default_balance
        self._clock = clock

    def get(self, org_id: str) -> OrgSettings:
        item = self._make_client().get_item(TableName=self._table, Key={"org_id": {"S": org_id}}).get("Item", {})
        prefs = OrgPreferences()
        return OrgSettings(
            org_id=org_id,
            mode_default=Mode(item["mode_default"]["S"]) if "mode_default" in item else prefs.mode_default,
            cache_enabled=item["cache_enabled"]["BOOL"] if "cache_enabled" in item else prefs.cache_enabled,
            cache_ttl_s=int(item["cache_ttl_s"]["N"]) if "cache_ttl_s" in item else prefs.cache_ttl_s,
            dedupe_enabled=item["dedupe_enabled"]["BOOL"] if "dedupe_enabled" in item else prefs.dedupe_enabled,
            vision_local_when_cheap=(
                item["vision_local_when_cheap"]["BOOL"]
                if "vision_local_when_cheap" in item
                else prefs.vision_local_when_cheap
            ),
            token_balance=int(item["token_balance"]["N"]) if "token_balance" in item else self._default_balance,
        )

    def save_preferences(self, org_id: str, prefs: OrgPreferences) -> None:
        self._make_client().update_item(
            TableName=self._table,
            Key={"org_id": {"S": org_id}},
            UpdateExpression="SET mode_default = :m, cache_enabled = :c, cache_ttl_s = :t, "
            "dedupe_enabled = :d, vision_local_when_cheap = :v, updated_at = :now",
            ExpressionAttributeValues={
                ":m": {"S": prefs.mode_default.value},
                ":c": {"BOOL": prefs.cache_enabled},
                ":t": {"N": str(prefs.cache_ttl_s)},
                ":d": {"BOOL": prefs.dedupe_enabled},
                ":v": {"BOOL": prefs.vision_local_when_cheap},
                ":now": {"N": str(int(time.time()))},
            },
        )

    def set_balance(self, org_id: str, tokens: int) -> None:
        """Billing's operation (top-up or reset), not an org's: no API route calls it. Calls in flight
        still settle their holds on top of the new balance (giving back what they did not use)."""
        if tokens < 0:
            raise ValueError("a balance cannot be negative")
        self._make_client().update_item(
            TableName=self._table,
            Key={"org_id": {"S": org_id}},
            UpdateExpression="SET token_balance = :b",
            ExpressionAttributeValues={":b": {"N": str(tokens)}},
        )

    def reserve(self, org_id: str, tokens: int) -> Hold | None:
        hold = self._try_reserve(org_id, tokens)
        if hold is None and self._release_expired(org_id):
            hold = self._try_reserve(org_id, tokens)  # crashed calls' holds were given back
        return hold

    def _try_reserve(self, org_id: str, tokens: int) -> Hold | None:
        hold_id = new_hold_id()
        expires = int(self._clock()) + HOLD_TTL_S
        after = self._conditional_update(
            org_id,
            "SET token_balance = if_not_exists(token_balance, :start) - :d, #hold = :hold",
            "(attribute_not_exists(token_balance) AND :start >= :d) OR token_balance >= :d",
            {
                ":d": {"N": str(tokens)},
                ":start": {"N": str(self._default_balance)},
                ":hold": {"M": {"tokens": {"N": str(tokens)}, "expires": {"N": str(expires)}}},
            },
            {"#hold": _HOLD_PREFIX + hold_id},
        )
        return None if after is None else Hold(org_id, hold_id, tokens, after)

    def _release_expired(self, org_id: str) -> bool:
        """Give back the holds whose calls outlived any Lambda (they crashed); whether any were."""
        item = (
            self._make_client()
            .get_item(TableName=self._table, Key={"org_id": {"S": org_id}}, ConsistentRead=True)
            .get("Item", {})
        )
        now, released = self._clock(), False
        for name, value in item.items():
            if name.startswith(_HOLD_PREFIX) and int(value["M"]["expires"]["N"]) <= now:
                held = int(value["M"]["tokens"]["N"])
                released |= self._close_hold(org_id, name, refund=held) is not None
        return released

    def settle(self, hold: Hold, tokens: int) -> Debit:
        name = _HOLD_PREFIX + hold.hold_id
        within = min(tokens, hold.tokens)
        after = self._close_hold(hold.org_id, name, refund=hold.tokens - within)
        if after is None:  # the hold expired and was given back: charge as if there had been none
            return self.debit(hold.org_id, tokens)
        if tokens <= hold.tokens:
            return Debit(tokens, after, 0)
        extra = self.debit(hold.org_id, tokens - hold.tokens)
        return Debit(within + extra.charged, extra.balance_after, extra.shortfall)

    def _close_hold(self, org_id: str, name: str, *, refund: int) -> int | None:
        """Remove a hold and give back `refund` of it, once: None if it is already gone."""
        return self._conditional_update(
            org_id,
            "SET token_balance = token_balance + :refund REMOVE #hold",
            "attribute_exists(#hold)",
            {":refund": {"N": str(refund)}},
            {"#hold": name},
        )

    def debit(self, org_id: str, tokens: int) -> Debit:
        if tokens <= 0:
            return Debit(0, self.get(org_id).token_balance, 0)
        for _ in range(5):  # each loop loses a race to a concurrent debit or top-up; it ends quickly
            after = self._take(org_id, tokens)
            if after is not None:
                return Debit(tokens, after, 0)
            left = self._take_rest(org_id, tokens)
            if left is not None:
                return Debit(left, 0, tokens - left)
        raise RuntimeError(f"balance of org {org_id} kept changing during a debit")

    def _take(self, org_id: str, tokens: int) -> int | None:
        """Debit `tokens` if they are all there; the new balance, or None."""
        values = {":d": {"N": str(tokens)}, ":start": {"N": str(self._default_balance)}}
        return self._conditional_update(
            org_id,
            "SET token_balance = if_not_exists(token_balance, :start) - :d",
            "(attribute_not_exists(token_balance) AND :start >= :d) OR token_balance >= :d",
            values,
        )

    def _take_rest(self, org_id: str, tokens: int) -> int | None:
        """Set the balance to zero if it holds less than `tokens`; how much that took, or None."""
        current = self.get(org_id).token_balance
        if current >= tokens:
            return None
        if current == 0:
            return 0
        taken = self._conditional_update(
            org_id,
            "SET token_balance = :zero",
            "(attribute_not_exists(token_balance) AND :start = :cur) OR token_balance = :cur",
            {":zero": {"N": "0"}, ":cur": {"N": str(current)}, ":start": {"N": str(self._default_balance)}},
        )
        return None if taken is None else current

    def _conditional_update(
        self, org_id: str, update: str, condition: str, values: dict[str, Any], names: dict[str, str] | None = None
    ) -> int | None:
        extra: dict[str, Any] = {"ExpressionAttributeNames": names} if names else {}
        try:
            reply = self._make_client().update_item(
                TableName=self._table,
                Key={"org_id": {"S": org_id}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                # ALL_NEW, not UPDATED_NEW: a refund of 0 leaves the balance as it was, and an
                # unchanged attribute may be left out of UPDATED_NEW (moto leaves it out).
                ReturnValues="ALL_NEW",
                **extra,
            )
        except self._make_client().exceptions.ConditionalCheckFailedException:
            return None
        return int(reply["Attributes"]["token_balance"]["N"])


class MemoryOrgRepository:
    """The repository in memory, for unit tests and benchmarks: the same rules as DynamoDB's, under a lock."""

    def __init__(self, default_balance: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.default_balance = default_balance
        self.orgs: dict[str, OrgSettings] = {}
        self.holds: dict[str, tuple[Hold, float]] = {}  # by hold id: the hold and when it expires
        self.reads = 0
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, org_id: str) -> OrgSettings:
        self.reads += 1
        return self._current(org_id)

    def put(self, org: OrgSettings) -> None:
        self.orgs[org.org_id] = org

    def set_balance(self, org_id: str, tokens: int) -> None:
        self.orgs[org_id] = self._current(org_id).model_copy(update={"token_balance": tokens})

    def reserve(self, org_id: str, tokens: int) -> Hold | None:
        with self._lock:
            if self._current(org_id).token_balance < tokens:
                self._release_expired(org_id)
            balance = self._current(org_id).token_balance
            if balance < tokens:
                return None
            hold = Hold(org_id, new_hold_id(), tokens, self._move(org_id, -tokens))
            self.holds[hold.hold_id] = (hold, self._clock() + HOLD_TTL_S)
            return hold

    def settle(self, hold: Hold, tokens: int) -> Debit:
        with self._lock:
            if self.holds.pop(hold.hold_id, None) is None:
                return self._debit(hold.org_id, tokens)
            within = min(tokens, hold.tokens)
            after = self._move(hold.org_id, hold.tokens - within)
            if tokens <= hold.tokens:
                return Debit(tokens, after, 0)
            extra = self._debit(hold.org_id, tokens - hold.tokens)
            return Debit(within + extra.charged, extra.balance_after, extra.shortfall)

    def debit(self, org_id: str, tokens: int) -> Debit:
        with self._lock:
            return self._debit(org_id, tokens)

    def _debit(self, org_id: str, tokens: int) -> Debit:
        charged = min(max(tokens, 0), self._current(org_id).token_balance)
        return Debit(charged, self._move(org_id, -charged), max(tokens, 0) - charged)

    def _release_expired(self, org_id: str) -> None:
        now = self._clock()
        for hold_id, (hold, expires) in list(self.holds.items()):
            if hold.org_id == org_id and expires <= now:
                del self.holds[hold_id]
                self._move(org_id, hold.tokens)

    def _move(self, org_id: str, tokens: int) -> int:
        org = self._current(org_id)
        balance = org.token_balance + tokens
        self.orgs[org_id] = org.model_copy(update={"token_balance": balance})
        return balance

    def _current(self, org_id: str) -> OrgSettings:
        return self.orgs.get(org_id) or OrgSettings(org_id=org_id, token_balance=self.default_balance)


class CachedOrgSettings:
    """Org settings held in memory for a short while: the engine sees a change within `ttl_s`."""

    def __init__(self, repository: OrgRepository, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._repository = repository
        self._ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[str, tuple[float, OrgSettings]] = {}

    def get(self, org_id: str) -> OrgSettings:
        now = self._clock()
        entry = self._entries.get(org_id)
        if entry is not None and now - entry[0] < self._ttl_s:
            return entry[1]
        settings = self._repository.get(org_id)
        self._entries[org_id] = (now, settings)
        return settings

    def cached(self, org_id: str) -> OrgSettings | None:
        entry = self._entries.get(org_id)
        return None if entry is None or self._clock() - entry[0] >= self._ttl_s else entry[1]

    def remember(self, settings: OrgSettings) -> None:
        """Hold settings read elsewhere (the store's shared copy) for the rest of the TTL."""
        self._entries[settings.org_id] = (self._clock(), settings)

    def reserve(self, org_id: str, tokens: int) -> Hold | None:
        hold = self._repository.reserve(org_id, tokens)
        if hold is not None:
            self._note_balance(org_id, hold.balance_after)
        elif (entry := self._entries.get(org_id)) is not None:
            # All we learn is that the balance is below `tokens`: enough for the next choice of model.
            self._note_balance(org_id, min(entry[1].token_balance, tokens - 1))
        return hold

    def settle(self, hold: Hold, tokens: int) -> Debit:
        debit = self._repository.settle(hold, tokens)
        self._note_balance(hold.org_id, debit.balance_after)
        return debit

    def debit(self, org_id: str, tokens: int) -> Debit:
        debit = self._repository.debit(org_id, tokens)
        self._note_balance(org_id, debit.balance_after)
        return debit

    def _note_balance(self, org_id: str, balance: int) -> None:
        """The repository's word on the balance, kept for the rest of the entry's TTL."""
        entry = self._entries.get(org_id)
        if entry is not None:
            self._entries[org_id] = (entry[0], entry[1].model_copy(update={"token_balance": balance}))
