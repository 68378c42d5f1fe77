"""Org AI settings and token balance, kept in DynamoDB.

An org with no record gets the defaults. The balance only moves through conditional updates, so
concurrent calls can never drive it below zero; a call whose real cost exceeds what is left takes
the rest and the shortfall is reported.
"""

from __future__ import annotations

import time
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


class OrgRepository(Protocol):
    def get(self, org_id: str) -> OrgSettings: ...
    def debit(self, org_id: str, tokens: int) -> Debit: ...


class DynamoOrgRepository:
    def __init__(self, client: DynamoDBClient | Callable[[], DynamoDBClient], table: str, default_balance: int) -> None:
        # A factory defers building the client (and importing boto3) until an org is really read:
        # a cold start served from the store's copy of the settings never pays for it.
        self._make_client = client if callable(client) else (lambda: client)
        self._table = table
        self._default_balance = default_balance

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
        """Billing's operation (top-up or reset), not an org's: no API route calls it."""
        if tokens < 0:
            raise ValueError("a balance cannot be negative")
        self._make_client().update_item(
            TableName=self._table,
            Key={"org_id": {"S": org_id}},
            UpdateExpression="SET token_balance = :b",
            ExpressionAttributeValues={":b": {"N": str(tokens)}},
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

    def _conditional_update(self, org_id: str, update: str, condition: str, values: dict[str, Any]) -> int | None:
        try:
            reply = self._make_client().update_item(
                TableName=self._table,
                Key={"org_id": {"S": org_id}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
            )
        except self._make_client().exceptions.ConditionalCheckFailedException:
            return None
        return int(reply["Attributes"]["token_balance"]["N"])


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

    def note_spend(self, org_id: str, tokens: int) -> None:
        """Lower the held balance at once; the authoritative debit follows off the request path."""
        entry = self._entries.get(org_id)
        if entry is not None:
            balance = max(0, entry[1].token_balance - tokens)
            self._entries[org_id] = (entry[0], entry[1].model_copy(update={"token_balance": balance}))

    def debit(self, org_id: str, tokens: int) -> Debit:
        debit = self._repository.debit(org_id, tokens)
        entry = self._entries.get(org_id)
        if entry is not None:
            self._entries[org_id] = (entry[0], entry[1].model_copy(update={"token_balance": debit.balance_after}))
        return debit
