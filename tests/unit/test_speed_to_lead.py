"""Speed to lead: medians and percentiles over touched prospects, the waiting counted apart."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from leadsift.agents.speed import Qualified, by_group, slowest_first, speed_from, speed_of
from leadsift.kit.stats import median, percentile

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _q(group: str, minutes: float | None, *, start: datetime = T0) -> Qualified:
    touch = None if minutes is None else start + timedelta(minutes=minutes)
    return Qualified(group, start, touch)


def test_median_and_nearest_rank_percentile() -> None:
    assert median([]) is None and percentile([], 0.9) is None
    assert median([1.0, 3.0, 10.0]) == 3.0
    assert median([1.0, 3.0, 5.0, 10.0]) == 4.0
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 0.9) == 9.0 and percentile(values, 1.0) == 10.0
    assert percentile([7.0], 0.9) == 7.0


def test_untouched_prospects_are_never_a_zero_nor_an_infinite_time() -> None:
    now = T0 + 3 * HOUR
    items = [_q("a", 10), _q("a", 50), _q("a", 90), _q("a", None)]
    items.append(_q("a", None, start=now - timedelta(minutes=30)))  # waiting, within the SLA
    speed = speed_of("a", items, HOUR, now)
    assert (speed.qualified, speed.touched, speed.within_sla) == (5, 3, 2)
    assert speed.median_minutes == 50.0 and speed.p90_minutes == 90.0
    assert speed.waiting_beyond_sla == 1


def test_groups_slowest_first_and_never_touched_first_of_all() -> None:
    now = T0 + 2 * HOUR
    items = [_q("fast", 5), _q("slow", 80), _q("slow", 100), _q("idle", None)]
    order = [s.group for s in by_group(items, HOUR, now)]
    assert order == ["idle", "slow", "fast"]
    idle = by_group(items, HOUR, now)[0]
    assert idle.median_minutes is None and idle.waiting_beyond_sla == 1


def test_counted_apart_is_the_same_speed_as_item_by_item() -> None:
    rng = random.Random(7)
    for sla in (HOUR, timedelta(minutes=1), timedelta(0)):
        now = T0 + 3 * sla + HOUR
        items = [
            _q("a", rng.choice([None, 0, 0.5, rng.uniform(0, 600)]),
               start=T0 + timedelta(seconds=rng.randrange(4 * 3600)))
            for _ in range(rng.randrange(0, 40))
        ]  # fmt: skip
        items += [_q("a", sla.total_seconds() / 60), _q("a", None, start=now - sla)]  # limits
        touched = [(i.qualified_at, i.first_touch_at) for i in items if i.first_touch_at]
        waiting = [i for i in items if i.first_touch_at is None]
        beyond = sum(1 for i in waiting if i.qualified_at < now - sla)
        assert speed_from("a", touched, len(waiting), beyond, sla) == speed_of("a", items, sla, now)


def test_slowest_first_is_by_groups_order() -> None:
    now = T0 + 2 * HOUR
    items = [_q("b", 5), _q("a", 5), _q("slow", 80), _q("idle", None), _q("dull", None)]
    speeds = [
        speed_of(g, [i for i in items if i.group == g], HOUR, now)
        for g in ["b", "a", "slow", "idle", "dull"]
    ]
    assert slowest_first(speeds) == by_group(items, HOUR, now)
    assert [s.group for s in slowest_first(speeds)] == ["dull", "idle", "slow", "a", "b"]
