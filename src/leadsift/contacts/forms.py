"""Web forms, the contact side: who submitted (found by email or phone, or created), fields
filled only where empty, consent recorded with the exact wording shown.

A public form is unauthenticated: anyone can type anyone's email. So a form never overwrites
stored data (it fills empty fields only) and never merges two people: when the email belongs
to one contact and the phone to another, the form goes to the email's owner and the phone is
left to its owner. Consent given for an address that is not the chosen contact's (that phone)
is not recorded. Consent is "as declared": confirming it (double opt-in) is outreach's work.

`read_submission`, `plan_identity`, `fill_empty` and `consent_to_record` are pure; the module
flushes and never commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.contacts import forms_repository as sql
from leadsift.contacts.fields import CONSENT_FIELDS, TEXT_FIELD_LENGTHS
from leadsift.contacts.models import ConsentRecord, Contact
from leadsift.contacts.validators import normalise_email, normalise_phone
from leadsift.contacts.values import FALSE_WORDS, TRUE_WORDS
from leadsift.errors import InvalidInputError

SOURCE: Final = "web_form"
# Fields a public form may fill (when empty); identifiers are handled apart, and nothing else
# a site's form carries (messages, buttons, its own tokens) is stored.
FORM_TEXT_FIELDS: Final = (
    "first_name",
    "last_name",
    "company",
    "job_title",
    "postal_code",
    "city",
    "region",
    "country",
)
MAX_EMAIL_LENGTH: Final = 320
MAX_WORDING_LENGTH: Final = 10_000
MAX_IP_LENGTH: Final = 45
MAX_USER_AGENT_LENGTH: Final = 500
# An unticked checkbox is not sent; a ticked one sends its value, "on" when it has none.
_YES: Final = TRUE_WORDS | {"on"}
_NO: Final = FALSE_WORDS | {"off"}
_PHONE_CHANNELS: Final = frozenset({"sms", "phone"})


@dataclass(frozen=True)
class FormSubmission:
    """A form's contact data, checked and normalised; where it came from (ip, user agent)."""

    email: str | None = None
    phone: str | None = None
    phone_raw: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    consent: dict[str, bool] = field(default_factory=dict)  # channel -> granted
    wording: str | None = None
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Owner:
    """A stored contact as identity resolution sees it."""

    id: int
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class IdentityPlan:
    """Which contact a form goes to (None: a new one), the identifiers it takes, and those left
    out because they are someone else's or contradict stored ones."""

    contact_id: int | None
    email: str | None
    phone: str | None
    ignored: tuple[str, ...] = ()


@dataclass
class FormOutcome:
    """What a submission did to the contacts and the consent ledger."""

    contact_id: int
    created: bool
    filled: list[str] = field(default_factory=list)
    consent_recorded: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def _text(values: Mapping[str, str], name: str) -> str | None:
    value = values.get(name)
    value = value.strip() if value is not None else ""
    return value or None


def _consent(values: Mapping[str, str]) -> dict[str, bool]:
    consent = {}
    for name, channel in CONSENT_FIELDS.items():
        if name not in values:
            continue
        word = values[name].strip().lower()
        if word not in _YES | _NO:
            raise InvalidInputError(
                f"{name}: {values[name]!r} is not a yes/no value (a ticked checkbox, yes/no, 1/0)",
                code="invalid_consent",
            )
        consent[channel] = word in _YES
    return consent


def _identifiers(values: Mapping[str, str], region: str) -> tuple[str | None, str | None]:
    email_text, phone_text = _text(values, "email"), _text(values, "phone")
    email = phone = None
    if email_text is not None:
        email = normalise_email(email_text) if len(email_text) <= MAX_EMAIL_LENGTH else None
        if email is None:
            raise InvalidInputError(
                f"email {email_text[:80]!r} is not a valid email address", code="invalid_email"
            )
    if phone_text is not None:
        phone = normalise_phone(phone_text, region) if len(phone_text) <= 64 else None
        if phone is None:
            raise InvalidInputError(
                f"phone {phone_text[:80]!r} is not a valid phone number (default region "
                f"{region}; write +33… for another country)",
                code="invalid_phone",
            )
    if email is None and phone is None:
        raise InvalidInputError("give an email address or a phone number", code="no_identifier")
    return email, phone


def read_submission(
    values: Mapping[str, str], *, region: str, ip: str | None, user_agent: str | None
) -> FormSubmission:
    """A form's fields checked and normalised; an error says which field to fix."""
    for name, sent in values.items():
        if "\x00" in sent:  # no database stores it (PostgreSQL refuses it outright)
            raise InvalidInputError(f"{name}: contains a NUL character", code="invalid_field")
    email, phone = _identifiers(values, region)
    fields = {}
    for name in FORM_TEXT_FIELDS:
        value = _text(values, name)
        if value is None:
            continue
        if len(value) > TEXT_FIELD_LENGTHS[name]:
            raise InvalidInputError(
                f"{name}: longer than {TEXT_FIELD_LENGTHS[name]} characters", code="invalid_field"
            )
        fields[name] = value.upper() if name == "postal_code" else value
    consent = _consent(values)
    wording = _text(values, "consent_text")
    if consent and wording is None:
        raise InvalidInputError(
            "consent_text: give the exact consent wording the form shows (a hidden field, or "
            "an element marked data-leadsift-consent-text); consent without it is not recorded",
            code="consent_wording_missing",
        )
    if wording is not None and len(wording) > MAX_WORDING_LENGTH:
        raise InvalidInputError(
            f"consent_text: longer than {MAX_WORDING_LENGTH} characters", code="invalid_field"
        )
    return FormSubmission(
        email=email,
        phone=phone,
        phone_raw=_text(values, "phone") if phone is not None else None,
        fields=fields,
        consent=consent,
        wording=wording if consent else None,
        ip=ip[:MAX_IP_LENGTH] if ip else None,
        user_agent=user_agent[:MAX_USER_AGENT_LENGTH] if user_agent else None,
    )


def plan_identity(
    email: str | None, phone: str | None, email_owner: Owner | None, phone_owner: Owner | None
) -> IdentityPlan:
    """Whose form it is. The email decides first; a phone owned by someone else, or differing
    from the chosen contact's stored phone, is left out — two people are never merged."""
    if email_owner is not None:
        keeps_phone = (
            phone is not None
            and email_owner.phone in (None, phone)
            and (phone_owner is None or phone_owner.id == email_owner.id)
        )
        ignored = ("phone",) if phone is not None and not keeps_phone else ()
        return IdentityPlan(email_owner.id, email, phone if keeps_phone else None, ignored)
    if phone_owner is not None:
        if email is None or phone_owner.email is None:
            return IdentityPlan(phone_owner.id, email, phone)
        # A new email with a phone someone else holds under another email: a new person.
        return IdentityPlan(None, email, None, ("phone",))
    return IdentityPlan(None, email, phone)


def fill_empty(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The values of WANTED for fields that are empty in CURRENT (stored data is never
    overwritten by a form)."""
    return {
        name: value
        for name, value in wanted.items()
        if value is not None and current.get(name) in (None, "")
    }


def consent_to_record(
    asked: Mapping[str, bool],
    latest: Mapping[str, tuple[bool, str | None]],
    wording_hash: str | None,
    skipped: set[str],
) -> dict[str, bool]:
    """The channels to append to the ledger: those asked, not skipped, whose state or wording
    differs from the latest row (a form sent twice records its consent once)."""
    return {
        channel: granted
        for channel, granted in asked.items()
        if channel not in skipped and latest.get(channel) != (granted, wording_hash)
    }


def wording_hash(text: str) -> str:
    """The SHA-256 (hex) a consent wording is stored under."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _owner(contact: Contact | None) -> Owner | None:
    return None if contact is None else Owner(contact.id, contact.email, contact.phone)


def _apply(session: Session, submission: FormSubmission, now: datetime) -> FormOutcome:
    by_email = sql.contact_by(session, email=submission.email)
    by_phone = sql.contact_by(session, phone=submission.phone)
    plan = plan_identity(submission.email, submission.phone, _owner(by_email), _owner(by_phone))
    wanted: dict[str, Any] = {"email": plan.email, **submission.fields}
    if plan.phone is not None:
        wanted |= {"phone": plan.phone, "phone_raw": submission.phone_raw}
    if plan.contact_id is None:
        values = {name: value for name, value in wanted.items() if value is not None}
        created = sql.add_contact(session, {**values, "source": SOURCE}, now)
        return FormOutcome(created.id, True, sorted(values), ignored=list(plan.ignored))
    contact = by_email if by_email is not None and by_email.id == plan.contact_id else by_phone
    assert contact is not None  # noqa: S101 — the plan chose one of the two found
    current = {name: getattr(contact, name) for name in wanted}
    changes = fill_empty(current, wanted)
    if "phone" not in changes:
        changes.pop("phone_raw", None)  # the raw text goes with the phone it spells
    for name, value in changes.items():
        setattr(contact, name, value)
    if changes:
        contact.updated_at = now
        session.flush()
    return FormOutcome(contact.id, False, sorted(changes), ignored=list(plan.ignored))


def _skipped_channels(submission: FormSubmission, contact: Contact) -> set[str]:
    """Channels whose address the person typed is not the contact's: consent is not theirs."""
    skipped = set()
    if submission.email is not None and contact.email != submission.email:
        skipped.add("email")
    if submission.phone is not None and contact.phone != submission.phone:
        skipped |= _PHONE_CHANNELS
    return skipped & set(submission.consent)


def record_submission(session: Session, submission: FormSubmission, now: datetime) -> FormOutcome:
    """Create or complete the submitter's contact and append their consent; flushes."""
    outcome = _apply(session, submission, now)
    if not submission.consent or submission.wording is None:
        return outcome
    contact = session.get(Contact, outcome.contact_id)
    assert contact is not None  # noqa: S101 — just found or created
    digest = wording_hash(submission.wording)
    sql.save_wording(session, digest, submission.wording, now)
    skipped = _skipped_channels(submission, contact)
    latest = sql.latest_consent(session, contact.id, sorted(submission.consent))
    to_record = consent_to_record(submission.consent, latest, digest, skipped)
    sql.add_consent_records(
        session,
        [
            ConsentRecord(
                contact_id=contact.id,
                channel=channel,
                purpose="marketing",
                granted=granted,
                source=SOURCE,
                wording_hash=digest,
                ip=submission.ip,
                user_agent=submission.user_agent,
                recorded_at=now,
            )
            for channel, granted in sorted(to_record.items())
        ],
    )
    outcome.consent_recorded = sorted(to_record)
    outcome.ignored += [f"consent_{channel}" for channel in sorted(skipped)]
    return outcome
