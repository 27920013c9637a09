"""SQL of the breakdowns: events per campaign (figures per agent: agent_day_repository; interest
without purchase: activity_repository)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from leadsift.analytics.cost_repository import event_sums


def campaign_events(session: Session) -> list[tuple[str, str, float, float]]:
    """(campaign, event type, events, amount) of leadsift's campaigns (no UTM campaigns)."""
    sums = event_sums(session, utm=False)
    return [(name, kind, float(n), amount) for (name, kind), (n, amount) in sums.items()]
