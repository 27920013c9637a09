"""The day rollups' arithmetic: what facts add and take away, and values at ranks read bucket by
bucket — the same as the median and percentile of the sorted values."""

from __future__ import annotations

import random
from datetime import date

import pytest

from leadsift.analytics.day_tally import (
    Fact,
    median_ranks,
    merge,
    nearest_rank,
    tally,
    values_at,
)
from leadsift.kit.stats import median, percentile

DAY = date(2026, 10, 5)


def _fact(stage: str, **spans: int | None) -> Fact:
    reached = {"contact": 0, "unqualified": 0, "lead": 1, "qualified": 2, "lost": 2, "customer": 3}
    level = reached[stage]
    return Fact(
        DAY, stage, level >= 1, level >= 2, level >= 3,
        {"source": "web", "campaign": None, "utm_campaign": "ads", "touch": "ads",
         "lost_reason": "no_budget" if stage == "lost" else None},
        spans,
    )  # fmt: skip


def test_a_fact_counts_in_each_group_and_taking_it_away_leaves_nothing() -> None:
    customer = _fact("customer", convert=4, lead=0, qualify=1, win=2)
    lost = _fact("lost", lead=3)
    found = tally([customer, lost])
    # contacts, leads, qualified, customers, unqualified, lost, in progress
    assert found.days[("all", "", DAY)] == [2, 2, 2, 1, 0, 1, 0]
    assert found.days[("source", "web", DAY)] == [2, 2, 2, 1, 0, 1, 0]
    assert found.days[("campaign", "", DAY)] == [2, 2, 2, 1, 0, 1, 0]  # no campaign: ""
    assert found.days[("touch", "ads", DAY)][0] == 2
    assert found.days[("lost_reason", "no_budget", DAY)][0] == 1
    assert ("unqualified_reason", "", DAY) not in found.days  # reasons only when given
    assert found.spans[("convert", "all", "", DAY, 4)] == 1
    assert found.spans[("convert", "source", "web", DAY, 4)] == 1
    assert found.spans[("lead", "all", "", DAY, 3)] == 1
    assert ("lead", "source", "web", DAY, 3) not in found.spans  # steps: everyone only
    gone = merge(found, tally([customer, lost], -1))
    assert not any(any(counts) for counts in gone.days.values())
    assert not any(gone.spans.values())


@pytest.mark.parametrize("total", [1, 2, 3, 10, 11, 57])
def test_ranks_read_bucket_by_bucket_are_the_median_and_p90(total: int) -> None:
    rng = random.Random(total)
    values = sorted(rng.uniform(0, 40) for _ in range(total))
    buckets: dict[int, list[float]] = {}
    for value in values:
        buckets.setdefault(int(value // 7), []).append(value)
    histogram = {bucket: len(found) for bucket, found in buckets.items()}
    read: list[int] = []

    def reader(bucket: int, offset: int) -> float | None:
        read.append(bucket)
        return buckets[bucket][offset] if offset < len(buckets[bucket]) else None

    middle, p90 = median_ranks(total), nearest_rank(total, 0.9)
    found = values_at(histogram, (*middle, p90), reader)
    assert found is not None
    ranked = [found[rank] for rank in middle]
    assert (sum(ranked) / 2 if len(ranked) == 2 else ranked[0]) == median(values)
    assert found[p90] == percentile(values, 0.9)
    assert len(read) == len(set(middle) | {p90})  # one read a rank, in its bucket only


def test_a_bucket_that_does_not_hold_what_the_rollup_counts_is_noticed() -> None:
    assert values_at({0: 2, 1: 1}, (1,), lambda _bucket, _offset: None) is None
    assert median_ranks(0) == () and nearest_rank(0, 0.9) == -1
    assert values_at({}, (), lambda _bucket, _offset: None) == {}
