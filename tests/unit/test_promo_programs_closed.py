"""When a promo program may give no more codes (pure): it ended, or reached its redemptions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leadsift.outreach.promo_codes import closed_reason

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_an_open_program_gives_codes() -> None:
    assert closed_reason("p", None, None, 0, NOW) is None
    assert closed_reason("p", NOW + timedelta(seconds=1), 10, 9, NOW) is None


def test_a_program_that_ended_gives_none() -> None:
    # Ending at this very moment is ended: a code issued now would be dead on arrival.
    assert closed_reason("p", NOW, None, 0, NOW) == (
        f"promo program 'p' ended on {NOW.isoformat()}: create a new program or choose another"
    )
    assert closed_reason("p", NOW - timedelta(days=1), None, 0, NOW) is not None


def test_a_program_that_reached_its_redemptions_gives_none() -> None:
    assert closed_reason("p", None, 10, 10, NOW) == (
        "promo program 'p' has reached its 10 redemptions: create a new program or choose another"
    )
    assert closed_reason("p", None, 1, 5, NOW) is not None
