"""Campaigns: create (checked target and templates), preview for one contact, schedule (the
gate and the outbox rows in one transaction), pause, resume, status. Flushes, never commits."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from leadsift.access.schemas import Caller
from leadsift.access.service import workspace_secret
from leadsift.contacts import repository as contacts_repository
from leadsift.engagement.tracked_links import register_link, tracking_secret
from leadsift.errors import ConflictError, InvalidInputError, NotFoundError
from leadsift.outreach import campaign_repository as store
from leadsift.outreach import promo_repository, repository
from leadsift.outreach.consent import check_audience, suppression_secret
from leadsift.outreach.messages import CONTACT_FIELDS, Composer, message_tag
from leadsift.outreach.models import Campaign, CampaignChange, OutboxMessage, PromoProgram
from leadsift.outreach.preparation import Decided, Pace, Suppressed, decide_all, decide_row
from leadsift.outreach.promo_codes import closed_reason
from leadsift.outreach.schemas import CampaignSpec, CampaignView, Preview, Skip
from leadsift.outreach.templates import MessageTemplate, check_template, parse_template
from leadsift.qualification import repository as qualification_repository
from leadsift.qualification.stages import Stage
from leadsift.segments.service import where_condition

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
CAMPAIGN_CHANNELS = ("email", "sms")
MAX_CONTROL_PERCENT = 50.0


@dataclass(frozen=True)
class Sending:
    """Where messages point and who signs them (from the settings)."""

    base_url: str
    sender: str
    email_from: str


def _check_key(key: str) -> str:
    if not _KEY.match(key):
        raise InvalidInputError(
            f"campaign key {key!r}: use 1 to 100 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return key


def _target(spec: CampaignSpec) -> str:
    if (spec.target is None) == (spec.stage is None):
        raise InvalidInputError("give the campaign a target: --target EXPRESSION or --stage STAGE")
    if spec.stage is not None:
        stages = [s.value for s in Stage]
        if spec.stage not in stages:
            raise InvalidInputError(f"--stage {spec.stage!r}: use one of {', '.join(stages)}")
        return f'stage = "{spec.stage}"'
    assert spec.target is not None  # noqa: S101 — checked just above
    return spec.target


def contact_fields(session: Session) -> list[str]:
    """The contact fields a template may read: standard ones and custom attributes."""
    return [*CONTACT_FIELDS, *contacts_repository.attribute_definitions(session)]


def _templates(session: Session, spec: CampaignSpec, uses_promo: bool) -> list[MessageTemplate]:
    documents = [(spec.template, spec.template_source)]
    documents += [(step.template, step.source) for step in spec.steps]
    fields = contact_fields(session)
    parsed = []
    for document, source in documents:
        template = parse_template(document, source=source)
        check_template(
            template, contact_fields=fields, uses_promo=uses_promo, has_link=bool(spec.link_url)
        )
        parsed.append(template)
    channels = {t.channel for t in parsed}
    if len(channels) != 1:
        raise InvalidInputError("every step of a sequence must use the same channel")
    return parsed


def _check_program_open(program: PromoProgram, now: datetime) -> None:
    closed = closed_reason(
        program.key, program.valid_until, program.max_redemptions, program.redemptions, now
    )
    if closed is not None:
        raise InvalidInputError(closed)


def create(
    session: Session, spec: CampaignSpec, now: datetime, *, actor: str = "cli"
) -> CampaignView:
    """Store a draft campaign after checking its target, templates, link and promo program."""
    key = _check_key(spec.key)
    if store.campaign_by_key(session, key) is not None:
        raise ConflictError(f"campaign {key!r} already exists: choose another key")
    target = _target(spec)
    where_condition(session, target)  # an invalid expression is refused here, with its position
    check_audience(spec.audience)
    if not 0 <= spec.control_percent <= MAX_CONTROL_PERCENT:
        raise InvalidInputError(f"--control: give a share from 0 to {MAX_CONTROL_PERCENT:g}%")
    program = None
    if spec.promo is not None:
        program = promo_repository.program_by_key(session, spec.promo)
        if program is None:
            raise NotFoundError(f"no promo program {spec.promo!r}: create it with promo program")
        _check_program_open(program, now)
    templates = _templates(session, spec, program is not None)
    link_id = None
    if spec.link_url:
        link_id = register_link(session, key, spec.link_url, now)[0].id
    campaign = Campaign(
        key=key,
        channel=templates[0].channel,
        audience=spec.audience,
        target=target,
        steps=[{"delay_s": 0, "template": templates[0].to_json()}]
        + [
            {"delay_s": step.delay_s, "template": t.to_json()}
            for step, t in zip(spec.steps, templates[1:], strict=True)
        ],
        link_url=spec.link_url,
        link_id=link_id,
        promo_program_id=program.id if program else None,
        control_percent=spec.control_percent,
        control_seed=secrets.token_hex(16),
        throttle_per_hour=spec.throttle_per_hour,
        status="draft",
        prepared={},
        created_at=now,
        updated_at=now,
    )
    store.add_campaign(session, campaign)
    _history(session, campaign.id, source=None, target="draft", actor=actor, now=now,
             note={"target": target})  # fmt: skip
    return view(session, campaign)


def _history(
    session: Session,
    campaign_id: int,
    *,
    source: str | None,
    target: str,
    actor: str,
    now: datetime,
    note: dict[str, Any],
) -> None:
    store.add_change(
        session,
        CampaignChange(
            campaign_id=campaign_id,
            from_status=source,
            to_status=target,
            actor=actor,
            note=note,
            at=now,
        ),
    )


def get(session: Session, key: str, *, lock: bool = False) -> Campaign:
    """The campaign KEY, or a not-found error naming the command that lists them."""
    campaign = store.campaign_by_key(session, key, lock=lock)
    if campaign is None:
        raise NotFoundError(f"no campaign {key!r}: see `leadsift campaign list`")
    return campaign


def composer(session: Session, campaign: Campaign, sending: Sending) -> Composer:
    """What the campaign's messages share."""
    version = qualification_repository.active_version(session)
    document = version.document if version is not None else {}
    offer = {"name": document.get("name"), "currency": document.get("currency")}
    domain = sending.email_from.rpartition("@")[2] or "localhost"
    return Composer(
        campaign_key=campaign.key,
        campaign_name=campaign.key,
        channel=campaign.channel,
        templates=[parse_template(s["template"], source=campaign.key) for s in campaign.steps],
        base_url=sending.base_url,
        tracking_secret=tracking_secret(session),
        link_id=campaign.link_id,
        sender=sending.sender,
        offer=offer,
        message_domain=domain,
        message_tag=message_tag(workspace_secret(session, "message_ids")),
    )


def _suppressed(session: Session, channel: str) -> Suppressed:
    everything = repository.suppressed_for(session, "all")
    on_channel = repository.suppressed_for(session, channel)
    return Suppressed(on_channel, everything)


def _decisions(
    session: Session, campaign: Campaign, now: datetime, decided: Decided, examples: int
) -> Iterator[list[tuple[Any, ...]]]:
    parts = repository.target_facts(
        session, where_condition(session, campaign.target), campaign.channel
    )
    return decide_all(
        parts,
        campaign_id=campaign.id,
        channel=campaign.channel,
        audience=campaign.audience,
        secret=suppression_secret(session),
        suppressed=_suppressed(session, campaign.channel),
        control=(campaign.control_seed, campaign.control_percent),
        pace=Pace(now, campaign.throttle_per_hour),
        now=now,
        decided=decided,
        examples=examples,
    )


def preview(
    session: Session, key: str, contact_id: int, sending: Sending, now: datetime
) -> Preview:
    """CONTACT's message rendered as it would be sent, and who the campaign would skip and why
    (nothing is written)."""
    campaign = get(session, key)
    own = repository.one_contact_facts(session, contact_id, campaign.channel)
    contact = repository.contact_row(session, contact_id)
    if contact is None or own is None:
        raise NotFoundError(f"no contact {contact_id}")
    verdict = decide_row(
        own,
        channel=campaign.channel,
        audience=campaign.audience,
        secret=suppression_secret(session),
        suppressed=_suppressed(session, campaign.channel),
        now=now,
    )
    code = "PREVIEW-CODE" if campaign.promo_program_id else None
    rendered, _ = composer(session, campaign, sending).render(contact, 0, code)
    decided = Decided()
    for _ in _decisions(session, campaign, now, decided, examples=20):
        pass
    return Preview(
        campaign=campaign.key,
        contact_id=contact_id,
        decision={"allowed": verdict.allowed, "reason": verdict.reason, "message": verdict.message},
        language=rendered.language,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        recipients=decided.treated,
        control=decided.control,
        skipped=dict(decided.skipped),
        skipped_examples=[Skip(c, r) for c, r in decided.examples],
    )


def schedule(
    session: Session, key: str, *, at: datetime | None, now: datetime, actor: str = "cli"
) -> CampaignView:
    """Decide the campaign's recipients now (gate, control group, pace) and write one outbox
    row each, in this transaction; the worker sends from AT (default now)."""
    campaign = get(session, key, lock=True)
    if not store.move_status(session, campaign.id, ["draft"], "scheduled", now):
        raise ConflictError(f"campaign {key!r} is {campaign.status}: only a draft can be scheduled")
    start = at or now
    decided = Decided()
    shift = start - now
    for rows in _decisions(session, campaign, now, decided, examples=0):
        shifted = [(*r[:5], r[5] + shift, *r[6:]) for r in rows] if shift else rows
        store.insert_outbox(session, shifted)
    prepared = {
        "recipients": decided.treated,
        "control": decided.control,
        "skipped": dict(decided.skipped),
        "prepared_at": now.isoformat(),
    }
    session.refresh(campaign)
    campaign.prepared = prepared
    campaign.scheduled_at = start
    _history(session, campaign.id, source="draft", target="scheduled", actor=actor, now=now,
             note=prepared)  # fmt: skip
    session.flush()
    return view(session, campaign)


def set_paused(
    session: Session, key: str, *, paused: bool, now: datetime, actor: str = "cli"
) -> CampaignView:
    """Pause a scheduled campaign (no new message leaves) or resume a paused one."""
    campaign = get(session, key, lock=True)
    source, target = ("scheduled", "paused") if paused else ("paused", "scheduled")
    if not store.move_status(session, campaign.id, [source], target, now):
        verb = "pause" if paused else "resume"
        raise ConflictError(f"campaign {key!r} is {campaign.status}: cannot {verb} it")
    moved = store.hold(session, campaign.id, held=paused)
    note = {"held": moved} if paused else {"back_in_queue": moved}
    _history(session, campaign.id, source=source, target=target, actor=actor, now=now, note=note)
    session.refresh(campaign)
    return view(session, campaign)


def view(session: Session, campaign: Campaign) -> CampaignView:
    """A campaign with its outbox counts per step and status, reasons and history."""
    outbox: dict[str, dict[str, int]] = {}
    for (step, status), count in sorted(store.status_counts(session, campaign.id).items()):
        outbox.setdefault(str(step), {})[status] = count
    program = (
        store.program(session, campaign.promo_program_id) if campaign.promo_program_id else None
    )
    history = [
        {"from": c.from_status, "to": c.to_status, "actor": c.actor, "at": c.at, "note": c.note}
        for c in store.changes(session, campaign.id)
    ]
    return CampaignView(
        key=campaign.key,
        channel=campaign.channel,
        audience=campaign.audience,
        target=campaign.target,
        status=campaign.status,
        steps=len(campaign.steps),
        control_percent=campaign.control_percent,
        throttle_per_hour=campaign.throttle_per_hour,
        link_url=campaign.link_url,
        promo=program.key if program else None,
        scheduled_at=campaign.scheduled_at,
        created_at=campaign.created_at,
        prepared=dict(campaign.prepared or {}),
        outbox=outbox,
        reasons=store.reason_counts(session, campaign.id),
        history=history,
    )


def status(session: Session, key: str) -> CampaignView:
    """The campaign KEY as `campaign status` shows it."""
    return view(session, get(session, key))


def messages(
    session: Session,
    key: str,
    caller: Caller,
    *,
    status: str | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[OutboxMessage]:
    """The campaign's outbox messages about contacts CALLER may see, in id order, LIMIT from
    the one after id AFTER; only those of STATUS when given."""
    campaign = get(session, key)
    return store.outbox_page(session, campaign.id, caller, status=status, after=after, limit=limit)


def list_all(session: Session) -> list[CampaignView]:
    """Every campaign."""
    return [view(session, c) for c in store.campaigns(session)]
