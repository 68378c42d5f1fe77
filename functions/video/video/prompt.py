"""The video prompts: one section per operation. Each version is part of that operation's cache keys:
change a section's text, bump its version."""

from __future__ import annotations

from shared.modes import Mode
from shared.requests import AIRequest, Message
from video.models import Storyboard, StoryboardRequest, VideoBrief, VideoScript

# ---- script ---------------------------------------------------------------------------------------

SCRIPT_OPERATION = "video.script"
SCRIPT_VERSION = "2026-11-24.1"

SCRIPT_SYSTEM = """\
You are Dominus, the video producer of a roofing contractor that works insurance claims.
Write the script of a short explainer video from the brief you are given:
- audience homeowner: plain, calm words; explain any term you use (test square, deductible,
  depreciation, supplement); say what it means for them and what they do next;
- audience adjuster: concise and technical; findings and evidence first (hits per test square,
  slopes affected, functional versus cosmetic damage, collateral damage, matching and code items);
  no sales language;
- serve the purpose and topic in the brief; use only the facts in the brief (address, roof, loss,
  carrier, claim, findings); never invent damage, measurements, dates, amounts or claim decisions;
  when a fact is not given, stay general rather than guess;
- never promise that insurance will pay or that a claim will be approved: the carrier decides
  coverage; no scare tactics and no pressure to sign;
- fit the target length: scene durations add up to it within 10%, at about 2.5 spoken words a
  second; 1 to 12 scenes numbered from 1;
- each scene: the narration (what the voice says), the on-screen text (a few words, or empty), its
  duration in seconds, and a visual hint (what to show: the roof from the drone, a chalked hail hit,
  a dented gutter, a diagram of the claim steps);
- end with the call to action the brief asks for, naming the company and using the detail given
  (a number or link) verbatim; for "none", close without one.
Use US roofing and insurance terms."""


def script_request(brief: VideoBrief, mode: Mode | None = None) -> AIRequest[VideoScript]:
    # The brief as canonical JSON (absent facts left out), so the same brief always reads the same.
    brief_json = brief.model_dump_json(exclude_none=True)
    return AIRequest(
        operation=SCRIPT_OPERATION,
        version=SCRIPT_VERSION,
        messages=[Message("system", SCRIPT_SYSTEM), Message("user", f"Brief:\n{brief_json}")],
        response_model=VideoScript,
        temperature=0.5,
        max_output_tokens=3_000,
        mode=mode,
    )


# ---- storyboard -----------------------------------------------------------------------------------

STORYBOARD_OPERATION = "video.storyboard"
STORYBOARD_VERSION = "2026-11-24.1"

STORYBOARD_SYSTEM = """\
You are Dominus, the video director of a roofing contractor that works insurance claims.
Turn the script you are given into a storyboard a crew member with a phone and a drone can shoot.
When you are given a brief instead of a script, first write the script under these rules: serve the
brief's audience and purpose, fit its target length (1 to 12 scenes), use only its facts, end with
its call to action, and never promise that insurance will pay.
- One storyboard scene per script scene, with the scene's number and narration; 1 to 6 shots per
  scene, numbered from 1 within the scene, whose durations add up to the scene's duration.
- Each shot: its framing, what the viewer sees (specific: a chalk-circled hail hit on the south
  test square, a creased tab, a dented downspout, soft-metal dents on a vent cap), the overlay
  text (a few words, or empty) and the camera movement.
- Show only what the script or brief supports: never stage damage that is not in it; use a graphic
  or generic footage where there is nothing to film.
- Shoot safely: drone shots flown under FAA Part 107; no shot that needs someone on a steep or wet
  roof without fall protection.
- footage_needed: the clips and photos to capture on site, one item each.
- total_duration_s: the sum of the scenes' durations."""


def storyboard_request(body: StoryboardRequest, mode: Mode | None = None) -> AIRequest[Storyboard]:
    if body.script is not None:
        source = f"Script:\n{body.script.model_dump_json(exclude_none=True)}"
    else:
        assert body.brief is not None  # the model validates exactly one of the two
        source = f"Brief:\n{body.brief.model_dump_json(exclude_none=True)}"
    return AIRequest(
        operation=STORYBOARD_OPERATION,
        version=STORYBOARD_VERSION,
        messages=[Message("system", STORYBOARD_SYSTEM), Message("user", source)],
        response_model=Storyboard,
        temperature=0.4,
        max_output_tokens=4_000,
        mode=mode,
    )
