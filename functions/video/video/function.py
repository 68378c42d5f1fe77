"""The video capability: its routes, examples and limits."""

from __future__ import annotations

from typing import Any

from shared.api import AIRoute, Function
from video.models import Storyboard, StoryboardRequest, VideoBrief, VideoScript
from video.prompt import script_request, storyboard_request

EXAMPLE_HOMEOWNER_BRIEF: dict[str, Any] = {
    "audience": "homeowner",
    "purpose": "explain_damage_found",
    "topic": "What the hail did to the roof and why we recommend filing a claim",
    "target_length_s": 75,
    "tone": "reassuring",
    "facts": {
        "homeowner_name": "Dana Whitfield",
        "property_address": "4187 Cedar Ridge Dr, Plano, TX 75024",
        "roof_material": "architectural_shingle",
        "roof_age_years": 11,
        "loss_type": "hail",
        "loss_date": "2026-10-02",
        "carrier": "State Farm",
        "findings": [
            "9-12 hail hits per test square on the south and west slopes",
            "Dented gutters, downspouts and two roof vents",
            "Ceiling stain in the upstairs bedroom below the west slope",
        ],
    },
    "company_name": "Lone Star Roofing",
    "call_to_action": "schedule_inspection",
    "call_to_action_detail": "Reply to this text or call (972) 555-0148",
}

EXAMPLE_ADJUSTER_BRIEF: dict[str, Any] = {
    "audience": "adjuster",
    "purpose": "inspection_findings",
    "target_length_s": 45,
    "facts": {
        "property_address": "912 Oak Hollow Ln, Frisco, TX 75034",
        "roof_material": "architectural_shingle",
        "loss_type": "hail",
        "loss_date": "2026-10-02",
        "claim_number": "SF-48-7731-K02",
        "findings": [
            "South slope test square: 11 hits with bruised mat, S slope 8/12",
            "West slope test square: 9 hits, granule loss exposing mat",
            "Soft-metal dents on the ridge vent and both turtle vents",
        ],
    },
    "company_name": "Lone Star Roofing",
    "call_to_action": "none",
}

EXAMPLE_SCRIPT: dict[str, Any] = {
    "title": "Hail damage at 4187 Cedar Ridge Dr",
    "target_length_s": 45,
    "scenes": [
        {
            "number": 1,
            "narration": "Hi Dana, this is what we found on your roof after the October 2nd hail storm.",
            "on_screen_text": "Your roof inspection",
            "duration_s": 10,
            "visual_hint": "Drone view of the whole roof",
        },
        {
            "number": 2,
            "narration": "On the south and west slopes we counted nine to twelve hail hits in each test square.",
            "on_screen_text": "9-12 hits per test square",
            "duration_s": 20,
            "visual_hint": "Chalk-circled hits inside a 10x10 ft test square",
        },
        {
            "number": 3,
            "narration": "Your insurance company decides coverage. Reply to this text and we will walk you through it.",
            "on_screen_text": "Questions? Reply to this text",
            "duration_s": 15,
            "visual_hint": "Lone Star Roofing logo",
        },
    ],
    "call_to_action": "Reply to this text or call (972) 555-0148",
}

FUNCTION = Function(
    "video",
    "Video",
    [
        AIRoute(
            path="/v1/video/script",
            body=VideoBrief,
            response_model=VideoScript,
            build=script_request,
            summary="Write an explainer video script",
            description=(
                "Dominus writes a short video script for a homeowner or an adjuster from the job's facts:"
                " scenes with narration, on-screen text, durations and visual hints, and a call to action."
            ),
            examples={
                "homeowner": {"summary": "Explain hail damage to a homeowner", "value": EXAMPLE_HOMEOWNER_BRIEF},
                "adjuster": {"summary": "Walk an adjuster through the findings", "value": EXAMPLE_ADJUSTER_BRIEF},
            },
        ),
        AIRoute(
            path="/v1/video/storyboard",
            body=StoryboardRequest,
            response_model=Storyboard,
            build=storyboard_request,
            summary="Storyboard an explainer video",
            description=(
                "Dominus breaks a video into shots: framing, what is seen, duration, overlay text and camera"
                " movement, scene by scene, plus the footage to capture. Give exactly one of `script` (e.g. the"
                " script route's answer) or `brief` (the script route's body)."
            ),
            examples={
                "from a script": {"summary": "Storyboard a given script", "value": {"script": EXAMPLE_SCRIPT}},
                "from a brief": {
                    "summary": "Storyboard straight from a brief",
                    "value": {"brief": EXAMPLE_ADJUSTER_BRIEF},
                },
            },
        ),
    ],
)
SPEC = FUNCTION.spec()
