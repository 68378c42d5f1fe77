"""From a photo to its detections: the local stage, then the model's verification (set-of-mark).

1. The local OpenCV stage proposes candidates (vision.candidates).
2. Without a model (no OpenAI key, or the caller asked for local only) those candidates are the
   answer, and it says so: `model: "local-opencv"`.
3. Otherwise the photo is cut into views by the mode (vision.views), each view is sent with its
   candidates drawn as numbered marks, and the model judges every mark and adds what they missed
   (vision.prompt). The views run concurrently, each through the engine (cache, single-flight,
   modes, cost records), so the same photo with the same parameters is a cache hit with no call.
4. Marks the model confirmed keep the candidate's box (stage `both`); marks it rejected are listed
   as `rejected`, out of every count; a candidate it was not shown keeps the local stage's own
   judgement (stage `local`); added boxes (stage `model`) come back normalised to the view and are
   mapped to photo pixels, validated and clamped.
5. Only what lies on the roof stays (the local stage's roof mask, in the result as its outline);
   readings of one mark, from either stage or two overlapping tiles, are merged into one detection
   (vision.detections.merge), counted per type and numbered.
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
from vision.candidates import (
    MODEL_NAME,
    REPORT_SCORE,
    Candidate,
    LocalFindings,
    candidates_as_detections,
    roof_outline,
)
from vision.detections import (
    Box,
    Detection,
    DetectionResult,
    ImageInfo,
    Rejected,
    Stage,
    clamp_box,
    counts_of,
    merge,
)
from vision.heatmap import read_damage
from vision.images import Photo, encode_jpeg
from vision.local.image_ops import Mask
from vision.photo_scale import PhotoScale
from vision.prompt import MarkVerdict, ViewFindings, findings_request
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
    roof: Mask | None = None  # the roof in photo pixels, and the scale: what the heatmap is drawn on
    scale: PhotoScale | None = None


def local_answer(photo: Photo, findings: LocalFindings, mode: Mode, why: str) -> Detected:
    detections = candidates_as_detections(findings.candidates)
    result = answer(photo, findings, detections, MODEL_NAME, f"Local detection only ({why}): unverified candidates.")
    return Detected(result, [], mode, why, findings.roof, findings.scale)


async def verified_answer(
    photo: Photo, findings: LocalFindings, engine: Engine, ctx: CallContext, requested: Mode | None, mode: Mode
) -> Detected:
    """`requested` goes to the engine with each call; `mode` (the one it settles to) shapes the views."""
    candidates = findings.candidates
    views = plan_views(photo.width, photo.height, mode)
    marked = [[i for i, c in enumerate(candidates) if inside(c.box, view)][:MAX_MARKS] for view in views]
    images = await asyncio.gather(
        *(
            asyncio.to_thread(view_image, photo, v, [candidates[i] for i in m])
            for v, m in zip(views, marked, strict=True)
        )
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
        return local_answer(photo, findings, mode, f"the model was unavailable: {exc.code}")
    confirmed, rejected, added = read_views(photo, candidates, marked, views, results)
    summary = f"The model confirmed {len(confirmed)} and rejected {len(rejected)} of the candidates it was shown"
    summary += f" and added {len(added)}."
    if len(results) == 1 and results[0].value.summary:
        summary = f"{summary} {results[0].value.summary}"
    result = answer(photo, findings, confirmed + added, results[0].meta.model, summary, rejected)
    return Detected(result, [r.meta for r in results], mode, None, findings.roof, findings.scale)


def read_views(
    photo: Photo,
    candidates: Sequence[Candidate],
    marked: Sequence[Sequence[int]],
    views: Sequence[View],
    results: Sequence[AIResult[ViewFindings]],
) -> tuple[list[Detection], list[Rejected], list[Detection]]:
    """The views' answers, read back: (confirmed, rejected, added). `marked[v]` lists the indexes of
    the candidates drawn on view v as marks 1..n; a mark number the view did not have is ignored."""
    verdicts: dict[int, list[MarkVerdict]] = {}
    added: list[Detection] = []
    for found, marks, view in zip(results, marked, views, strict=True):
        for verdict in found.value.marks:
            if 1 <= verdict.mark <= len(marks):
                verdicts.setdefault(marks[verdict.mark - 1], []).append(verdict)
        added.extend(read_added(found, view, photo))
    return (*judged(candidates, verdicts), added)


def judged(
    candidates: Sequence[Candidate], verdicts: dict[int, list[MarkVerdict]]
) -> tuple[list[Detection], list[Rejected]]:
    """The candidates as the model judged them: confirmed ones keep the candidate's box (stage
    `both`); rejected ones go to `rejected`. A candidate judged in two overlapping tiles takes its
    most confident verdict; one the model was not shown or skipped keeps the local stage's own
    judgement (reported when its score reaches REPORT_SCORE, stage `local`)."""
    confirmed: list[Detection] = []
    rejected: list[Rejected] = []
    for index, candidate in enumerate(candidates):
        said = verdicts.get(index)
        if not said:
            if candidate.score >= REPORT_SCORE:
                confirmed.append(detection(candidate.kind, candidate.severity, candidate.score, candidate.box, "local"))
            continue
        verdict = max(said, key=lambda v: (v.confidence, v.is_damage))
        if verdict.is_damage:
            confirmed.append(detection(verdict.type, verdict.severity, verdict.confidence, candidate.box, "both"))
        else:
            confidence = min(1.0, max(0.0, verdict.confidence))
            rejected.append(Rejected(type=candidate.kind, confidence=confidence, box=candidate.box))
    return confirmed, rejected


def answer(
    photo: Photo,
    findings: LocalFindings,
    detections: Sequence[Detection],
    model: str,
    note: str,
    rejected: Sequence[Rejected] = (),
) -> DetectionResult:
    """The photo's result: detections on the roof only, merged (one mark, one detection), counted,
    with the roof's outline and the photo's scale."""
    kept = merge(d for d in detections if on_roof(d.box, findings.roof))
    roof = findings.roof if findings.roof.any() else None
    density = read_damage(kept, photo.width, photo.height, scale=findings.scale, roof=roof)
    return DetectionResult(
        image=info(photo),
        detections=kept,
        model=model,
        summary=f"{describe(kept)} {note}",
        counts=counts_of(kept),
        roof_mask=roof_outline(findings.roof),
        scale=findings.scale.as_json() if findings.scale is not None else None,
        density=density.stats_json(),
        rejected=list(rejected),
    )


def on_roof(box: Box, roof: Mask) -> bool:
    """Whether a box's centre is on the roof (any box is, when no roof was found: the model may see
    a roof the local stage could not read)."""
    if not roof.any():
        return True
    x, y = min(roof.shape[1] - 1, (box[0] + box[2]) // 2), min(roof.shape[0] - 1, (box[1] + box[3]) // 2)
    return bool(roof[y, x])


def view_image(photo: Photo, view: View, marks: Sequence[Candidate]) -> ImagePart:
    image = draw_marks(crop(photo.pixels, view), [to_view(c.box, view) for c in marks])
    return ImagePart(encode_jpeg(image), "image/jpeg", "high", width=view.sent_width, height=view.sent_height)


def read_added(result: AIResult[ViewFindings], view: View, photo: Photo) -> list[Detection]:
    """The damage the model added in a view, in photo pixels (a box that is not one is dropped)."""
    found: list[Detection] = []
    for item in result.value.added:
        box = clamp_box(from_normalised(item.box, view), photo.width, photo.height) if len(item.box) == 4 else None
        if box is not None:
            found.append(detection(item.type, item.severity, item.confidence, box, "model"))
    return found


def detection(kind: str, severity: int, confidence: float, box: Box, stage: Stage) -> Detection:
    """One finding, its severity and confidence clamped to the contract's ranges."""
    return Detection.model_validate(
        {
            "id": 1,  # renumbered by merge
            "type": kind,
            "severity": min(5, max(1, severity)),
            "confidence": min(1.0, max(0.0, confidence)),
            "box": box,
            "stage": stage,
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
