"""One contact's message of a campaign: the template's context (fields, offer, tracked link,
personal code, unsubscribe URL) and the email or SMS handed to a channel; pure."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leadsift.engagement import tokens
from leadsift.outreach import unsubscribe
from leadsift.outreach.channels.base import OutgoingEmail, OutgoingSms
from leadsift.outreach.templates import MessageTemplate, RenderedMessage, render, sms_text

# Contact columns a template may read (custom attributes are added by key).
CONTACT_FIELDS = (
    "id", "email", "phone", "first_name", "last_name", "company", "job_title", "city", "region",
    "postal_code", "country", "source", "stage", "age",
)  # fmt: skip


@dataclass(frozen=True)
class Composer:
    """Everything a campaign's messages share; `render`, `email` and `sms` add the contact."""

    campaign_key: str
    campaign_name: str
    channel: str
    templates: Sequence[MessageTemplate]
    base_url: str
    tracking_secret: bytes
    link_id: int | None
    sender: str
    offer: Mapping[str, Any]
    message_domain: str
    message_tag: str

    def context(self, contact: Mapping[str, Any], promo_code: str | None) -> dict[str, Any]:
        """The names a template reads, for one contact."""
        fields = {name: contact.get(name) for name in CONTACT_FIELDS}
        fields.update(contact.get("attrs") or {})
        contact_id = int(contact["id"])
        link = None
        if self.link_id is not None:
            click = tokens.click_token(
                self.tracking_secret, self.link_id, contact_id, self.campaign_key
            )
            link = tokens.click_url(self.base_url, click)
        leave = unsubscribe.token(self.tracking_secret, contact_id, self.channel, self.campaign_key)
        return {
            "contact": fields,
            "offer": dict(self.offer),
            "campaign": {"key": self.campaign_key, "name": self.campaign_name},
            "link": link,
            "promo_code": promo_code,
            "unsubscribe_url": unsubscribe.url(self.base_url, leave),
            "sender": self.sender,
        }

    def render(
        self, contact: Mapping[str, Any], step: int, promo_code: str | None
    ) -> tuple[RenderedMessage, dict[str, Any]]:
        """STEP's message for CONTACT, in the contact's language when the template has it."""
        context = self.context(contact, promo_code)
        language = (contact.get("attrs") or {}).get("language")
        wanted = language if isinstance(language, str) else None
        return render(self.templates[step], wanted, context), context

    def message_id(self, outbox_id: int) -> str:
        """The Message-ID of an outbox row: the same on every attempt, unique per workspace."""
        return f"<ls.{outbox_id}.{self.message_tag}@{self.message_domain}>"

    def email(
        self, outbox_id: int, contact: Mapping[str, Any], step: int, promo_code: str | None
    ) -> OutgoingEmail:
        """The email of one outbox row."""
        rendered, context = self.render(contact, step, promo_code)
        return OutgoingEmail(
            to=str(contact["email"]),
            subject=rendered.subject or "",
            text=rendered.text,
            html=rendered.html,
            message_id=self.message_id(outbox_id),
            unsubscribe_url=context["unsubscribe_url"],
            headers={"X-Leadsift-Campaign": self.campaign_key},
        )

    def sms(
        self, outbox_id: int, contact: Mapping[str, Any], step: int, promo_code: str | None
    ) -> OutgoingSms:
        """The SMS of one outbox row: sender first, a STOP instruction last."""
        rendered, _ = self.render(contact, step, promo_code)
        text = sms_text(rendered.text, sender=self.sender, language=rendered.language)
        return OutgoingSms(to=str(contact["phone"]), text=text, sender=self.sender)


def message_tag(secret: bytes) -> str:
    """A short tag of this workspace for Message-IDs (two workspaces never collide)."""
    return hashlib.sha256(secret).hexdigest()[:12]
