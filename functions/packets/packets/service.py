"""What the packet routes do, as plain functions over `PacketJobs`: queue a packet for a report of the
caller's org, and render it (on the function's own asynchronous invocation), its progress in the job
record for the stream route to follow; and draft the cover letter through the engine.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from packets.build import PacketOptions
from packets.bundle import MAX_PHOTOS, PacketFiles, PacketRequest, TooManyPages, make_packet
from packets.jobs import PacketJobs
from packets.requests import PacketCreate
from packets.templates import TemplateStore
from shared.errors import UpstreamUnavailable
from shared.jobs import JobTags
from shared.work import WorkQueue

logger = logging.getLogger(__name__)
FUNCTION = "packets"
FETCH_SHARE = 0.3  # of the progress bar: fetching the originals


def create(
    org_id: str, body: PacketCreate, jobs: PacketJobs, work: WorkQueue, templates: TemplateStore
) -> dict[str, Any]:
    """A queued packet of this org's report (404 for any other), its rendering handed to the
    function's own invocation. A saved template is resolved now: the packet is what was asked for,
    whatever the template becomes."""
    record = jobs.report_record(org_id, body.report_id)
    if isinstance(body.template, str):
        body = body.model_copy(
            update={"template": templates.template(org_id, body.template), "template_name": body.template}
        )
    tags = JobTags(claim_id=record.claim_id)
    queued = jobs.open(org_id, body.report_id, body.model_dump(mode="json"), tags)
    packet_id = queued.job_id
    try:
        work.submit(FUNCTION, {"kind": "packet", "org_id": org_id, "packet_id": packet_id})
    except Exception as exc:  # NoWork here; a refused or failed invocation deployed
        logger.warning("packets: could not hand packet %s to a worker: %s", packet_id, exc)
        jobs.fail(queued, "The packet could not be started; ask for it again.")
        raise UpstreamUnavailable("The packet could not be started; try again in a minute.") from None
    return jobs.view(queued)


def render(org_id: str, packet_id: str, jobs: PacketJobs, templates: TemplateStore) -> str:
    """Render a queued packet and store its files; the job's final status. A packet already done is
    left as it is (an invocation Lambda retries)."""
    record = jobs.record(org_id, packet_id)
    if record.status == "done":
        return "done"
    body = PacketCreate.model_validate(jobs.request(record))
    with tempfile.TemporaryDirectory(prefix="packet-") as folder:  # the photos stay on disk, not in memory
        try:
            docx = templates.docx(org_id, body.template_name) if body.template_name else None
            made = _made(org_id, packet_id, body, jobs, Path(folder), docx)
        except TooManyPages as exc:
            jobs.fail(record, str(exc))
            return "failed"
        except Exception:
            jobs.fail(record, "An internal error stopped the packet; it will be retried.")
            raise
        jobs.finish(record, made)
    return "done"


def _made(
    org_id: str, packet_id: str, body: PacketCreate, jobs: PacketJobs, folder: Path, docx: bytes | None
) -> PacketFiles:
    report_record, report, files = jobs.report(org_id, body.report_id)
    photos = report.get("photos", [])[:MAX_PHOTOS]  # past the limit they are listed as left out, not fetched
    originals = {}
    for number, photo in enumerate(photos, start=1):
        originals[photo["id"]] = jobs.original(org_id, photo["id"], folder)
        if number % 10 == 0 or number == len(photos):
            jobs.progress(org_id, packet_id, "fetching photos", FETCH_SHARE * number / max(1, len(photos)))
    request = PacketRequest(
        report=report,
        artifacts=files,
        originals=originals,
        cover_letter=list(body.cover_letter),
        options=PacketOptions(
            sections=tuple(body.chosen_sections()),
            photos_per_page=body.layout().photos_per_page,
            org=body.layout().org_name,
            title=body.layout().title,
            letter_by_ai=body.letter_by_ai,
            date=(report_record.updated_at or report_record.created_at).date().isoformat(),
        ),
        keep_gps=body.layout().keep_gps,
        pdfa=body.layout().pdfa,
        paper=body.layout().paper,
        template=docx,
        workdir=folder,
    )

    def progress(stage: str, fraction: float) -> None:
        jobs.progress(org_id, packet_id, stage, FETCH_SHARE + (1 - FETCH_SHARE) * fraction)

    return make_packet(request, progress)
