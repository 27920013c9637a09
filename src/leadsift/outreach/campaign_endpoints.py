"""Campaigns over the API: what `leadsift campaign create|list|status|preview|schedule|pause|
resume` do, calling the same services (admins and managers, as on the web pages), and the
messages a campaign decided."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi import Path as ApiPath
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat
from sqlalchemy.orm import Session

from leadsift.access.endpoints import RATE_LIMITED
from leadsift.access.schemas import Caller
from leadsift.contacts import lookup
from leadsift.kit.clock import utcnow
from leadsift.kit.web import NO_NUL, database_of, error_responses, reading_session, settings_of
from leadsift.outreach import campaign_repository, campaigns
from leadsift.outreach.campaign_cli import sending
from leadsift.outreach.promo_endpoints import (
    After,
    Changing,
    Count,
    Limit,
    Moment,
    Reading,
    Seconds,
)
from leadsift.outreach.schemas import CampaignSpec, CampaignView, Preview, StepSpec
from leadsift.qualification.stages import Stage

router = APIRouter(
    prefix="/api/v1",
    tags=["campaigns"],
    responses=error_responses(401, 403, described=RATE_LIMITED),
)
# Where the service's messages say a template problem is ("template, fr.text: …").
TEMPLATE_SOURCE: Final = "template"
CampaignKey = Annotated[
    str,
    ApiPath(
        min_length=1,
        max_length=100,
        pattern=NO_NUL,
        description="The campaign's key (as given to `campaign create`).",
    ),
]
_NO_CAMPAIGN: Final = {404: "No campaign of that key."}
CampaignStatus = Literal["draft", "scheduled", "paused"]


class TemplateParts(BaseModel):
    """One language of a message: subject (email only), text, and an optional HTML part."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, max_length=1_000, pattern=NO_NUL)
    text: str = Field(
        max_length=20_000,
        pattern=NO_NUL,
        description="Jinja2: {{ contact.first_name }}, {{ link }}, {{ promo_code }}, "
        "{{ unsubscribe_url }} (a marketing email needs it), …",
    )
    html: str | None = Field(default=None, max_length=200_000, pattern=NO_NUL)


class TemplateBody(BaseModel):
    """A message template, as the YAML file `campaign create --template` reads."""

    model_config = ConfigDict(extra="forbid")

    channel: Literal["email", "sms"]
    default_language: Literal["fr", "en"] = Field(
        default="fr", description="Sent to contacts whose language has no part of its own."
    )
    marketing: StrictBool = Field(
        default=True, description="A marketing message needs consent and an unsubscribe link."
    )
    fr: TemplateParts | None = None
    en: TemplateParts | None = None

    def document(self) -> dict[str, Any]:
        """The template document the service checks (absent languages left out)."""
        return self.model_dump(exclude_none=True)


class StepBody(BaseModel):
    """A later step of a sequence (the CLI's `--then DELAY:FILE`)."""

    model_config = ConfigDict(extra="forbid")

    delay_seconds: Seconds = Field(description="Seconds after the previous step was sent.")
    template: TemplateBody


class CampaignCreate(BaseModel):
    """What `campaign create` takes: a target (expression or stage), a template, options."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(
        min_length=1,
        max_length=100,
        pattern=NO_NUL,
        description="1 to 100 letters, digits, '_', '.' or '-', starting with a letter or digit.",
    )
    template: TemplateBody
    target: str | None = Field(
        default=None,
        min_length=1,
        max_length=5_000,
        pattern=NO_NUL,
        description='A criteria expression of the recipients, e.g. `city = "Lyon"` '
        "(give it or stage, not both).",
    )
    stage: Stage | None = Field(default=None, description="Or: every contact at this stage.")
    audience: Literal["b2c", "b2b"] = "b2c"
    link_url: str | None = Field(
        default=None,
        max_length=2_000,
        pattern=NO_NUL,
        description="The offer's URL, tracked per contact ({{ link }} in the template).",
    )
    promo: str | None = Field(
        default=None,
        max_length=100,
        pattern=NO_NUL,
        description="The promo program whose personal codes the messages carry.",
    )
    control_percent: StrictFloat = Field(
        default=0.0,
        ge=0,
        le=campaigns.MAX_CONTROL_PERCENT,
        allow_inf_nan=False,
        description="The share of the recipients held out as a control group, in percent.",
    )
    throttle_per_hour: Count | None = Field(
        default=None, description="At most this many messages an hour."
    )
    steps: list[StepBody] = Field(
        default_factory=list, max_length=20, description="Later steps of a sequence, in order."
    )

    def spec(self) -> CampaignSpec:
        """The campaign asked for, as the CLI builds it from its options."""
        return CampaignSpec(
            key=self.key,
            template=self.template.document(),
            template_source=TEMPLATE_SOURCE,
            target=self.target,
            stage=self.stage.value if self.stage is not None else None,
            audience=self.audience,
            link_url=self.link_url,
            promo=self.promo,
            control_percent=self.control_percent,
            throttle_per_hour=self.throttle_per_hour,
            steps=tuple(
                StepSpec(s.delay_seconds, s.template.document(), f"steps[{n}].template")
                for n, s in enumerate(self.steps)
            ),
        )


class CampaignPage(BaseModel):
    """Campaigns newest first (each as `campaign status --json` shows it); `next` is the cursor
    of the following page (null on the last)."""

    items: list[CampaignView]
    next: str | None


class PreviewRequest(BaseModel):
    """Whose message to show."""

    model_config = ConfigDict(extra="forbid")

    contact: str = Field(
        min_length=1,
        max_length=320,
        pattern=NO_NUL,
        description="The contact's id, email, phone or external id (as `--contact`).",
    )


class ScheduleRequest(BaseModel):
    """When the worker starts sending."""

    model_config = ConfigDict(extra="forbid")

    at: Moment | None = Field(
        default=None, description="With its offset, e.g. 2026-12-01T09:00:00+01:00; absent: now."
    )


@router.get(
    "/campaigns",
    operation_id="list_campaigns",
    response_model=CampaignPage,
    responses=error_responses(422),
)
def list_campaigns(
    _caller: Reading,
    session: Annotated[Session, Depends(reading_session)],
    status_: Annotated[CampaignStatus | None, Query(alias="status")] = None,
    channel: Annotated[Literal["email", "sms"] | None, Query()] = None,
    limit: Limit = 50,
    after: After = None,
) -> CampaignPage:
    """Every campaign with its status, channel, audience and messages by step and status (as
    `campaign list --json`), newest first, a page at a time."""
    before = int(after) if after is not None else None
    rows = [
        c
        for c in campaign_repository.campaigns(session)
        if (before is None or c.id < before)
        and (status_ is None or c.status == status_)
        and (channel is None or c.channel == channel)
    ]
    page = rows[:limit]
    following = str(page[-1].id) if len(rows) > limit else None
    return CampaignPage(items=[campaigns.view(session, c) for c in page], next=following)


@router.post(
    "/campaigns",
    operation_id="create_campaign",
    status_code=status.HTTP_201_CREATED,
    response_model=CampaignView,
    responses=error_responses(400, 404, 409, 413, 422, described={
        404: "No promo program of that key.",
        409: "A campaign of that key exists.",
        422: "The request is not valid, or the campaign is not: the target expression, a "
        "template (the message names the part: `template, fr.text: …`), the link, the "
        "control share, or a promo program that ended.",
    }),
)  # fmt: skip
def create_campaign(request: Request, body: CampaignCreate, caller: Changing) -> CampaignView:
    """Create a draft campaign, checked as `campaign create` checks it (target, every
    template against the workspace's fields, link, promo program)."""
    with database_of(request).unit_of_work() as session:
        return campaigns.create(session, body.spec(), utcnow(), actor=caller.actor)


@router.get(
    "/campaigns/{key}",
    operation_id="get_campaign",
    response_model=CampaignView,
    responses=error_responses(422, described=_NO_CAMPAIGN),
)
def get_campaign(
    key: CampaignKey, _caller: Reading, session: Annotated[Session, Depends(reading_session)]
) -> CampaignView:
    """The campaign and its delivery figures (as `campaign status`)."""
    return campaigns.status(session, key)


@router.post(
    "/campaigns/{key}/preview",
    operation_id="preview_campaign",
    response_model=Preview,
    responses=error_responses(
        400, 404, 413, 422, described={404: "No such campaign, or no such contact among yours."}
    ),
)
def preview_campaign(
    request: Request, key: CampaignKey, body: PreviewRequest, caller: Reading
) -> Preview:
    """The contact's message rendered as the worker would send it, whether it would go, and
    who the campaign would skip and why (as `campaign preview`; nothing is written)."""
    settings = settings_of(request)
    # A dry run, as the CLI's: the secrets a first preview creates go with the rollback.
    with database_of(request).unit_of_work(dry_run=True) as session:
        campaigns.get(session, key)  # an unknown campaign before an unknown contact
        contact_id = lookup.find_visible_contact(
            session, caller, body.contact, settings.default_region
        )
        return campaigns.preview(session, key, contact_id, sending(settings), utcnow())


_SCHEDULE_ERRORS: Final = error_responses(
    400, 404, 409, 413, 422, described={**_NO_CAMPAIGN, 409: "The campaign is not a draft."}
)


@router.post(
    "/campaigns/{key}/schedule",
    operation_id="schedule_campaign",
    response_model=CampaignView,
    responses=_SCHEDULE_ERRORS,
)
def schedule_campaign(
    request: Request, key: CampaignKey, caller: Changing, body: ScheduleRequest | None = None
) -> CampaignView:
    """Decide the recipients now (consent gate, control group, pace) and queue their messages;
    the worker sends them from `at` (default now), as `campaign schedule`."""
    at = body.at if body is not None else None
    with database_of(request).unit_of_work() as session:
        return campaigns.schedule(session, key, at=at, now=utcnow(), actor=caller.actor)


def _set_paused(request: Request, key: str, caller: Caller, *, paused: bool) -> CampaignView:
    with database_of(request).unit_of_work() as session:
        return campaigns.set_paused(session, key, paused=paused, now=utcnow(), actor=caller.actor)


@router.post(
    "/campaigns/{key}/pause",
    operation_id="pause_campaign",
    response_model=CampaignView,
    responses=error_responses(422, described={**_NO_CAMPAIGN, 409: "It is not scheduled."}),
)
def pause_campaign(request: Request, key: CampaignKey, caller: Changing) -> CampaignView:
    """Stop sending: messages in flight finish, nothing new leaves (as `campaign pause`)."""
    return _set_paused(request, key, caller, paused=True)


@router.post(
    "/campaigns/{key}/resume",
    operation_id="resume_campaign",
    response_model=CampaignView,
    responses=error_responses(422, described={**_NO_CAMPAIGN, 409: "It is not paused."}),
)
def resume_campaign(request: Request, key: CampaignKey, caller: Changing) -> CampaignView:
    """Send again after a pause (as `campaign resume`)."""
    return _set_paused(request, key, caller, paused=False)


OutboxStatus = Literal[
    "pending", "held", "claimed", "sent", "bounced", "failed", "skipped", "ambiguous",
    "stopped", "control",
]  # fmt: skip


class MessageOut(BaseModel):
    """One message a campaign decided for one contact, and what became of it (no content)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    contact_id: int
    channel: str
    step: int = Field(description="0 for the first message, 1 for the next step of a sequence…")
    status: str = Field(description="pending, held (paused), claimed, sent, bounced, failed, "
                        "skipped, ambiguous, stopped (sequence), control (held out).")  # fmt: skip
    reason: str | None = Field(description="Why it was skipped, failed or bounced.")
    due_at: datetime
    attempts: int
    settled_at: datetime | None
    message_id: str | None = Field(description="The Message-ID of a sent email.")


class MessagePage(BaseModel):
    """Messages in the order decided; `next` is the cursor of the following page (null on the
    last)."""

    items: list[MessageOut]
    next: str | None


@router.get(
    "/campaigns/{key}/messages",
    operation_id="list_campaign_messages",
    response_model=MessagePage,
    responses=error_responses(422, described=_NO_CAMPAIGN),
)
def list_campaign_messages(  # noqa: PLR0917 — the path, the caller, the session, the filters
    key: CampaignKey,
    caller: Reading,
    session: Annotated[Session, Depends(reading_session)],
    status_: Annotated[OutboxStatus | None, Query(alias="status")] = None,
    limit: Limit = 50,
    after: After = None,
) -> MessagePage:
    """The campaign's messages to the contacts the caller may see: ids, contacts, statuses and
    reasons (the figures of `campaign status`, message by message), a page at a time."""
    rows = campaigns.messages(
        session, key, caller, status=status_, after=int(after) if after else None,
        limit=limit + 1,
    )  # fmt: skip
    following = str(rows[limit - 1].id) if len(rows) > limit else None
    return MessagePage(items=[MessageOut.model_validate(m) for m in rows[:limit]], next=following)
