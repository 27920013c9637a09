"""The demo's last act: illustrative costs of the web traffic campaigns, then the funnel (with
its chart written to a PNG file) and the ROI per campaign, from the product's own reports."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.analytics import costs, funnel, rendering, roi
from leadsift.demo import repository, shoppers, web

# The data set has no costs: each traffic type is given an illustrative cost per session.
COST_PER_SESSION: Final = 0.25
COSTS_FILE: Final = "costs.csv"
CHART_FILE: Final = "funnel.png"
_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)


def write_costs(session: Session, directory: Path) -> Path:
    """A costs CSV: each traffic campaign's sessions × COST_PER_SESSION, dated when the
    workspace was made (so a re-run writes the same file and imports nothing new)."""
    sessions = Counter(s.traffic_type for s in web.bundled_sessions())
    first = repository.first_contact(session)
    spent = (first[1] if first is not None else datetime.now(UTC)).date().isoformat()
    lines = ["date,campaign,amount,channel,source"]
    lines += [
        f"{spent},{shoppers.traffic_campaign(t)},{n * COST_PER_SESSION:.2f},web,"
        f"{shoppers.traffic_campaign(t)}"
        for t, n in sorted(sessions.items())
    ]
    path = directory / COSTS_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def reports(session: Session, directory: Path, now: datetime) -> dict[str, Any]:
    """Record the costs, then the funnel (and its chart file) and the ROI per campaign."""
    imported = costs.import_costs(session, write_costs(session, directory), now=now)
    whole = funnel.funnel(session, since=_EPOCH, until=now + timedelta(days=1), now=now)
    from leadsift.analytics import charts  # noqa: PLC0415 — matplotlib loads when charting

    chart = directory / CHART_FILE
    chart.write_bytes(charts.chart_png(whole))
    returns = roi.roi(session, now=now)
    return {
        "costs": imported,
        "cost_per_session": COST_PER_SESSION,
        "funnel_report": _plain(whole),
        "funnel_chart": str(chart),
        "roi": _plain(returns),
    }


def _plain(report: rendering.Report) -> Any:
    """The report's own JSON form, as plain values."""
    return json.loads(rendering.render_json(report))
