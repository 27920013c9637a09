"""The public website endpoints: the tracking script, page views, the email pixel, click
redirects and forms (filled in by the tracking work)."""

from __future__ import annotations

from fastapi import APIRouter

from leadsift.config import Settings
from leadsift.kit.ratelimit import RateLimiter

router = APIRouter(prefix="/t", tags=["tracking"])


def rate_limiter(settings: Settings) -> RateLimiter:
    """The per-IP limiter of the public endpoints."""
    return RateLimiter(settings.tracking_rate_per_second, settings.tracking_burst)
