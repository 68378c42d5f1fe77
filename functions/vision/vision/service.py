"""The vision jobs' work, apart from how it was asked for (HTTP or an S3 event): a photo in, its
detections and heatmap stored, the job's state kept on the way.

CPU work (decoding, the local stage, the heatmap) and boto3 calls run in worker threads, so one
instance keeps serving while a photo is analysed; the model's calls are the engine's.

That CPU work is bounded by construction rather than by a worker process (as geometry's analysis is,
shared.workers): a photo's size is read from its header and refused above 50 MP before anything is
decoded (vision.images), the local stage works on at most 2 MP (2400 px a side), the heatmap is drawn at
most 2048 px. The largest photo costs a few seconds and under 600 MB of VisionFunction's 3008 MB
(`python -m bench vision_local`, "the largest photo": 50 MP decoded and staged in 0.7 + 1.6 s on a
quiet core, 3.5 + 5.4 s on a busy 2-core machine, 570 MB at its peak). A worker would have to hand
the decoded pixels back (150 MB through a pipe, held twice) for the views and the heatmap, to save at
most those seconds of CPU when a client leaves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.engine import CallContext, Engine
from shared.errors import DominusError
from shared.modes import Mode
from shared.objects import read_object, too_large
from shared.uploads import UploadRef
from vision.camera_pose import photo_pose
from vision.candidates import find_candidates
from vision.detect import Detected, local_answer, verified_answer
from vision.heatmap import render_heatmap
from vision.images import Photo, load_photo
from vision.jobs import PhotoTags, VisionJobs, parse_upload_key
from vision.photo_scale import PhotoScale

logger = logging.getLogger(__name__)

FUNCTION = "vision"
MAX_PHOTO_BYTES = 40 * 1024 * 1024  # a 50 MP JPEG from a phone is 15-30 MB
TEST_SQUARE_FT = 10.0  # a test-square photo spans about this on its short side
TEST_SQUARE_UNCERTAINTY = 0.2  # "about": a test square is framed with some margin


@dataclass(frozen=True)
class Analysis:
    job_id: str
    detected: Detected
    heatmap: bool


async def detect_photo(
    photo: Photo,
    engine: Engine | None,
    ctx: CallContext,
    requested: Mode | None,
    *,
    offline: bool,
    tags: PhotoTags | None = None,
) -> Detected:
    """The photo's detections: the local stage, verified by the model when there is one. The scale
    is the shingle courses'; failing that, a photo tagged as a test square spans 10 ft on its short side."""
    findings = await asyncio.to_thread(find_candidates, photo.pixels)
    if findings.scale is None and tags is not None and tags.test_square:
        findings = dataclasses.replace(findings, scale=test_square_scale(photo))
    if offline:
        return local_answer(photo, findings, requested or Mode.CHEAP, "local detection was asked for")
    if engine is None or engine.simulated:
        return local_answer(photo, findings, requested or Mode.CHEAP, "no vision model is configured")
    mode = await engine.resolve_mode(ctx, requested)
    if mode is Mode.CHEAP and (await engine.org_settings(ctx.org_id)).vision_local_when_cheap:
        return local_answer(photo, findings, Mode.CHEAP, "the org answers photos locally in cheap mode")
    return await verified_answer(photo, findings, engine, ctx, requested, mode)


def test_square_scale(photo: Photo) -> PhotoScale:
    """The scale of a photo framed on a test square: its short side spans 10 ft, give or take."""
    ppf = min(photo.width, photo.height) / TEST_SQUARE_FT
    return PhotoScale(ppf, photo.width / 2, photo.height / 2, "test_square_tag", TEST_SQUARE_UNCERTAINTY)


def heatmap_png(photo: Photo, detected: Detected) -> bytes | None:
    """The heatmap, or None when it cannot be rendered (logged: the detections stand without it)."""
    try:
        return render_heatmap(photo.pixels, detected.result.detections, roof=detected.roof, scale=detected.scale).png
    except Exception:
        logger.warning("vision: heatmap not rendered", exc_info=True)
        return None


async def analyze(
    data: bytes,
    name: str,
    *,
    ctx: CallContext,
    jobs: VisionJobs,
    engine: Engine | None,
    requested: Mode | None,
    tags: PhotoTags,
    offline: bool,
    source_key: str | None = None,
) -> Analysis:
    """A synchronous analysis: decoded, detected, stored as a `done` job."""
    photo = await asyncio.to_thread(load_photo, data, name=name)
    camera = await asyncio.to_thread(photo_pose, data)
    detected = await detect_photo(photo, engine, ctx, requested, offline=offline, tags=tags)
    png = await asyncio.to_thread(heatmap_png, photo, detected)
    job_id = await asyncio.to_thread(
        jobs.open, ctx.org_id, status="running", name=name, tags=tags, source_key=source_key
    )
    try:
        result = detected.result.model_dump(mode="json")
        stored = await asyncio.to_thread(jobs.finish, ctx.org_id, job_id, result, png, camera, data)
    except Exception:  # the job must not stay `running` when its result could not be stored
        reason = "The result could not be stored; analyse the photo again."
        await asyncio.to_thread(jobs.mark, ctx.org_id, job_id, "failed", reason=reason)
        raise
    return Analysis(job_id, detected, stored)


async def run_upload(
    bucket: str, key: str, *, jobs: VisionJobs, engine: Engine | None, request_id: str
) -> dict[str, Any]:
    """The job an uploaded object starts. Bad input fails the job with a reason (no retry can fix
    it); anything else marks it failed for now and raises, so the event is retried."""
    ref = parse_upload_key(key)
    if ref is None or bucket != jobs.upload_bucket:
        logger.warning("vision: an object outside the upload layout was ignored")
        return {"status": "ignored"}
    size, metadata = await asyncio.to_thread(jobs.upload_metadata, key)
    try:
        tags = PhotoTags.from_metadata(metadata)
    except ValueError:
        tags = PhotoTags()  # tags that do not validate are dropped, the photo is still analysed
    await asyncio.to_thread(jobs.ensure, ref, tags, key)
    await asyncio.to_thread(jobs.mark, ref.org_id, ref.job_id, "running")
    try:
        detected, png, camera, data = await _run(ref, key, size, tags, jobs, engine, request_id)
    except DominusError as exc:
        await asyncio.to_thread(jobs.mark, ref.org_id, ref.job_id, "failed", reason=exc.message)
        return {"status": "failed", "job_id": ref.job_id}
    except Exception:
        reason = "An internal error stopped the job; it will be retried."
        await asyncio.to_thread(jobs.mark, ref.org_id, ref.job_id, "failed", reason=reason)
        raise
    result = detected.result.model_dump(mode="json")
    await asyncio.to_thread(jobs.finish, ref.org_id, ref.job_id, result, png, camera, data)
    return {"status": "done", "job_id": ref.job_id}


async def _run(
    ref: UploadRef, key: str, size: int, tags: PhotoTags, jobs: VisionJobs, engine: Engine | None, request_id: str
) -> tuple[Detected, bytes | None, dict[str, Any] | None, bytes]:
    if size > MAX_PHOTO_BYTES:
        raise too_large("The uploaded photo", MAX_PHOTO_BYTES)
    data = await asyncio.to_thread(read_object, jobs.s3, jobs.upload_bucket, key, MAX_PHOTO_BYTES + 1)
    if data is None:
        raise DominusError("The uploaded photo was deleted before it could be analysed.", code="upload_missing")
    photo = await asyncio.to_thread(load_photo, data, name=ref.name)
    ctx = CallContext(ref.org_id, request_id, FUNCTION)
    detected = await detect_photo(photo, engine, ctx, None, offline=False, tags=tags)
    camera = await asyncio.to_thread(photo_pose, data)
    return detected, await asyncio.to_thread(heatmap_png, photo, detected), camera, data


EngineProvider = Callable[[], Engine | None]
