"""What the report routes do, as plain functions over `ReportJobs`: resolve a request's jobs (named,
or the claim's), build the report and its artifacts, store them; and rebuild it, as a new version of
the same report, when a reviewer accepts or rejects a detection or assigns a photo to a facet.

A report's inputs (job ids, profile, settings, assignments, reviews) are stored beside it, so every
version is rebuilt from the same stored results: the scorecard recomputes, the measurements do not
drift.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reports.exports import artifacts
from reports.inputs import Review
from reports.jobs import ReportJobs
from reports.org_rules import RulesStore
from reports.profiles import DEFAULT_PROFILE, CarrierProfile
from reports.report import ReportInput, build_report
from reports.settings import ReportSettings
from shared.errors import InvalidInput, NotFound
from shared.jobs import TAG_PATTERN, JobTags, iso_ms

JOB_ID = r"^[0-9a-f]{32}$"
JobId = Annotated[str, Field(pattern=JOB_ID)]
MAX_PHOTOS = 500


class ReportRequest(BaseModel):
    """`POST /v1/reports`. Ids may be left out when a claim names them: its latest finished geometry
    job (of the structure, when given) and every finished vision job."""

    model_config = ConfigDict(extra="forbid")

    claim_id: str | None = Field(None, max_length=64, pattern=TAG_PATTERN)
    structure: str | None = Field(None, max_length=8, pattern=TAG_PATTERN)
    geometry_job_id: str | None = Field(None, pattern=JOB_ID)
    vision_job_ids: list[JobId] | None = Field(None, max_length=MAX_PHOTOS)
    profile: CarrierProfile | str | None = Field(
        None, description="a carrier profile's rules, or the name of one the org saved (its latest version)"
    )
    settings: ReportSettings | None = Field(None, description="the org's saved report settings when absent")


class ReviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    photo: str = Field(pattern=JOB_ID, description="the vision job whose detection is judged")
    detection: int = Field(ge=1, description="the detection's id in that job's result")
    verdict: Literal["accept", "reject"]


class AssignmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    photo: str = Field(pattern=JOB_ID, description="a vision job of the report")
    facet: str = Field(min_length=1, max_length=4, pattern=r"^[A-Z]{1,3}$")


def resolve(request: ReportRequest, org_id: str, jobs: ReportJobs, rules: RulesStore) -> dict[str, Any]:
    """The report's inputs: the named jobs, or the claim's; the profile given, named, or the default;
    the settings given, or the org's."""
    geometry, photos = request.geometry_job_id, request.vision_job_ids
    if geometry is None or photos is None:
        if request.claim_id is None:
            raise InvalidInput("Name a `geometry_job_id` (and `vision_job_ids`), or a `claim_id` whose jobs to use.")
        claimed = [r for r in jobs.claim(org_id, request.claim_id) if r.status == "done"]
        if geometry is None:
            roofs = [
                r
                for r in claimed
                if r.kind is None
                and (request.structure is None or (r.tags or {}).get("structure") == request.structure)
            ]
            if not roofs:
                raise InvalidInput(
                    f"The claim {request.claim_id} has no finished geometry job; analyse the roof first."
                )
            geometry = roofs[-1].job_id  # the latest
        if photos is None:
            photos = [r.job_id for r in claimed if r.kind == "vision"]
    return {
        "version": 1,
        "claim_id": request.claim_id,
        "geometry_job_id": geometry,
        "vision_job_ids": sorted(set(photos)),
        "profile": _profile(request.profile, org_id, rules).model_dump(mode="json"),
        "settings": (request.settings or rules.settings(org_id)).model_dump(mode="json"),
        "assignments": {},
        "reviews": [],
    }


def _profile(given: CarrierProfile | str | None, org_id: str, rules: RulesStore) -> CarrierProfile:
    if given is None:
        return DEFAULT_PROFILE
    return rules.profile(org_id, given) if isinstance(given, str) else given


def build(
    org_id: str, report_id: str, inputs: dict[str, Any], jobs: ReportJobs
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The report and its artifacts from stored results."""
    profile = CarrierProfile.model_validate(inputs["profile"])
    given = ReportInput(
        geometry=jobs.geometry(org_id, inputs["geometry_job_id"]),
        photos=[jobs.photo(org_id, job) for job in inputs["vision_job_ids"]],
        profile=profile,
        settings=ReportSettings.model_validate(inputs["settings"]),
        assignments=dict(inputs["assignments"]),
        reviews=[Review.model_validate(r) for r in inputs["reviews"]],
        claim_id=inputs["claim_id"],
        sources={"geometry_job_id": inputs["geometry_job_id"], "vision_job_ids": inputs["vision_job_ids"]},
        report_id=report_id,
    )
    report = build_report(given)
    report["version"] = inputs["version"]
    return report, artifacts(report, given.geometry, profile.hits_per_test_square)


def create(org_id: str, request: ReportRequest, jobs: ReportJobs, rules: RulesStore) -> dict[str, Any]:
    inputs = resolve(request, org_id, jobs, rules)
    report_id = jobs.new_id()
    report, files = build(org_id, report_id, inputs, jobs)
    jobs.store(
        org_id, report_id, report, inputs, files, JobTags(claim_id=request.claim_id, structure=request.structure)
    )
    return report


def revise(org_id: str, report_id: str, change: dict[str, Any], jobs: ReportJobs) -> dict[str, Any]:
    """A new version of the report with `change` applied to its inputs."""
    record = jobs.record(org_id, report_id)
    inputs = {**jobs.inputs(org_id, report_id), **change}
    inputs["version"] = int(inputs.get("version", 1)) + 1
    report, files = build(org_id, report_id, inputs, jobs)
    jobs.store(org_id, report_id, report, inputs, files, JobTags.model_validate(dict(record.tags or {})))
    return report


def review(
    org_id: str, report_id: str, verdict: ReviewRequest, who: str, at: datetime, jobs: ReportJobs
) -> dict[str, Any]:
    inputs = jobs.inputs(org_id, report_id)
    if verdict.photo not in inputs["vision_job_ids"]:
        raise NotFound(f"The photo {verdict.photo} is not in this report.")
    known = {d.id for d in jobs.photo(org_id, verdict.photo).detections}
    if verdict.detection not in known:
        raise NotFound(f"The photo {verdict.photo} has no detection {verdict.detection}.")
    kept = [r for r in inputs["reviews"] if (r["photo"], r["detection"]) != (verdict.photo, verdict.detection)]
    entry = {
        "photo": verdict.photo,
        "detection": verdict.detection,
        "verdict": verdict.verdict,
        "by": who[:128],
        "at": iso_ms(at),
    }
    return revise(org_id, report_id, {"reviews": [*kept, entry]}, jobs)


def assign(org_id: str, report_id: str, assignment: AssignmentRequest, jobs: ReportJobs) -> dict[str, Any]:
    inputs = jobs.inputs(org_id, report_id)
    if assignment.photo not in inputs["vision_job_ids"]:
        raise NotFound(f"The photo {assignment.photo} is not in this report.")
    facets = {f["id"] for f in jobs.report(org_id, report_id)["facets"]}
    if assignment.facet not in facets:
        raise InvalidInput(f"This roof has no facet {assignment.facet}; its facets are {', '.join(sorted(facets))}.")
    return revise(
        org_id, report_id, {"assignments": {**inputs["assignments"], assignment.photo: assignment.facet}}, jobs
    )
