"""A video brief, the script Dominus writes from it, and the storyboard that shoots the script.

Inputs reject what is out of bounds (422 names the field); answers clip over-long text instead, since
strict structured outputs cannot bound a string's length (`shared.schemas.Clip`). A script answer is
also a valid storyboard input (`ScriptIn` bounds every field at least as widely as `VideoScript`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from shared.leads import InputDate, InputModel, LossType, RoofMaterial
from shared.schemas import Clip


class Purpose(StrEnum):
    EXPLAIN_DAMAGE_FOUND = "explain_damage_found"
    CLAIM_PROCESS = "claim_process"
    ADJUSTER_MEETING = "adjuster_meeting"
    INSPECTION_FINDINGS = "inspection_findings"
    SUPPLEMENT_EXPLAINED = "supplement_explained"
    CHOOSING_SHINGLES = "choosing_shingles"
    REPLACEMENT_DAY = "replacement_day"
    PROJECT_COMPLETE = "project_complete"
    OTHER = "other"


class CallToAction(StrEnum):
    SCHEDULE_INSPECTION = "schedule_inspection"
    CALL_US = "call_us"
    REPLY_TO_MESSAGE = "reply_to_message"
    VISIT_WEBSITE = "visit_website"
    REVIEW_ESTIMATE = "review_estimate"
    SIGN_AGREEMENT = "sign_agreement"
    LEAVE_REVIEW = "leave_review"
    NONE = "none"


class Framing(StrEnum):
    WIDE = "wide"
    MEDIUM = "medium"
    CLOSE_UP = "close_up"
    DRONE_OVERHEAD = "drone_overhead"
    DETAIL_MACRO = "detail_macro"
    SCREEN_RECORDING = "screen_recording"
    TALKING_HEAD = "talking_head"
    GRAPHIC = "graphic"


class CameraMovement(StrEnum):
    STATIC = "static"
    PAN = "pan"
    TILT = "tilt"
    PUSH_IN = "push_in"
    PULL_OUT = "pull_out"
    TRACKING = "tracking"
    HANDHELD = "handheld"
    ORBIT = "orbit"


Finding = Annotated[str, StringConstraints(min_length=1, max_length=300)]


class VideoFacts(InputModel):
    """What the video may say about this job; the script uses these and nothing else."""

    homeowner_name: str | None = Field(None, max_length=120)
    property_address: str | None = Field(None, max_length=200)
    roof_material: RoofMaterial | None = None
    roof_age_years: int | None = Field(None, ge=0, le=150)
    loss_type: LossType | None = None
    loss_date: InputDate | None = None
    carrier: str | None = Field(None, max_length=120)
    claim_number: str | None = Field(None, max_length=60)
    findings: list[Finding] = Field(default_factory=list, max_length=12, description="inspection findings")


class VideoBrief(InputModel):
    """What the video is for: the script route's body, or a storyboard's when there is no script."""

    audience: Literal["homeowner", "adjuster"]
    purpose: Purpose
    topic: str | None = Field(None, max_length=300, description="what the purpose leaves open, in a sentence")
    target_length_s: int = Field(60, ge=15, le=300)
    tone: Literal["friendly", "reassuring", "professional", "educational"] = "professional"
    facts: VideoFacts = Field(default_factory=VideoFacts)
    company_name: str = Field(min_length=1, max_length=120)
    call_to_action: CallToAction = CallToAction.CALL_US
    call_to_action_detail: str | None = Field(
        None, max_length=200, description="the number, link or wording the call to action uses"
    )


# ---- answers --------------------------------------------------------------------------------------

Narration = Annotated[str, Clip(600)]
Overlay = Annotated[str, Clip(120)]
Hint = Annotated[str, Clip(300)]


class Scene(BaseModel):
    number: int = Field(ge=1, le=12)
    narration: Narration
    on_screen_text: Overlay = Field(description="a few words, or empty")
    duration_s: int = Field(ge=1, le=300)
    visual_hint: Hint


class VideoScript(BaseModel):
    """A short explainer video's script."""

    title: Overlay
    target_length_s: int = Field(ge=15, le=300)
    scenes: list[Scene] = Field(min_length=1, max_length=12)
    call_to_action: Hint


class Shot(BaseModel):
    number: int = Field(ge=1, le=6, description="within the scene")
    framing: Framing
    description: Annotated[str, Clip(400)] = Field(description="what the viewer sees")
    duration_s: int = Field(ge=1, le=120)
    overlay_text: Overlay = Field(description="a few words, or empty")
    camera_movement: CameraMovement


class StoryboardScene(BaseModel):
    scene_number: int = Field(ge=1, le=12)
    narration: Narration
    shots: list[Shot] = Field(min_length=1, max_length=6)


class Storyboard(BaseModel):
    """The shots that make the video, scene by scene."""

    title: Overlay
    total_duration_s: int = Field(ge=15, le=300)
    scenes: list[StoryboardScene] = Field(min_length=1, max_length=12)
    footage_needed: list[Hint] = Field(max_length=15, description="clips and photos to capture on site")


# ---- the storyboard's input: a script (as `VideoScript` answers it) or a brief --------------------


class SceneIn(InputModel):
    number: int = Field(ge=1, le=12)
    narration: str = Field(max_length=600)
    on_screen_text: str = Field("", max_length=120)
    duration_s: int = Field(ge=1, le=300)
    visual_hint: str = Field("", max_length=300)


class ScriptIn(InputModel):
    """A script in `VideoScript`'s shape, e.g. the script route's answer, edited or not."""

    title: str = Field(max_length=120)
    target_length_s: int = Field(ge=15, le=300)
    scenes: list[SceneIn] = Field(min_length=1, max_length=12)
    call_to_action: str = Field("", max_length=300)


class StoryboardRequest(InputModel):
    """Exactly one of `script` (storyboard this script) and `brief` (storyboard from the brief)."""

    script: ScriptIn | None = None
    brief: VideoBrief | None = None

    @model_validator(mode="after")
    def _one_source(self) -> StoryboardRequest:
        if (self.script is None) == (self.brief is None):
            given = "both" if self.script is not None else "neither"
            raise ValueError(f"give exactly one of `script` or `brief`, not {given}")
        return self
