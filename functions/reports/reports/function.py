"""The reports function's HTTP surface (ARCHITECTURE.md, "HTTP"):

- `POST /v1/reports`: a report from a geometry job and vision jobs, or a claim's; 201 with the report.
- `GET /v1/reports/{report_id}` and `GET /v1/reports/{report_id}/{name}` (its artifacts: diagrams,
  damage map, CSVs).
- `POST /v1/reports/{report_id}/reviews` (a reviewer accepts or rejects a detection) and
  `POST /v1/reports/{report_id}/assignments` (a person ties a photo to a facet): each makes a new
  version of the report, its scorecard recomputed.
- `GET /v1/claims/{claim_id}/jobs`: the org's geometry, vision, report and packet jobs of a claim.
- `PUT /v1/orgs/me/carrier-profiles/{name}` (each save its next version), `GET` one or all of them;
  `GET` and `PUT /v1/orgs/me/report-settings`: the rules and settings reports are built under.

Everything is the caller's org's only: any other report or claim is 404. Building a report reads
stored results and takes milliseconds to a second (the PNG), inside the request.

No `from __future__ import annotations`: FastAPI reads the route functions' annotations.
"""

import asyncio
import re
from collections.abc import Callable
from typing import Literal

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response

from reports import service
from reports.jobs import ReportJobs, job_view
from reports.org_rules import DynamoRulesStore, RulesStore, check_name
from reports.profiles import CarrierProfile, ProfileRules
from reports.service import AssignmentRequest, ReportRequest, ReviewRequest
from reports.settings import ReportSettings
from shared.deployment import FunctionSpec
from shared.errors import InvalidInput, NotFound, error_responses
from shared.http import JSON_BODY_ERRORS, JsonRoute, org_id_of, request_id_of, user_of
from shared.jobs import TAG_PATTERN
from shared.runtime import Clients, once

Env = Literal["local", "aws"]
JobsProvider = Callable[[], ReportJobs]
RulesProvider = Callable[[], RulesStore]
ARTIFACTS = (
    "facets.svg", "pitch.svg", "lengths.svg", "damage-map.svg", "damage-map.png", "facets.csv", "quantities.csv",
    "facets.geojson", "measurements.xml",
)  # fmt: skip
_CLAIM = re.compile(TAG_PATTERN)
_PHOTO = "0f8e4c1d9b2a4e7f8c6d5b3a2e1f0a9b"
REPORT_BODY = Body(
    openapi_examples={
        "claim": {
            "summary": "A claim's latest roof and every photo, under a carrier's rules",
            "value": {
                "claim_id": "CLM-1042",
                "profile": {"name": "Acme Mutual", "version": "3", "hits_per_test_square": 8},
            },
        },
        "jobs": {
            "summary": "Named jobs, counts only (the default profile)",
            "value": {"geometry_job_id": "4b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e", "vision_job_ids": [_PHOTO]},
        },
    }
)
REVIEW_BODY = Body(
    openapi_examples={
        "reject": {
            "summary": "Not hail: a granule scuff",
            "value": {"photo": _PHOTO, "detection": 3, "verdict": "reject"},
        }
    }
)
PROFILE_BODY = Body(
    openapi_examples={
        "acme": {
            "summary": "8 functional hail hits per test square replace a slope; 2 slopes replace the roof",
            "value": {"hits_per_test_square": 8, "min_confidence": 0.6, "roof_replace_slopes": 2},
        }
    }
)
ASSIGNMENT_BODY = Body(
    openapi_examples={"facet": {"summary": "This photo shows facet B", "value": {"photo": _PHOTO, "facet": "B"}}}
)


def reports_router(jobs: JobsProvider, rules: RulesProvider, env: Env) -> APIRouter:
    router = APIRouter(tags=["Reports"], route_class=JsonRoute)

    def headers(request: Request) -> dict[str, str]:
        return {"X-Request-Id": request_id_of(request)}

    @router.post(
        "/v1/reports",
        status_code=201,
        summary="Build the slope-by-slope roof report from a geometry job and vision jobs (or a claim's)",
        responses=error_responses(*JSON_BODY_ERRORS, 404, 409),
    )
    async def create_report(request: Request, body: ReportRequest = REPORT_BODY) -> JSONResponse:
        report = await asyncio.to_thread(service.create, org_id_of(request, env), body, jobs(), rules())
        return JSONResponse(report, status_code=201, headers=headers(request))

    @router.get(
        "/v1/reports/{report_id}", summary="A report (the caller's org only)", responses=error_responses(404, 422)
    )
    async def get_report(request: Request, report_id: str) -> JSONResponse:
        report = await asyncio.to_thread(jobs().report, org_id_of(request, env), report_id)
        return JSONResponse(report, headers=headers(request))

    @router.get(
        "/v1/reports/{report_id}/{name}",
        summary="One of a report's artifacts: diagrams (SVG), the damage map (SVG, PNG), CSVs",
        response_class=Response,
        responses={200: {"description": "The artifact, with its content type"}, **error_responses(404, 422)},
    )
    async def get_artifact(request: Request, report_id: str, name: str) -> Response:
        org = org_id_of(request, env)
        if name not in ARTIFACTS:
            raise NotFound(f"A report's artifacts are {', '.join(ARTIFACTS)}.")
        body, media = await asyncio.to_thread(jobs().artifact, org, report_id, name)
        return Response(body, media_type=media, headers={**headers(request), "Cache-Control": "private, max-age=60"})

    @router.post(
        "/v1/reports/{report_id}/reviews",
        summary="Accept or reject a detection; the report's scorecard is recomputed (a new version)",
        responses=error_responses(*JSON_BODY_ERRORS, 404),
    )
    async def add_review(request: Request, report_id: str, body: ReviewRequest = REVIEW_BODY) -> JSONResponse:
        org, who = org_id_of(request, env), user_of(request, env)
        store = jobs()
        report = await asyncio.to_thread(service.review, org, report_id, body, who, store.clock(), store)
        return JSONResponse(report, headers=headers(request))

    @router.post(
        "/v1/reports/{report_id}/assignments",
        summary="Tie a photo to a facet; the report's scorecard is recomputed (a new version)",
        responses=error_responses(*JSON_BODY_ERRORS, 404),
    )
    async def add_assignment(
        request: Request, report_id: str, body: AssignmentRequest = ASSIGNMENT_BODY
    ) -> JSONResponse:
        report = await asyncio.to_thread(service.assign, org_id_of(request, env), report_id, body, jobs())
        return JSONResponse(report, headers=headers(request))

    @router.get(
        "/v1/claims/{claim_id}/jobs",
        summary="A claim's jobs: geometry, vision, reports and packets, oldest first",
        responses=error_responses(404, 422),
    )
    async def claim_jobs(request: Request, claim_id: str) -> JSONResponse:
        org = org_id_of(request, env)  # the caller first: a bad credential is 400/401 whatever the path
        if len(claim_id) > 64 or not _CLAIM.fullmatch(claim_id):
            raise InvalidInput("A claim id is 1-64 letters, digits and . _ : -")
        records = await asyncio.to_thread(jobs().claim, org, claim_id)
        if not records:
            raise NotFound("No jobs of that claim in this org.")
        return JSONResponse({"claim_id": claim_id, "jobs": [job_view(r) for r in records]}, headers=headers(request))

    @router.put(
        "/v1/orgs/me/carrier-profiles/{name}",
        summary="Save a carrier profile's rules under a name: its next version (reports name the version)",
        responses=error_responses(*JSON_BODY_ERRORS, 404, 409),
    )
    async def save_profile(request: Request, name: str, body: ProfileRules = PROFILE_BODY) -> JSONResponse:
        org = org_id_of(request, env)
        profile = CarrierProfile(name=check_name(name), **body.model_dump())
        saved = await asyncio.to_thread(rules().save_profile, org, profile)
        return JSONResponse({**saved.model_dump(mode="json"), "rules": saved.summary()}, headers=headers(request))

    @router.get("/v1/orgs/me/carrier-profiles", summary="The org's carrier profiles, each at its latest version")
    async def list_profiles(request: Request) -> JSONResponse:
        found = await asyncio.to_thread(rules().profiles, org_id_of(request, env))
        listed = [{**p.model_dump(mode="json"), "rules": p.summary()} for p in found]
        return JSONResponse({"profiles": listed}, headers=headers(request))

    @router.get(
        "/v1/orgs/me/carrier-profiles/{name}",
        summary="One carrier profile: its latest version, or `?version=`",
        responses=error_responses(404, 422),
    )
    async def get_profile(request: Request, name: str, version: str | None = None) -> JSONResponse:
        org = org_id_of(request, env)
        found = await asyncio.to_thread(rules().profile, org, check_name(name), version)
        return JSONResponse({**found.model_dump(mode="json"), "rules": found.summary()}, headers=headers(request))

    @router.get("/v1/orgs/me/report-settings", summary="The org's report settings (waste columns, starter, line codes)")
    async def get_settings(request: Request) -> JSONResponse:
        found = await asyncio.to_thread(rules().settings, org_id_of(request, env))
        return JSONResponse(found.model_dump(mode="json"), headers=headers(request))

    @router.put(
        "/v1/orgs/me/report-settings",
        summary="Save the org's report settings; reports built from now on use them",
        responses=error_responses(*JSON_BODY_ERRORS),
    )
    async def save_settings(request: Request, body: ReportSettings) -> JSONResponse:
        await asyncio.to_thread(rules().save_settings, org_id_of(request, env), body)
        return JSONResponse(body.model_dump(mode="json"), headers=headers(request))

    return router


def routers(clients: Clients) -> list[APIRouter]:
    settings = clients.settings
    jobs = clients.job_store(ReportJobs)
    rules = once(lambda: DynamoRulesStore(clients.dynamodb, settings.dominus_org_table))
    return [reports_router(jobs, rules, settings.dominus_env)]


SPEC = FunctionSpec("reports", "Reports", routers)
