"""Tracked links and pixels: campaign URLs registered for click redirects, the URLs that go into
emails, and what a click or an open token leads to. Flushes, never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from leadsift.access.service import workspace_secret
from leadsift.engagement import repository, tokens
from leadsift.engagement.models import TrackedLink


@dataclass(frozen=True)
class LinkView:
    """A registered campaign link."""

    id: int
    campaign: str
    url: str
    created_at: datetime


def tracking_secret(session: Session) -> bytes:
    """The workspace secret that signs open, click and identification tokens."""
    return workspace_secret(session, "tracking")


def _view(link: TrackedLink) -> LinkView:
    return LinkView(link.id, link.campaign, link.url, link.created_at)


def register_link(
    session: Session, campaign: str, url: str, now: datetime
) -> tuple[LinkView, bool]:
    """Register URL for CAMPAIGN (once: registering it again returns the same link); returns
    the link and whether it is new."""
    campaign, url = tokens.check_campaign(campaign), tokens.check_link_url(url)
    found = repository.find_tracked_link(session, campaign, url)
    if found is not None:
        return _view(found), False
    link = TrackedLink(campaign=campaign, url=url, created_at=now)
    return _view(repository.add_tracked_link(session, link)), True


def click_destination(session: Session, claim: tokens.ClickClaim) -> LinkView | None:
    """The registered link a genuine click token designates, if it still says the same
    campaign; else None (and no redirect)."""
    link = repository.tracked_link(session, claim.link_id)
    if link is None or link.campaign != claim.campaign:
        return None
    return _view(link)


def click_url(session: Session, base_url: str, link: LinkView, contact_id: int) -> str:
    """The tracked URL of LINK for one contact."""
    token = tokens.click_token(tracking_secret(session), link.id, contact_id, link.campaign)
    return tokens.click_url(tokens.check_base_url(base_url), token)


def pixel_url(session: Session, base_url: str, campaign: str, contact_id: int) -> str:
    """The open pixel URL of one contact for one campaign."""
    token = tokens.open_token(tracking_secret(session), contact_id, tokens.check_campaign(campaign))
    return tokens.pixel_url(tokens.check_base_url(base_url), token)
