"""An org's report rules: its named, versioned carrier profiles and its report settings (waste
columns, starter, line codes), kept on the org's item in the OrgSettingsTable.

A profile is never edited in place: saving a name again makes its next version, so a report keeps
naming the exact rules it was decided under (`profile.name` and `profile.version`), and an old
report rebuilt reads the same version. Attributes: `carrier_profile#<name>` (JSON, every version,
newest last) and `report_settings` (JSON). `RulesStore` is the interface; the DynamoDB backend's
save is a conditional update on the version count, so two saves at once cannot both make version n.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from reports.profiles import CarrierProfile
from reports.settings import ReportSettings
from shared.errors import Conflict, InvalidInput, NotFound

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.&'-]{0,63}$")
MAX_PROFILES = 50
MAX_VERSIONS = 50
_PREFIX = "carrier_profile#"


def check_name(name: str) -> str:
    if not PROFILE_NAME.fullmatch(name):
        raise InvalidInput(
            "A profile name is 1-64 letters, digits, spaces and _ . & ' -, starting with a letter or digit."
        )
    return name


class RulesStore(Protocol):
    def profile(self, org_id: str, name: str, version: str | None = None) -> CarrierProfile:
        """The named profile (its latest version, or the one given); NotFound when there is none."""

    def profiles(self, org_id: str) -> list[CarrierProfile]:
        """The latest version of each of the org's profiles."""

    def save_profile(self, org_id: str, profile: CarrierProfile) -> CarrierProfile:
        """Store the rules as the name's next version; returns them with that version."""

    def settings(self, org_id: str) -> ReportSettings:
        """The org's report settings (the defaults until it saves its own)."""

    def save_settings(self, org_id: str, settings: ReportSettings) -> None: ...


def _versions(raw: str | None) -> list[dict[str, Any]]:
    return list(json.loads(raw)) if raw else []


def _pick(name: str, versions: list[dict[str, Any]], version: str | None) -> CarrierProfile:
    if not versions:
        raise NotFound(f"This org has no carrier profile named {name!r}.")
    if version is None:
        return CarrierProfile.model_validate(versions[-1])
    for stored in versions:
        if stored["version"] == version:
            return CarrierProfile.model_validate(stored)
    raise NotFound(f"The carrier profile {name!r} has no version {version[:16]!r}.")


def _next(profile: CarrierProfile, versions: list[dict[str, Any]]) -> CarrierProfile:
    if len(versions) >= MAX_VERSIONS:
        raise Conflict(f"The carrier profile {profile.name!r} has {MAX_VERSIONS} versions; save it under a new name.")
    return profile.model_copy(update={"version": str(len(versions) + 1)})


class DynamoRulesStore:
    def __init__(self, client: DynamoDBClient | Callable[[], DynamoDBClient], table: str) -> None:
        self._client = client if callable(client) else (lambda: client)
        self.table = table

    def _item(self, org_id: str) -> dict[str, Any]:
        found: dict[str, Any] = (
            self._client()
            .get_item(TableName=self.table, Key={"org_id": {"S": org_id}}, ConsistentRead=True)
            .get("Item", {})
        )
        return found

    def profile(self, org_id: str, name: str, version: str | None = None) -> CarrierProfile:
        item = self._item(org_id)
        return _pick(name, _versions(item.get(_PREFIX + check_name(name), {}).get("S")), version)

    def profiles(self, org_id: str) -> list[CarrierProfile]:
        item = self._item(org_id)
        return [
            CarrierProfile.model_validate(_versions(value["S"])[-1])
            for key, value in sorted(item.items())
            if key.startswith(_PREFIX) and "S" in value
        ]

    def save_profile(self, org_id: str, profile: CarrierProfile) -> CarrierProfile:
        attribute = _PREFIX + check_name(profile.name)
        item = self._item(org_id)
        if attribute not in item and sum(k.startswith(_PREFIX) for k in item) >= MAX_PROFILES:
            raise Conflict(f"This org has {MAX_PROFILES} carrier profiles; reuse a name to make a new version.")
        versions = _versions(item.get(attribute, {}).get("S"))
        saved = _next(profile, versions)
        stored = json.dumps([*versions, saved.model_dump(mode="json")], separators=(",", ":"))
        client = self._client()
        condition = "attribute_not_exists(#p)" if not versions else "#p = :was"
        values: dict[str, Any] = {":new": {"S": stored}}
        if versions:
            values[":was"] = item[attribute]
        try:
            client.update_item(
                TableName=self.table,
                Key={"org_id": {"S": org_id}},
                UpdateExpression="SET #p = :new",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#p": attribute},
                ExpressionAttributeValues=values,
            )
        except client.exceptions.ConditionalCheckFailedException:
            raise Conflict(
                f"The carrier profile {profile.name!r} was saved by someone else just now; save again."
            ) from None
        return saved

    def settings(self, org_id: str) -> ReportSettings:
        raw = self._item(org_id).get("report_settings", {}).get("S")
        return ReportSettings.model_validate_json(raw) if raw else ReportSettings()

    def save_settings(self, org_id: str, settings: ReportSettings) -> None:
        self._client().update_item(
            TableName=self.table,
            Key={"org_id": {"S": org_id}},
            UpdateExpression="SET report_settings = :s",
            ExpressionAttributeValues={":s": {"S": settings.model_dump_json()}},
        )


class MemoryRulesStore:
    """The same in one process's memory (unit tests)."""

    def __init__(self) -> None:
        self._profiles: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._settings: dict[str, ReportSettings] = {}
        self._lock = threading.Lock()

    def profile(self, org_id: str, name: str, version: str | None = None) -> CarrierProfile:
        with self._lock:
            return _pick(name, list(self._profiles.get((org_id, check_name(name)), [])), version)

    def profiles(self, org_id: str) -> list[CarrierProfile]:
        with self._lock:
            return [
                CarrierProfile.model_validate(v[-1]) for (org, _), v in sorted(self._profiles.items()) if org == org_id
            ]

    def save_profile(self, org_id: str, profile: CarrierProfile) -> CarrierProfile:
        with self._lock:
            key = (org_id, check_name(profile.name))
            if key not in self._profiles and sum(org == org_id for org, _ in self._profiles) >= MAX_PROFILES:
                raise Conflict(f"This org has {MAX_PROFILES} carrier profiles; reuse a name to make a new version.")
            versions = self._profiles.setdefault(key, [])
            saved = _next(profile, versions)
            versions.append(saved.model_dump(mode="json"))
            return saved

    def settings(self, org_id: str) -> ReportSettings:
        with self._lock:
            return self._settings.get(org_id, ReportSettings())

    def save_settings(self, org_id: str, settings: ReportSettings) -> None:
        with self._lock:
            self._settings[org_id] = settings
