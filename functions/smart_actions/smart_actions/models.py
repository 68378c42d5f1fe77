"""What the CRM asks of smart actions, and what Dominus returns.

Inputs reject what is out of bounds (422 names the field); answers clip over-long text instead, since
strict structured outputs cannot bound a string's length (`shared.schemas.Clip`). The lead itself is
`shared.leads.Lead`, the same document `/v1/analyze` takes.
"""

from __future__ import annotations

import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from shared.leads import ClaimStatus, InputDate, InputModel, Lead, LossType, Property
from shared.schemas import Clip

Fact = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Constraint = Annotated[str, StringConstraints(min_length=1, max_length=300)]
Owner = Literal["contractor", "homeowner", "adjuster", "carrier"]


class ClaimEvent(InputModel):
    """One dated entry of the claim's history as the CRM logged it."""

    date: InputDate
    event: str = Field(min_length=1, max_length=300)


# ---- carrier email --------------------------------------------------------------------------------


class EmailPurpose(StrEnum):
    REQUEST_INSPECTION = "request_inspection"
    SUBMIT_SUPPLEMENT = "submit_supplement"
    DISPUTE_DENIAL = "dispute_denial"
    STATUS_UPDATE = "status_update"
    SEND_DOCUMENTATION = "send_documentation"
    SCHEDULE_REINSPECTION = "schedule_reinspection"


class AttachmentKind(StrEnum):
    PHOTOS = "photos"
    INSPECTION_REPORT = "inspection_report"
    ESTIMATE = "estimate"
    SUPPLEMENT = "supplement"
    MEASUREMENT_REPORT = "measurement_report"
    WEATHER_REPORT = "weather_report"
    CODE_REQUIREMENT = "code_requirement"
    MANUFACTURER_SPEC = "manufacturer_spec"
    INVOICE = "invoice"
    AUTHORIZATION = "authorization"
    OTHER = "other"


Tone = Literal["professional", "firm", "conciliatory"]


class Adjuster(InputModel):
    name: str | None = Field(None, max_length=120)
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ClaimContext(InputModel):
    carrier: str = Field(min_length=1, max_length=120)
    claim_number: str = Field(min_length=1, max_length=60)
    policy_number: str | None = Field(None, max_length=60)
    policy_holder: str = Field(min_length=1, max_length=120)
    property: Property
    loss_date: InputDate
    loss_type: LossType
    claim_status: ClaimStatus | None = None
    adjuster: Adjuster | None = None


class Attachment(InputModel):
    """A document the contractor has on file and could attach."""

    name: str = Field(min_length=1, max_length=200, description="as the CRM lists it, e.g. 'Xactimate estimate v2'")
    kind: AttachmentKind = AttachmentKind.OTHER
    description: str | None = Field(None, max_length=300)


class Sender(InputModel):
    company: str = Field(min_length=1, max_length=120)
    name: str = Field(min_length=1, max_length=120)
    title: str | None = Field(None, max_length=80)
    phone: str | None = Field(None, max_length=30, pattern=r"^[0-9+()\-. x]{7,30}$")
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class CarrierEmailRequest(InputModel):
    """An email to the insurance carrier about one claim."""

    claim: ClaimContext
    purpose: EmailPurpose
    facts: list[Fact] = Field(
        min_length=1, max_length=20, description="the key facts and evidence the email may use, and no others"
    )
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)
    tone: Tone = "professional"
    sender: Sender
    instructions: str | None = Field(None, max_length=1_000, description="anything else the sender wants said")


class ClaimReferences(BaseModel):
    claim_number: Annotated[str, Clip(60)]
    policy_number: Annotated[str, Clip(60)] | None = Field(description="null unless the request gave one")


class AttachmentChoice(BaseModel):
    name: Annotated[str, Clip(200)] = Field(description="exactly as in the request's attachments")
    reason: Annotated[str, Clip(300)]


class CarrierEmail(BaseModel):
    """An email ready for the contractor to review and send."""

    subject: Annotated[str, Clip(200)]
    body: Annotated[str, Clip(4_000)] = Field(description="plain text, greeting to signature")
    claim_references: ClaimReferences
    attachments_to_include: list[AttachmentChoice] = Field(max_length=20)
    tone: Tone
    follow_up_in_days: int = Field(ge=1, le=60, description="when to follow up if the carrier has not answered")


# ---- summary --------------------------------------------------------------------------------------


class SummaryRequest(InputModel):
    """A summary of a lead or claim for the file."""

    lead: Lead
    events: list[ClaimEvent] = Field(default_factory=list, max_length=30, description="the claim's dated history")
    audience: Literal["internal", "carrier", "homeowner"] = "internal"
    length: Literal["brief", "standard", "detailed"] = "standard"


class TimelineEntry(BaseModel):
    date: datetime.date
    event: Annotated[str, Clip(240)]


class ClaimSummary(BaseModel):
    headline: Annotated[str, Clip(160)]
    summary: Annotated[str, Clip(3_000)]
    key_facts: list[Annotated[str, Clip(240)]] = Field(min_length=1, max_length=12)
    timeline: list[TimelineEntry] = Field(max_length=30, description="dated events from the input, oldest first")
    open_items: list[Annotated[str, Clip(240)]] = Field(max_length=10)


# ---- recommendations ------------------------------------------------------------------------------


class Stage(StrEnum):
    """Where the job stands in the contractor's pipeline."""

    NEW_LEAD = "new_lead"
    INSPECTION_SCHEDULED = "inspection_scheduled"
    INSPECTED = "inspected"
    CLAIM_FILED = "claim_filed"
    ADJUSTER_MEETING_SCHEDULED = "adjuster_meeting_scheduled"
    ADJUSTER_INSPECTED = "adjuster_inspected"
    SCOPE_APPROVED = "scope_approved"
    SUPPLEMENT_PENDING = "supplement_pending"
    DENIED = "denied"
    CONTRACT_SIGNED = "contract_signed"
    PRODUCTION_SCHEDULED = "production_scheduled"
    COMPLETED = "completed"
    INVOICED = "invoiced"
    CLOSED = "closed"


class RecommendationsRequest(InputModel):
    """The next actions on a lead or claim."""

    lead: Lead
    stage: Stage
    events: list[ClaimEvent] = Field(default_factory=list, max_length=30, description="the claim's dated history")
    constraints: list[Constraint] = Field(
        default_factory=list, max_length=10, description="e.g. 'homeowner away until Dec 3', 'crew booked 2 weeks'"
    )
    as_of: InputDate | None = Field(
        None, description="today's date for the CRM: actions then get a due_date; without it, due_in_days"
    )


class Action(BaseModel):
    priority: int = Field(ge=1, le=10, description="1 = do first; unique")
    action: Annotated[str, Clip(240)]
    rationale: Annotated[str, Clip(400)]
    owner: Owner
    due_date: datetime.date | None = Field(description="when the request gave as_of, else null")
    due_in_days: int | None = Field(ge=0, le=365, description="days from now, when no as_of was given, else null")
    depends_on: list[int] = Field(max_length=9, description="priorities of the actions that must come first")


class Recommendations(BaseModel):
    actions: list[Action] = Field(min_length=1, max_length=10, description="in priority order")
    overall_risk: Literal["low", "medium", "high", "critical"]
    risk_summary: Annotated[str, Clip(400)]

    @model_validator(mode="after")
    def _ordered(self) -> Recommendations:
        """What the schema cannot promise: priorities 1..n, unique and in order (ties keep the model's
        order), and dependencies that name other actions of this list (renumbered with them)."""
        ranked = sorted(enumerate(self.actions), key=lambda item: (item[1].priority, item[0]))
        renumber: dict[int, int] = {}
        for new, (_, action) in enumerate(ranked, start=1):
            renumber.setdefault(action.priority, new)
        actions = []
        for new, (_, action) in enumerate(ranked, start=1):
            depends = sorted({renumber[p] for p in action.depends_on if p in renumber} - {new})
            actions.append(action.model_copy(update={"priority": new, "depends_on": depends}))
        self.actions = actions
        return self
