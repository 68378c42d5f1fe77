"""The video function over HTTP, on an engine of in-memory fakes (no I/O): scripts and storyboards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

import video.prompt
from shared.requests import AIRequest
from tests.support.functions import (
    assert_rejected,
    cache_key,
    kit_and_client,
)
from video.function import EXAMPLE_ADJUSTER_BRIEF, EXAMPLE_HOMEOWNER_BRIEF, EXAMPLE_SCRIPT, FUNCTION
from video.models import Storyboard, StoryboardRequest, VideoBrief, VideoScript
from video.prompt import script_request, storyboard_request

SCRIPT, STORYBOARD = "/v1/video/script", "/v1/video/storyboard"
RESPONSE_MODELS: dict[str, type[BaseModel]] = {SCRIPT: VideoScript, STORYBOARD: Storyboard}
BODIES = {SCRIPT: EXAMPLE_HOMEOWNER_BRIEF, STORYBOARD: {"script": EXAMPLE_SCRIPT}}


def test_script_and_storyboard_of_one_brief_are_separate_cache_entries() -> None:
    kit, client = kit_and_client(FUNCTION)
    script = client.post(SCRIPT, json=EXAMPLE_ADJUSTER_BRIEF)
    storyboard = client.post(STORYBOARD, json={"brief": EXAMPLE_ADJUSTER_BRIEF})
    assert (script.headers["X-Dominus-Cache"], storyboard.headers["X-Dominus-Cache"]) == ("miss", "miss")
    assert len(kit.chat.calls) == 2
    assert [call.schema_name for call in kit.chat.calls] == ["VideoScript", "Storyboard"]
    brief = VideoBrief.model_validate(EXAMPLE_ADJUSTER_BRIEF)
    assert script_request(brief).operation != storyboard_request(StoryboardRequest(brief=brief)).operation


def test_a_script_answer_is_a_valid_storyboard_input() -> None:
    _, client = kit_and_client(FUNCTION)
    script = client.post(SCRIPT, json=EXAMPLE_HOMEOWNER_BRIEF).json()
    storyboard = client.post(STORYBOARD, json={"script": script})
    assert storyboard.status_code == 200, storyboard.text
    assert "Script:" in storyboard_request(StoryboardRequest.model_validate({"script": script})).messages[1].content


@pytest.mark.parametrize(
    ("body", "given"),
    [({"script": EXAMPLE_SCRIPT, "brief": EXAMPLE_ADJUSTER_BRIEF}, "both"), ({}, "neither")],
)
def test_a_storyboard_needs_exactly_one_of_script_and_brief(body: dict[str, Any], given: str) -> None:
    kit, client = kit_and_client(FUNCTION)
    for path in (STORYBOARD, STORYBOARD + "/stream"):
        reply = client.post(path, json=body)
        assert reply.status_code == 422
        message = reply.json()["error"]["message"]
        assert "exactly one of `script` or `brief`" in message
        assert f"not {given}" in message
    assert kit.chat.calls == []


@pytest.mark.parametrize(
    ("path", "change", "field"),
    [
        (SCRIPT, {"audience": "landlord"}, "audience"),
        (SCRIPT, {"purpose": "sell_gutters"}, "purpose"),
        (SCRIPT, {"target_length_s": 301}, "target_length_s"),
        (SCRIPT, {"target_length_s": 14}, "target_length_s"),
        (SCRIPT, {"company_name": "x" * 121}, "company_name"),
        (SCRIPT, {"facts": {"findings": ["x" * 301]}}, "facts.findings.0"),
        (SCRIPT, {"facts": {"findings": ["hit"] * 13}}, "facts.findings"),
        (SCRIPT, {"facts": {"roof_material": "straw"}}, "facts.roof_material"),
        (SCRIPT, {"facts": {"loss_date": "last Tuesday"}}, "facts.loss_date"),
        (SCRIPT, {"org_id": "globex"}, "org_id"),  # unknown fields are refused, never ignored
        (STORYBOARD, {"script": {**EXAMPLE_SCRIPT, "scenes": []}}, "script.scenes"),
        (STORYBOARD, {"script": {**EXAMPLE_SCRIPT, "title": "x" * 121}}, "script.title"),
    ],
)
def test_bad_input_is_422_naming_the_field(path: str, change: dict[str, Any], field: str) -> None:
    kit, client = kit_and_client(FUNCTION)
    body = {**EXAMPLE_HOMEOWNER_BRIEF, **change} if path == SCRIPT else change
    reply = client.post(path, json=body)
    assert_rejected(reply, field, kit)


def test_input_strings_are_stripped() -> None:
    brief = VideoBrief.model_validate({**EXAMPLE_HOMEOWNER_BRIEF, "company_name": "  Lone Star Roofing  "})
    assert brief.company_name == "Lone Star Roofing"


def test_the_prompt_versions_are_in_the_cache_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    brief = VideoBrief.model_validate(EXAMPLE_HOMEOWNER_BRIEF)
    builds: dict[str, Callable[[], AIRequest[Any]]] = {
        "SCRIPT_VERSION": lambda: script_request(brief),
        "STORYBOARD_VERSION": lambda: storyboard_request(StoryboardRequest(brief=brief)),
    }
    for constant, build in builds.items():
        before = build()
        assert before.version == getattr(video.prompt, constant)
        key = cache_key(before)
        monkeypatch.setattr(video.prompt, constant, "test-bump")
        after = build()
        assert after.version == "test-bump"
        assert cache_key(after) != key

    # and over HTTP: the same brief after a version bump is a new upstream call
    kit, client = kit_and_client(FUNCTION)
    monkeypatch.setattr(video.prompt, "SCRIPT_VERSION", "test-bump-2")
    client.post(SCRIPT, json=EXAMPLE_HOMEOWNER_BRIEF)
    monkeypatch.setattr(video.prompt, "SCRIPT_VERSION", "test-bump-3")
    assert client.post(SCRIPT, json=EXAMPLE_HOMEOWNER_BRIEF).headers["X-Dominus-Cache"] == "miss"
    assert len(kit.chat.calls) == 2


def test_the_brief_reaches_the_model_as_canonical_json() -> None:
    a = VideoBrief.model_validate(EXAMPLE_HOMEOWNER_BRIEF)
    reordered = dict(reversed(list(EXAMPLE_HOMEOWNER_BRIEF.items())))
    b = VideoBrief.model_validate(reordered | {"company_name": " Lone Star Roofing "})
    user = script_request(a).messages[1].content
    assert user == script_request(b).messages[1].content
    assert isinstance(user, str) and "9-12 hail hits per test square" in user
    assert "claim_number" not in user  # absent facts stay absent


def test_answers_clip_over_long_text_instead_of_failing() -> None:
    scene = {"number": 1, "narration": "x" * 900, "on_screen_text": "", "duration_s": 10, "visual_hint": "roof"}
    script = VideoScript.model_validate({"title": "t", "target_length_s": 15, "scenes": [scene], "call_to_action": ""})
    assert len(script.scenes[0].narration) == 600 and script.scenes[0].narration.endswith("…")
