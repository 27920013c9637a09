"""The telesales call queue: the agent's next prospect under the calling rules, and the outcome
of a call (its touch, its events, the stage it leaves the contact in); services flush."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, time
from typing import Any, Final

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access import service as access
from leadsift.access.schemas import Caller
from leadsift.agents import call_repository as sql
from leadsift.agents import calling, optout
from leadsift.agents import repository as assignment_sql
from leadsift.agents.repository import PREDICTED
from leadsift.agents.schemas import Exclusion, NextCall
from leadsift.contacts import lookup
from leadsift.contacts.models import Contact
from leadsift.errors import InvalidInputError, NotFoundError
from leadsift.outreach.consent import suppression_secret
from leadsift.outreach.identifiers import identifier_hash
from leadsift.qualification import promotion
from leadsift.qualification import repository as qualification_repository
from leadsift.qualification.playbook_schema import CallingPolicy
from leadsift.qualification.schemas import StageChangeView
from leadsift.scoring import service as scoring

_PAGE: Final = 100
_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CONTACT_FIELDS: Final = (
    "id", "first_name", "last_name", "email", "phone", "company", "job_title", "city",
    "postal_code", "region", "source", "stage", "stage_reason", "fit",
)  # fmt: skip
_SCRIPTS = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, finalize=lambda value: "" if value is None else value
)


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def calling_policy(session: Session) -> tuple[CallingPolicy, str]:
    """The active playbook's calling section (French defaults without one) and its locale."""
    version = qualification_repository.active_version(session)
    document = version.document if version is not None else {}
    policy = CallingPolicy.model_validate(document.get("calling") or {})
    return policy, str(document.get("locale") or "fr")


def rules_of(policy: CallingPolicy) -> calling.CallingRules:
    """The pure rules of a playbook's calling section."""
    return calling.CallingRules(
        time_zone=policy.time_zone,
        days=frozenset(_DAYS.index(day) for day in policy.days),
        hours=tuple(
            (_clock(span.split("-")[0]), _clock(span.split("-")[1])) for span in policy.hours
        ),
        holidays_country=policy.holidays,
        holidays_subdivision=policy.holidays_subdivision,
        max_attempts=policy.max_attempts,
        attempts_window=policy.attempts_window,
        after_refusal=policy.after_refusal,
        opposition_max_age=policy.opposition_max_age,
        phone_consent_from=policy.phone_consent_from,
    )


def _exclusion(found: calling.Exclusion) -> Exclusion:
    return Exclusion(code=found.code, message=found.message, until=found.until)


class _Facts:
    """The calling-rule facts of one page of candidates, read in a handful of queries."""

    def __init__(
        self, session: Session, rows: list[dict[str, Any]], now: datetime, policy: CallingPolicy
    ) -> None:
        ids = [row["id"] for row in rows]
        secret = suppression_secret(session)
        self.hashes = {
            row["id"]: identifier_hash(secret, "phone", row["phone"])
            for row in rows
            if row["phone"]
        }
        self.attempts = sql.call_attempts(session, ids, now - policy.attempts_window)
        self.consent = sql.phone_consent(session, ids)
        self.suppressed = sql.phone_suppressions(session, set(self.hashes.values()))
        lists = optout.latest_imports(session)
        self.list_date = min((i.as_of for i in lists.values()), default=None)
        self.listed = (
            optout.listed_phones(session, list(lists), set(self.hashes.values())) if lists else None
        )
        self.audience = policy.audience

    def of(self, row: dict[str, Any]) -> calling.CallFacts:
        """The facts of one candidate."""
        phone_hash = self.hashes.get(row["id"])
        return calling.CallFacts(
            has_phone=phone_hash is not None,
            audience=self.audience,
            attempts=tuple(self.attempts.get(row["id"], ())),
            last_refusal_at=row["last_refusal_at"],
            on_opposition_list=None if self.listed is None else phone_hash in self.listed,
            opposition_list_as_of=self.list_date,
            phone_consent=self.consent.get(row["id"]),
            suppressed=self.suppressed.get(phone_hash or ""),
        )


def _queue_exclusion(row: dict[str, Any], now: datetime) -> Exclusion | None:
    """What only the queue knows: a call-back asked for later, a number known to be wrong."""
    if row["callback_at"] is not None and row["callback_at"] > now:
        at = row["callback_at"].isoformat(timespec="minutes")
        return Exclusion(
            code="callback_later",
            message=f"asked to be called back at {at}",
            until=row["callback_at"],
        )
    if row["wrong_phone"] is not None and row["wrong_phone"] == row["phone"]:
        return Exclusion(
            code="wrong_number",
            message="the phone number was found wrong: update it to call again",
        )
    return None


def _nobody(agent: str, now: datetime, why: Exclusion, **extra: Any) -> NextCall:
    return NextCall(agent=agent, at=now, nobody=why, **extra)


def queue_filter(
    policy: CallingPolicy, rules: calling.CallingRules, now: datetime
) -> sql.QueueFilter:
    """What the queue's SQL checks of the calling rules at NOW."""
    return sql.QueueFilter(
        now=now,
        refused_before=now - policy.after_refusal,
        consent_required=calling.phone_consent_required(policy.audience, now, rules),
    )


def _pages(
    session: Session, caller: Caller, rules: sql.QueueFilter
) -> Iterator[list[dict[str, Any]]]:
    """The agent's callable candidates a page at a time: due call-backs, then by rank over
    their own prospects and their teams' queues (each owner read along its rank index)."""
    assert caller.user_id is not None  # noqa: S101 — a user's caller has their id
    seen: set[int] = set()
    due = sql.due_callbacks(session, caller.user_id, caller.team_ids, rules, _PAGE)
    seen.update(row["id"] for row in due)
    yield due
    owners = [("user", caller.user_id), *(("team", t) for t in sorted(caller.team_ids))]
    after: tuple[float, int] | None = None
    while True:
        batches = [sql.ranked_page(session, owner, rules, after, _PAGE) for owner in owners]
        found = sorted(
            (row for batch in batches for row in batch),
            key=lambda row: (row["queue_rank"], row["id"]),
            reverse=True,
        )
        page = found[:_PAGE]
        yield [row for row in page if row["id"] not in seen]
        # Done when every owner's range ran out and the page took all that was read.
        if not page or (len(found) <= _PAGE and all(len(b) < _PAGE for b in batches)):
            return
        after = (page[-1]["queue_rank"], page[-1]["id"])


def next_call(session: Session, agent: str, now: datetime) -> NextCall:
    """The agent's next prospect to call now, or nobody and why."""
    caller = access.as_user(session, agent)
    assert caller.user_id is not None  # noqa: S101 — a user's caller has their id
    policy, locale = calling_policy(session)
    rules = rules_of(policy)
    closed = calling.window_exclusion(now, rules)
    if closed is not None:
        waiting = sql.queue_size(session, caller.user_id, caller.team_ids)
        return _nobody(agent, now, _exclusion(closed), waiting=waiting)
    prefilter = queue_filter(policy, rules, now)
    excluded: Counter[str] = Counter()
    for rows in _pages(session, caller, prefilter):
        facts = _Facts(session, rows, now, policy) if rows else None
        for row in rows:
            assert facts is not None  # noqa: S101 — made for a non-empty page
            why = _queue_exclusion(row, now) or _contact_exclusion(facts.of(row), now, rules)
            if why is not None:
                excluded[why.code] += 1
            elif _taken(session, caller, row, now):
                return _details(session, caller, agent, row, now, policy, locale)
    # Nobody: why, from the rules SQL checks over the whole queue and those checked here.
    counts = sql.exclusion_counts(session, caller.user_id, caller.team_ids, prefilter)
    counts.pop("closed", None)
    counts.pop("callable", None)
    excluded.update(counts)
    waiting = sum(excluded.values())
    return _nobody(
        agent, now, _empty_queue(waiting, excluded), excluded=dict(excluded), waiting=waiting
    )


def _contact_exclusion(
    facts: calling.CallFacts, now: datetime, rules: calling.CallingRules
) -> Exclusion | None:
    found = calling.contact_exclusion(facts, now, rules)
    return _exclusion(found) if found is not None else None


def _taken(session: Session, caller: Caller, row: dict[str, Any], now: datetime) -> bool:
    """A prospect from a team's queue becomes the agent's (False when a teammate was faster)."""
    if row["team_id"] is None:
        return True
    assert caller.user_id is not None  # noqa: S101 — a user's caller has their id
    taken = assignment_sql.claim_from_team(session, row["id"], caller.team_ids, caller.user_id, now)
    if taken:
        details = {"user_id": caller.user_id, "from_team_id": row["team_id"]}
        access.audit(session, caller, "claimed", ("contact", row["id"]), details=details, at=now)
    return taken


def check_callable(
    session: Session, caller: Caller, contact_id: int, now: datetime, policy: CallingPolicy
) -> None:
    """Refuse a call the rules forbid for this contact now (a call-back asked for later does
    not forbid it); a prospect from a team's queue becomes the caller's."""
    row = sql.candidate_row(session, contact_id)
    rules = rules_of(policy)
    found = calling.contact_exclusion(_Facts(session, [row], now, policy).of(row), now, rules)
    wrong = _queue_exclusion({**row, "callback_at": None}, now)
    why = wrong or (_exclusion(found) if found is not None else None)
    if why is not None:
        raise InvalidInputError(
            f"contact {contact_id} may not be called now: {why.message.rstrip('.')}; "
            "nothing was recorded"
        )
    _taken(session, caller, row, now)


def _empty_queue(waiting: int, excluded: Counter[str]) -> Exclusion:
    if not waiting:
        return Exclusion(code="queue_empty", message="no qualified prospect is assigned to you")
    reasons = ", ".join(f"{n} {code}" for code, n in excluded.most_common())
    return Exclusion(
        code="all_excluded",
        message=f"all {waiting} prospects in your queue are excluded now: {reasons}",
    )


def _details(  # noqa: PLR0917 — the queue's state, passed on as it is
    session: Session,
    caller: Caller,
    agent: str,
    row: dict[str, Any],
    now: datetime,
    policy: CallingPolicy,
    locale: str,
) -> NextCall:
    contact = session.get(Contact, row["id"])
    assert contact is not None  # noqa: S101 — read in this transaction
    shown = {name: getattr(contact, name) for name in _CONTACT_FIELDS}
    shown["attrs"] = contact.attrs or {}
    history = [
        StageChangeView.model_validate(change).model_dump(mode="json")
        for change in qualification_repository.history(session, contact.id)[-10:]
    ]
    due = row["callback_at"] if row["callback_at"] is not None else None
    rank = row["queue_rank"]
    return NextCall(
        agent=agent,
        at=now,
        contact=shown,
        reason="callback_due" if due is not None else "highest_priority",
        callback_due=due,
        priority=rank - PREDICTED if rank is not None and rank >= PREDICTED / 2 else None,
        history=history,
        calls=sql.touches_of(session, contact.id),
        explanation=_explanation(session, contact.id, now),
        script=_script(policy, locale, shown, agent),
    )


def _explanation(session: Session, contact_id: int, now: datetime) -> dict[str, Any] | None:
    predicted = scoring.explain(session, contact_id, now)
    interest = promotion.explain_interest(session, contact_id)
    if predicted is None and interest is None:
        return None
    return {"prediction": predicted, "interest": interest}


def _script(policy: CallingPolicy, locale: str, contact: dict[str, Any], agent: str) -> str | None:
    language = str(contact["attrs"].get("language") or locale)
    text = policy.script.get(language) or policy.script.get(locale)  # type: ignore[call-overload]
    if text is None:
        return None
    try:
        return _SCRIPTS.from_string(text).render(contact=contact, agent=agent, **contact)
    except TemplateError as error:
        raise InvalidInputError(
            f"the playbook's call script ({language}) cannot be rendered: {error}; fix "
            "`calling.script` in the playbook"
        ) from None


def visible_contact(session: Session, caller: Caller, ref: str, region: str) -> Contact:
    """The contact REF if CALLER may act on it; otherwise the same refusal as a missing one."""
    try:
        found = lookup.find_contact(session, ref, region)
    except NotFoundError:
        found = None
    contact = session.get(Contact, found.id) if found is not None else None
    if contact is None or not access_repository.is_visible(session, caller, contact.id):
        who = caller.actor
        raise NotFoundError(
            f"no contact {ref!r} among the prospects of {who} (assigned to them or to their "
            "teams' queues); nothing was changed"
        )
    return contact
