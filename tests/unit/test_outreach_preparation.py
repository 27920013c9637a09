"""A campaign's recipients decided in Python: the control group, the pace, the counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leadsift.outreach.preparation import Decided, Pace, Suppressed, decide_all, in_control

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SECRET = b"k" * 32


def test_the_control_group_is_random_yet_the_same_every_time() -> None:
    held = [i for i in range(1, 20_001) if in_control("seed-a", i, 10)]
    assert 1_800 < len(held) < 2_200  # about 10 %
    assert held == [i for i in range(1, 20_001) if in_control("seed-a", i, 10)]
    other = {i for i in range(1, 20_001) if in_control("seed-b", i, 10)}
    assert len(other & set(held)) < 400  # another campaign draws other people
    assert not any(in_control("seed-a", i, 0) for i in range(1, 1_000))


def test_the_pace_spreads_messages_over_the_hour() -> None:
    pace = Pace(NOW, 3_600)
    assert [pace.due(i) for i in range(3)] == [NOW, NOW + timedelta(seconds=1),
                                             NOW + timedelta(seconds=2)]  # fmt: skip
    assert Pace(NOW, None).due(10_000) == NOW


def test_decide_all_counts_skips_control_and_treated() -> None:
    rows = [
        (1, "a@exemple.fr", None, True, None),
        (2, "b@exemple.fr", None, None, None),  # never said yes: B2C email needs opt-in
        (3, "c@exemple.fr", None, False, None),  # said no
        (4, None, "+33612345678", True, None),  # no email
        (5, "e@exemple.fr", None, True, None),
    ]
    from leadsift.outreach.identifiers import identifier_hash

    suppressed = Suppressed({identifier_hash(SECRET, "email", "e@exemple.fr"): "unsubscribed"}, {})
    decided = Decided()
    written = [
        row
        for part in decide_all([rows], campaign_id=7, channel="email", audience="b2c",
                               secret=SECRET, suppressed=suppressed, control=("s", 0.0),
                               pace=Pace(NOW, None), now=NOW, decided=decided, examples=10)
        for row in part
    ]  # fmt: skip
    assert written == [(7, 1, "email", 0, "pending", NOW, 0, NOW)]
    assert decided.treated == 1 and decided.control == 0
    assert dict(decided.skipped) == {
        "no_opt_in": 1, "withdrawn": 1, "no_address": 1, "suppressed": 1
    }  # fmt: skip
    assert (5, "suppressed") in decided.examples
