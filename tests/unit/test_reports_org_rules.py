"""An org's carrier profiles and report settings: every save of a name is its next version, an old
version stays readable, names are checked, and each org sees its own."""

from __future__ import annotations

import pytest

from reports.org_rules import MAX_VERSIONS, MemoryRulesStore
from reports.profiles import CarrierProfile
from reports.settings import ReportSettings
from shared.errors import Conflict, InvalidInput, NotFound


def test_saving_a_name_again_makes_its_next_version_and_old_ones_stay_readable() -> None:
    rules = MemoryRulesStore()
    first = rules.save_profile("acme", CarrierProfile(name="Granite", version="ignored", hits_per_test_square=8))
    second = rules.save_profile("acme", CarrierProfile(name="Granite", hits_per_test_square=10))
    assert (first.version, second.version) == ("1", "2")
    assert rules.profile("acme", "Granite").hits_per_test_square == 10
    assert rules.profile("acme", "Granite", "1").hits_per_test_square == 8
    assert [p.version for p in rules.profiles("acme")] == ["2"]
    with pytest.raises(NotFound, match="no version"):
        rules.profile("acme", "Granite", "9")
    with pytest.raises(NotFound, match="no carrier profile named"):
        rules.profile("globex", "Granite")


def test_names_are_checked_and_versions_bounded() -> None:
    rules = MemoryRulesStore()
    with pytest.raises(InvalidInput, match="profile name"):
        rules.save_profile("acme", CarrierProfile(name="../../etc"))
    for _ in range(MAX_VERSIONS):
        rules.save_profile("acme", CarrierProfile(name="Busy"))
    with pytest.raises(Conflict, match="new name"):
        rules.save_profile("acme", CarrierProfile(name="Busy"))


def test_settings_default_until_saved_and_are_per_org() -> None:
    rules = MemoryRulesStore()
    assert rules.settings("acme") == ReportSettings()
    rules.save_settings("acme", ReportSettings(starter="eaves_and_rakes"))
    assert rules.settings("acme").starter == "eaves_and_rakes"
    assert rules.settings("globex") == ReportSettings()
