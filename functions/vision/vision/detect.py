"""From a photo to its detections: the local stage, then the model's verification (set-of-mark).

1. The local OpenCV stage proposes candidates (vision.candidates).
2. Without a model (no OpenAI key, or the caller asked for local only) those candidates are the
   answer, and it says so: `model: "local-opencv"`.
3. Otherwise the photo is cut into views by the mode (vision.views), each view is sent with its
   candidates drawn as numbered marks, and the model judges every mark and adds what they missed
   (vision.prompt). The views run concurrently, each through the engine (cache, single-flight,
   modes, cost records), so the same photo with the same parameters is a cache hit with no call.
4. Marks the model confirmed keep the candidate's box; added boxes come back normalised to the view
   and are mapped to photo pixels, validated and clamped; everything is merged (NMS) and numbered.
A model that fails (unreachable, refusing, over the org's balance) costs the answer its second
stage, not the answer: the local stage's candidates are returned, and the summary says why.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from shared.engine import CallContext, Engine
from shared.errors import DominusError
from shared.modes import Mode
from shared.outcomes import CacheOutcome
from shared.requests import AIResult, CallMeta, ImagePart
from vision.candidates import MODEL_NAME, Candidate, candidates_as_detections
from vision.detections import Detection, DetectionResult, ImageInfo, clamp_box, merge
from vision.images import Photo, encode_jpeg
from vision.prompt import ViewFindings, findings_request
from vision.views import View, crop, draw_marks, from_normalised, inside, plan_views, to_view

logger = logging.getLogger(__name__)

MAX_MARKS = 30  # per view: more numbers than this crowd the image and the answer
# An error from the second stage that leaves the first stage's answer standing.
_DEGRADES = DominusError


@dataclass(frozen=True)
class Detected:
    result: DetectionResult
    calls: list[CallMeta]  # one per view the model was asked about; none for a local answer
    mode: Mode
    fallback: str | None = None  # why the model's stage was skipped or failed


def local_answer(photo: Photo, candidates: list[Candidate], mode: Mode, why: str) -> Detected:
    detections = candidates_as_detections(candidates)
    summary = f"{describe(detections)} Local detection only ({why}): unverified candidates."
    return Detected(
        DetectionResult(image=info(photo), detections=detections, model=MODEL_NAME, summary=summary), [], mode, why
    )


async def verified_answer(
    photo: Photo, candidates: list[Candidate], engine: Engine, ctx: CallContext, requested: Mode | None, mode: Mode
) -> Detected:
    """`requested` goes to the engine with each call; `mode` (the one it settles to) shapes the views."""
    views = plan_views(photo.width, photo.height, mode)
    marked = [[c for c in candidates if inside(c.box, view)][:MAX_MARKS] for view in views]
    images = await asyncio.gather(
        *(asyncio.to_thread(view_image, photo, v, m) for v, m in zip(views, marked, strict=True))
    )
    try:
        results = await asyncio.gather(
            *(
                engine.generate(ctx, findings_request(image, len(marks), view.where, requested))
                for image, marks, view in zip(images, marked, views, strict=True)
            )
        )
    except _DEGRADES as exc:
        logger.warning("vision: the model stage failed (%s); answering with the local stage", exc.code)
        return local_answer(photo, candidates, mode, f"the model was unavailable: {exc.code}")
    detections = merge(
        d for r, marks, view in zip(results, marked, views, strict=True) for d in read(r, marks, view, photo)
    )
    summary = describe(detections)
    if len(results) == 1 and results[0].value.summary:
        summary = f"{summary} {results[0].value.summary}"
    model = results[0].meta.model
    return Detected(
        DetectionResult(image=info(photo), detections=detections, model=model, summary=summary),
        [r.meta for r in results],
        mode,
    )


def view_image(photo: Photo, view: View, marks: Sequence[Candidate]) -> ImagePart:
    image = draw_marks(crop(photo.pixels, view), [to_view(c.box, view) for c in marks])
    return ImagePart(encode_jpeg(image), "image/jpeg", "high", width=view.sent_width, height=view.sent_height)


def read(result: AIResult[ViewFindings], marks: Sequence[Candidate], view: View, photo: Photo) -> list[Detection]:
    """The view's answer as detections in photo pixels: confirmed marks keep their candidate's box;
    a mark number the view did not have, or a box that is not one, is dropped."""
    found: list[Detection] = []
    for verdict in result.value.marks:
        if verdict.is_damage and 1 <= verdict.mark <= len(marks):
            found.append(detection(verdict.type, verdict.severity, verdict.confidence, marks[verdict.mark - 1].box))
    for added in result.value.added:
        box = clamp_box(from_normalised(added.box, view), photo.width, photo.height) if len(added.box) == 4 else None
        if box is not None:
            found.append(detection(added.type, added.severity, added.confidence, box))
    return found


def detection(kind: str, severity: int, confidence: float, box: tuple[int, int, int, int]) -> Detection:
    """One finding, its severity and confidence clamped to the contract's ranges."""
    return Detection.model_validate(
        {
            "id": 1,  # renumbered by merge
            "type": kind,
            "severity": min(5, max(1, severity)),
            "confidence": min(1.0, max(0.0, confidence)),
            "box": box,
        }
    )


def info(photo: Photo) -> ImageInfo:
    return ImageInfo(width=photo.width, height=photo.height, sha256=photo.sha256)


def describe(detections: Sequence[Detection]) -> str:
    """A count by type, worst first: "7 hail hits, 1 missing shingle (worst severity 4)."."""
    if not detections:
        return "No damage found."
    counts = Counter(d.type for d in detections)
    parts = [f"{n} {plural(kind.replace('_', ' '), n)}" for kind, n in counts.most_common()]
    return f"{', '.join(parts)} (worst severity {max(d.severity for d in detections)})."


def plural(noun: str, n: int) -> str:
    if n == 1:
        return noun
    return f"{noun}es" if noun.endswith("s") else f"{noun}s"


def combined_outcome(calls: Sequence[CallMeta]) -> CacheOutcome:
    """One outcome for a photo's calls: the same when they agree, else `miss` if any went upstream."""
    outcomes = {c.cache for c in calls}
    if len(outcomes) == 1:
        return outcomes.pop()
    return CacheOutcome.MISS if CacheOutcome.MISS in outcomes else CacheOutcome.SHARED
