"""Costs of campaigns: recorded one by one or imported from a CSV file (all or nothing; the same
file imported again adds nothing); services flush, entrypoints commit."""

from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.access.schemas import Caller
from leadsift.access.service import audit
from leadsift.analytics import cost_repository as sql
from leadsift.analytics.models import Cost
from leadsift.errors import InvalidInputError, NotFoundError

COLUMNS: Final = ("date", "campaign", "amount", "channel", "source")
_MAX_SHOWN: Final = 10


@dataclass(frozen=True)
class CostView:
    """A recorded cost."""

    id: int
    campaign: str
    amount: float
    spent_on: date
    channel: str | None
    source: str | None


def _view(row: Cost) -> CostView:
    return CostView(row.id, row.campaign, row.amount, row.spent_on, row.channel, row.source)


def check_amount(amount: float) -> float:
    """A cost: a finite amount of at least one cent (rounded to cents)."""
    if not math.isfinite(amount) or round(amount, 2) <= 0:
        raise InvalidInputError(f"--amount {amount:g}: a cost is an amount of at least 0.01")
    return round(amount, 2)


def check_campaign(session: Session, campaign: str) -> str:
    """A campaign leadsift knows: one of its campaigns, or one named on events (UTM too)."""
    name = campaign.strip()
    if not name:
        raise InvalidInputError("--campaign: give the campaign's name")
    if not sql.campaign_known(session, name):
        close = sql.similar_campaigns(session, name)
        hint = f" — did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise NotFoundError(
            f"no campaign {name!r}{hint}: costs are recorded for leadsift's campaigns "
            "(`leadsift campaign list`) or campaigns named on events (campaign, utm_campaign)"
        )
    return name


def add_cost(
    session: Session,
    campaign: str,
    amount: float,
    *,
    spent_on: date,
    now: datetime,
    channel: str | None = None,
    source: str | None = None,
    caller: Caller | None = None,
) -> CostView:
    """Record a cost of CAMPAIGN (CALLER: who, for the audit log; None: the command line)."""
    amount = check_amount(amount)
    row = Cost(
        campaign=check_campaign(session, campaign),
        amount=amount,
        spent_on=spent_on,
        channel=(channel or "").strip().lower() or None,
        source=(source or "").strip() or None,
        created_at=now,
    )
    sql.add(session, row)
    audit(session, caller, "cost_added", ("cost", row.id), details={"amount": row.amount}, at=now)
    return _view(row)


def _parse_row(session: Session, number: int, row: dict[str, Any]) -> dict[str, Any]:
    """One CSV row as a cost, or an error naming the row and the column."""
    try:
        spent_on = date.fromisoformat((row.get("date") or "").strip())
    except ValueError:
        raise InvalidInputError(
            f"row {number}, column date: {row.get('date')!r} is not a date (YYYY-MM-DD)"
        ) from None
    try:
        amount = check_amount(float((row.get("amount") or "").replace(",", ".")))
    except (ValueError, InvalidInputError):
        raise InvalidInputError(
            f"row {number}, column amount: {row.get('amount')!r} is not an amount above 0"
        ) from None
    try:
        campaign = check_campaign(session, row.get("campaign") or "")
    except (InvalidInputError, NotFoundError) as problem:
        raise InvalidInputError(f"row {number}, column campaign: {problem.message}") from None
    return {
        "campaign": campaign, "amount": amount, "spent_on": spent_on,
        "channel": (row.get("channel") or "").strip().lower() or None,
        "source": (row.get("source") or "").strip() or None,
    }  # fmt: skip


def import_costs(session: Session, path: Path, *, now: datetime) -> dict[str, object]:
    """Record every cost of a CSV file (date, campaign, amount[, channel, source]); a bad row
    refuses the whole file, with each problem's row and column."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidInputError(f"cannot read {path}: {error.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    reader = csv.DictReader(io.StringIO(text))
    headers = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in COLUMNS[:3] if c not in headers]
    if missing:
        raise InvalidInputError(
            f"{path.name}: missing column(s) {', '.join(missing)}; the header must hold "
            f"date,campaign,amount (and optionally channel,source)"
        )
    reader.fieldnames = headers
    digest = hashlib.sha256(data).hexdigest()[:16]
    rows, problems = [], []
    for number, row in enumerate(reader, start=2):
        try:
            rows.append({**_parse_row(session, number, row), "origin": f"{digest}:{number}"})
        except InvalidInputError as problem:
            problems.append(problem.message)
    if problems:
        shown = "; ".join(problems[:_MAX_SHOWN])
        more = f" (and {len(problems) - _MAX_SHOWN} more)" if len(problems) > _MAX_SHOWN else ""
        raise InvalidInputError(f"{path.name}: nothing imported — {shown}{more}")
    if not rows:
        raise InvalidInputError(f"{path.name}: no cost in the file")
    added = sql.add_many(session, [{**r, "created_at": now} for r in rows])
    audit(session, None, "costs_imported", ("costs", None), details={"rows": added}, at=now)
    return {
        "file": str(path),
        "rows": len(rows),
        "added": added,
        "already_imported": len(rows) - added,
    }


def list_costs(session: Session, campaign: str | None = None) -> list[CostView]:
    """Recorded costs, newest first."""
    return [_view(row) for row in sql.costs(session, campaign)]
