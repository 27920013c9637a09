"""The online shoppers sessions → visitor events: pages, times, people, purchases; no leaks."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter

from leadsift.demo import shoppers
from leadsift.demo.shoppers import ShopperSession, Visitor
from leadsift.demo.web import bundled_sessions
from leadsift.engagement.schemas import EventIn

HEADER = (
    "Administrative,Administrative_Duration,Informational,Informational_Duration,"
    "ProductRelated,ProductRelated_Duration,BounceRates,ExitRates,PageValues,SpecialDay,Month,"
    "OperatingSystems,Browser,Region,TrafficType,VisitorType,Weekend,Revenue"
)
ANCHOR = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
A_SESSION = ShopperSession(
    row=7,
    pages=(2, 1, 5),
    seconds=(20.0, 30.0, 100.0),
    valued_page=False,
    month=12,
    new_visitor=False,
    bought=False,
)


def _csv(*rows: str) -> list[str]:
    return [HEADER + "\n", *(row + "\n" for row in rows)]


def test_parse_reads_the_columns_the_mapping_uses() -> None:
    sessions = shoppers.parse_sessions(
        _csv(
            "0,0,0,0,1,0,0.2,0.2,0,0,Feb,1,1,1,1,Returning_Visitor,FALSE,FALSE",
            "3,64.5,1,10,12,300.25,0,0.01,17.3,0,June,2,2,1,2,New_Visitor,TRUE,TRUE",
        )
    )
    assert sessions[0] == ShopperSession(
        1, (0, 0, 1), (0.0, 0.0, 0.0), False, 2, False, False, traffic_type=1, page_value=0.0
    )
    assert sessions[1] == ShopperSession(
        2, (3, 1, 12), (64.5, 10.0, 300.25), True, 6, True, True, traffic_type=2, page_value=17.3
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("-1,0,0,0,1,0,0,0,0,0,Feb,1,1,1,1,Other,FALSE,FALSE", "data row 1: a page count"),
        ("0,-2,0,0,1,0,0,0,0,0,Feb,1,1,1,1,Other,FALSE,FALSE", "data row 1: a duration"),
        ("0,nan,0,0,1,0,0,0,0,0,Feb,1,1,1,1,Other,FALSE,FALSE", "data row 1: a duration"),
        ("0,0,0,0,1,0,0,0,0,0,Sept,1,1,1,1,Other,FALSE,FALSE", "Month 'Sept'"),
        ("0,0,0,0,1,0,0,0,0,0,Feb,1,1,1,1,Other,FALSE,yes", "Revenue 'yes'"),
        ("0,0,0,0,x,0,0,0,0,0,Feb,1,1,1,1,Other,FALSE,FALSE", "data row 1: invalid literal"),
    ],
)
def test_parse_names_the_bad_row(row: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shoppers.parse_sessions(_csv(row))


def test_parse_names_missing_columns() -> None:
    with pytest.raises(ValueError, match="missing columns PageValues, Revenue"):
        shoppers.parse_sessions(
            [
                "Administrative,Administrative_Duration,Informational,"
                "Informational_Duration,ProductRelated,"
                "ProductRelated_Duration,Month,VisitorType\n"
            ]
        )


@pytest.mark.parametrize(
    ("count", "kept"),
    [(0, []), (1, [1]), (3, [1, 2, 3]), (4, [1, 3, 4]), (5, [1, 3, 5]), (40, [1, 21, 40])],
)
def test_kept_pages_are_first_middle_and_last(count: int, kept: list[int]) -> None:
    assert shoppers.kept_pages(count) == kept


def test_page_views_in_order_spaced_by_the_durations() -> None:
    assert shoppers.page_views(A_SESSION) == [
        ("/account/page-1", 0.0),
        ("/account/page-2", 10.0),
        ("/info/page-1", 20.0),
        ("/products/page-1", 50.0),
        ("/products/page-3", 90.0),
        ("/products/page-5", 130.0),
    ]


def test_a_page_value_makes_the_last_product_page_pricing() -> None:
    valued = dataclasses.replace(A_SESSION, valued_page=True)
    assert shoppers.page_views(valued)[-1] == ("/pricing", 130.0)
    assert len(shoppers.page_views(valued)) == len(shoppers.page_views(A_SESSION))
    no_products = dataclasses.replace(valued, pages=(1, 0, 0))
    assert [path for path, _ in shoppers.page_views(no_products)] == ["/account/page-1"]


def test_the_outcome_adds_a_purchase_and_changes_nothing_else() -> None:
    start = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    visitor = Visitor(contact_id=42, anonymous_id=None)
    browsed = shoppers.session_events(A_SESSION, start, visitor)
    bought = shoppers.session_events(dataclasses.replace(A_SESSION, bought=True), start, visitor)
    assert bought[:-1] == browsed  # page views owe nothing to Revenue
    purchase = bought[-1]
    assert purchase["type"] == "purchase" and purchase["contact_id"] == 42
    # The data set has no order amounts: the value of the pages seen before buying stands in.
    assert purchase["properties"] == {"amount": A_SESSION.page_value}
    assert purchase["utm_campaign"] == shoppers.traffic_campaign(A_SESSION.traffic_type)
    assert purchase["occurred_at"] == start + timedelta(seconds=150)
    assert [e["occurred_at"] for e in bought] == sorted(e["occurred_at"] for e in bought)
    assert {e["source"] for e in bought} == {shoppers.EVENT_SOURCE}
    assert [e["idempotency_key"] for e in bought] == [
        "uci-online-shoppers:7:/account/page-1",
        "uci-online-shoppers:7:/account/page-2",
        "uci-online-shoppers:7:/info/page-1",
        "uci-online-shoppers:7:/products/page-1",
        "uci-online-shoppers:7:/products/page-3",
        "uci-online-shoppers:7:/products/page-5",
        "uci-online-shoppers:7:purchase",
    ]


def test_anonymous_and_checkout_visitors() -> None:
    start = datetime(2026, 5, 1, tzinfo=UTC)
    anonymous = shoppers.session_events(A_SESSION, start, Visitor(None, "shopper-00007"))
    assert all(e["anonymous_id"] == "shopper-00007" and "contact_id" not in e for e in anonymous)
    checkout = shoppers.session_events(
        dataclasses.replace(A_SESSION, bought=True), start, Visitor(5, "shopper-00007")
    )
    assert all("contact_id" not in e for e in checkout[:-1])  # stitched when identified
    assert checkout[-1]["contact_id"] == 5 and checkout[-1]["anonymous_id"] == "shopper-00007"


def test_visitors_spread_over_the_contacts_new_visitors_anonymous_unless_they_bought() -> None:
    sessions = [
        dataclasses.replace(A_SESSION, row=row, new_visitor=row in (2, 3), bought=row == 3)
        for row in (1, 2, 3, 4)
    ]
    assert shoppers.visitors(sessions, [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]) == [
        Visitor(10, None),
        Visitor(None, "shopper-00002"),
        Visitor(15, "shopper-00003"),
        Visitor(17, None),
    ]
    assert shoppers.visitors(sessions, [8]) == [
        Visitor(8, None),
        Visitor(None, "shopper-00002"),
        Visitor(8, "shopper-00003"),
        Visitor(8, None),
    ]
    with pytest.raises(ValueError, match="need contacts"):
        shoppers.visitors(sessions, [])


def test_months_become_spans_before_the_anchor_shared_evenly() -> None:
    sessions = [dataclasses.replace(A_SESSION, month=m) for m in (12, 2, 12, 11, 12)]
    starts = shoppers.visit_starts(sessions, ANCHOR)
    year_end = ANCHOR - timedelta(days=1)
    span = timedelta(days=365.25 / 12)
    december = [starts[0], starts[2], starts[4]]
    assert all(year_end - span <= start < year_end for start in december)
    assert december == sorted(december)
    assert december[1] - december[0] == pytest.approx(span / 3, abs=timedelta(seconds=1))
    assert year_end - 11 * span <= starts[1] < year_end - 10 * span  # February
    assert year_end - 2 * span <= starts[3] < year_end - span  # November
    assert all(start.microsecond == 0 for start in starts)
    # The ages are the same whatever the day of the run: the dates move with the anchor.
    later = shoppers.visit_starts(sessions, ANCHOR + timedelta(days=100))
    assert [b - a for a, b in zip(starts, later, strict=True)] == [timedelta(days=100)] * 5


def test_the_bundled_file_gives_the_same_valid_events_every_time() -> None:
    sessions = bundled_sessions()
    assert len(sessions) == 12_330
    assert sum(s.bought for s in sessions) == 1_908
    assert sum(s.new_visitor for s in sessions) == 1_694
    assert Counter(s.month for s in sessions)[5] == 3_364  # May
    assert not {1, 4} & {s.month for s in sessions}

    def events() -> list[dict[str, Any]]:
        starts = shoppers.visit_starts(sessions, ANCHOR)
        people = shoppers.visitors(sessions, list(range(1, 41_189)))
        return [
            event
            for session, start, person in zip(sessions, starts, people, strict=True)
            for event in shoppers.session_events(session, start, person)
        ]

    first = events()
    assert first == events()  # deterministic
    types = Counter(event["type"] for event in first)
    assert types == {"page_view": 56_114, "purchase": 1_908}
    paths = Counter(event["properties"]["path"] for event in first if event["type"] == "page_view")
    assert paths["/pricing"] == sum(s.valued_page for s in sessions) == 2_730
    assert len({event["idempotency_key"] for event in first}) == len(first)
    latest = max(event["occurred_at"] for event in first)
    assert latest < ANCHOR
    valid = TypeAdapter(list[EventIn])
    assert len(valid.validate_python(first[:2_000] + first[-2_000:])) == 4_000
