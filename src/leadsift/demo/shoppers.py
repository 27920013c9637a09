"""The UCI online shoppers sessions as visitor events: a deterministic mapping; pure but the
file reader.

The data (Sakar & Kastro, 2018, CC BY 4.0) holds 12,330 sessions of one web shop over a year,
one per visitor: page counts and seconds by page type, Google Analytics' page value, the month,
the visitor type, and whether the session ended in a purchase. Nothing else is known: no page
order, no page names, no dates within the month, no user ids, no order amounts. The mapping
adds only what it must, the same way every time (no randomness):

- **pages** (Administrative, Informational, ProductRelated counts) → `page_view` events with
  paths `/account/page-K`, `/info/page-K`, `/products/page-K`: the K-th page of that type in the
  session. At most three views of a type are recorded per session — the first, middle and last
  page (all when there are three or fewer) — so 12,330 sessions give 56k events, not 426k, and
  the demo stays quick; the playbook's caps are reached with three views anyway. The order is
  not in the data: account pages first, then information pages, then product pages.
- **PageValues > 0** (the session reached a page that precedes purchases on this site) → its
  last product page is recorded as `/pricing` (every such session has product pages). Revenue
  never makes a page: a buyer whose page value is 0 has no `/pricing` view.
- **Revenue = TRUE** → one `purchase` event at the end of the session, without an amount (the
  data has none; page value is a page metric, not an order total).
- **time on pages** (the three durations, in seconds) → each type's seconds shared evenly by
  its pages: page K of a type starts (K − 1) × seconds / count after the type's first page.
  A session lasts at most ~19.5 hours.
- **Month** → a month-long span (365.25 / 12 days) counted back from the end of the data's
  year (taken as February to December of one year, in calendar order), put one day before
  ANCHOR (when the demo workspace was built): December is the span just before, February the
  eleventh back; January and April have no sessions, as in the data. A month's sessions share
  its span evenly, in file order. Ages (what decay reads) are thus the same whatever the date
  of the run, and a re-run dates every event as before (each is stored once).
- **people**: session I (file order, from 0) belongs to contact number ⌊I · C / 12,330⌋ of the
  C workspace contacts in id order — spread over the whole bank file, which is in date order.
  A `New_Visitor` session stays anonymous (`anonymous_id` `shopper-NNNNN`, the data row) unless
  it bought: a checkout asks who the buyer is, so its purchase names the contact and the
  visitor is identified then (its page views are stitched to the contact).
- Not used: bounce and exit rates, SpecialDay, Weekend, OperatingSystems, Browser, Region,
  TrafficType.
"""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

SHOPPERS_FILE: Final = "online_shoppers_intention.csv.gz"
EVENT_SOURCE: Final = "uci-online-shoppers"
# The data's month names ("June" is spelled out); January and April have no sessions.
MONTHS: Final = {
    **{
        name: number
        for number, name in enumerate(
            ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
            start=1,
        )
    },
    "June": 6,
}
MONTH_SPAN: Final = timedelta(days=365.25 / 12)
# The data's year ends this long before the anchor: a session lasts less than a day, so none
# ends after the anchor.
YEAR_END_BEFORE_ANCHOR: Final = timedelta(days=1)
# Page types in the order a session is laid out: (column prefix, path prefix).
PAGE_TYPES: Final = (
    ("Administrative", "/account"),
    ("Informational", "/info"),
    ("ProductRelated", "/products"),
)
VALUED_PAGE_PATH: Final = "/pricing"
# Page views recorded per page type and session: first, middle and last (see above).
VIEWS_KEPT_PER_TYPE: Final = 3
NEW_VISITOR: Final = "New_Visitor"
_COLUMNS: Final = (
    *(name for prefix, _ in PAGE_TYPES for name in (prefix, f"{prefix}_Duration")),
    "PageValues",
    "Month",
    "VisitorType",
    "Revenue",
    "TrafficType",
)
_BOOLEANS: Final = {"TRUE": True, "FALSE": False}


@dataclass(frozen=True, slots=True)
class ShopperSession:
    """One session of the data set, as far as the mapping uses it."""

    row: int  # data row, from 1 (line 2 of the file)
    pages: tuple[int, int, int]  # administrative, informational, product related
    seconds: tuple[float, float, float]  # time on those page types
    valued_page: bool  # PageValues > 0
    month: int  # 1-12
    new_visitor: bool
    bought: bool  # Revenue
    # TrafficType (1–20, anonymised in the data set): the UTM campaign `traffic-N` here.
    traffic_type: int = 0
    # PageValues: the data set's value of the pages seen before a purchase, the order's amount.
    page_value: float = 0.0


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who a session belongs to: a contact, an anonymous visitor, or a visitor who identifies
    at checkout (both set)."""

    contact_id: int | None
    anonymous_id: str | None


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"a page count cannot be negative, got {number}")
    return number


def _seconds(value: str) -> float:
    number = float(value)
    if not number >= 0:  # also refuses NaN
        raise ValueError(f"a duration cannot be negative, got {value}")
    return number


def _session(row: int, record: dict[str, str]) -> ShopperSession:
    counts = [_count(record[prefix]) for prefix, _ in PAGE_TYPES]
    seconds = [_seconds(record[f"{prefix}_Duration"]) for prefix, _ in PAGE_TYPES]
    month = MONTHS.get(record["Month"])
    if month is None:
        raise ValueError(f"Month {record['Month']!r} is not a month name")
    revenue = _BOOLEANS.get(record["Revenue"])
    if revenue is None:
        raise ValueError(f"Revenue {record['Revenue']!r} is neither TRUE nor FALSE")
    return ShopperSession(
        row=row,
        pages=(counts[0], counts[1], counts[2]),
        seconds=(seconds[0], seconds[1], seconds[2]),
        valued_page=float(record["PageValues"]) > 0,
        month=month,
        new_visitor=record["VisitorType"] == NEW_VISITOR,
        bought=revenue,
        traffic_type=_count(record["TrafficType"]),
        page_value=round(float(record["PageValues"]), 2),
    )


def parse_sessions(lines: Iterable[str]) -> list[ShopperSession]:
    """Sessions from the CSV text (header first); a bad row raises ValueError naming it."""
    reader = csv.DictReader(lines)
    missing = [name for name in _COLUMNS if name not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"online shoppers file: missing columns {', '.join(missing)}")
    sessions = []
    for row, record in enumerate(reader, start=1):
        try:
            sessions.append(_session(row, record))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"online shoppers file, data row {row}: {exc}") from exc
    return sessions


def read_sessions(path: Path) -> list[ShopperSession]:
    """The sessions of the gzip-compressed data file."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as lines:
        return parse_sessions(lines)


def visit_starts(sessions: Sequence[ShopperSession], anchor: datetime) -> list[datetime]:
    """When each session starts: its month's span shared evenly, in file order (see above)."""
    year_end = anchor - YEAR_END_BEFORE_ANCHOR
    per_month = Counter(session.month for session in sessions)
    seen: Counter[int] = Counter()
    starts = []
    for session in sessions:
        span_start = year_end - (13 - session.month) * MONTH_SPAN
        slot = MONTH_SPAN * ((seen[session.month] + 0.5) / per_month[session.month])
        seen[session.month] += 1
        starts.append((span_start + slot).replace(microsecond=0))
    return starts


def visitors(sessions: Sequence[ShopperSession], contact_ids: Sequence[int]) -> list[Visitor]:
    """Who each session belongs to (see above); CONTACT_IDS are the contacts in id order."""
    if not contact_ids:
        raise ValueError("the online shoppers sessions need contacts to belong to")
    found = []
    for index, session in enumerate(sessions):
        contact_id = contact_ids[index * len(contact_ids) // len(sessions)]
        anonymous_id = f"shopper-{session.row:05d}" if session.new_visitor else None
        if anonymous_id is not None and not session.bought:
            found.append(Visitor(None, anonymous_id))
        else:
            found.append(Visitor(contact_id, anonymous_id))
    return found


def kept_pages(count: int) -> list[int]:
    """Which of COUNT pages of a type are recorded (numbered from 1): all when few, else
    VIEWS_KEPT_PER_TYPE spread evenly from the first to the last."""
    if count <= VIEWS_KEPT_PER_TYPE:
        return list(range(1, count + 1))
    steps = VIEWS_KEPT_PER_TYPE - 1
    return [1 + (j * (count - 1) + steps // 2) // steps for j in range(VIEWS_KEPT_PER_TYPE)]


def page_views(session: ShopperSession) -> list[tuple[str, float]]:
    """(path, seconds after the session's start) of each recorded page view, in order."""
    views = []
    type_start = 0.0
    for (_, prefix), count, seconds in zip(PAGE_TYPES, session.pages, session.seconds, strict=True):
        views += [
            (f"{prefix}/page-{k}", type_start + (k - 1) * seconds / count)
            for k in kept_pages(count)
        ]
        type_start += seconds
    if session.valued_page and session.pages[2]:
        views[-1] = (VALUED_PAGE_PATH, views[-1][1])
    return views


def traffic_campaign(traffic_type: int) -> str:
    """The UTM campaign a traffic type stands for in the demo."""
    return f"traffic-{traffic_type}"


def _utm(session: ShopperSession) -> dict[str, str]:
    campaign = traffic_campaign(session.traffic_type)
    return {"utm_source": campaign, "utm_medium": "web", "utm_campaign": campaign}


def session_events(
    session: ShopperSession, start: datetime, visitor: Visitor
) -> list[dict[str, Any]]:
    """The events of one session as `engagement.service.ingest` takes them, oldest first."""
    if visitor.anonymous_id is not None:
        page_owner: dict[str, Any] = {"anonymous_id": visitor.anonymous_id}
    else:
        page_owner = {"contact_id": visitor.contact_id}
    events = [
        {
            "type": "page_view",
            **page_owner,
            "occurred_at": start + timedelta(seconds=int(offset)),
            "properties": {"path": path},
            "source": EVENT_SOURCE,
            **_utm(session),
            # The page, not its rank among the recorded ones, so the key never changes meaning.
            "idempotency_key": f"{EVENT_SOURCE}:{session.row}:{path}",
        }
        for path, offset in page_views(session)
    ]
    if session.bought:
        # A checkout knows the buyer: the purchase names the contact (and the visitor, if any).
        buyer = {"contact_id": visitor.contact_id, "anonymous_id": visitor.anonymous_id}
        events.append(
            {
                "type": "purchase",
                **{key: value for key, value in buyer.items() if value is not None},
                "occurred_at": start + timedelta(seconds=int(sum(session.seconds))),
                "properties": {"amount": session.page_value},
                "source": EVENT_SOURCE,
                **_utm(session),
                "idempotency_key": f"{EVENT_SOURCE}:{session.row}:purchase",
            }
        )
    return events
