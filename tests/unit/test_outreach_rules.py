"""The pure outreach rules: consent state, suppression keys, promo codes, STOP replies, retries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from leadsift.errors import InvalidInputError
from leadsift.outreach.consent_state import (
    ConsentState,
    LedgerEntry,
    consent_for,
    current_states,
)
from leadsift.outreach.identifiers import (
    contact_keys,
    identifier_hash,
    normalise_email,
    normalise_phone,
)
from leadsift.outreach.inbound import is_stop
from leadsift.outreach.promo_codes import (
    ALPHABET,
    CodeFacts,
    ProgramTerms,
    display_code,
    new_code,
    normalise_code,
    refusal,
)
from leadsift.outreach.retries import SOFT_FAILURE_LIMIT, backoff, smtp_failure_kind

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SECRET = b"workspace suppression secret"

# --- consent state -------------------------------------------------------------------------


def entry(
    entry_id: int,
    channel: str,
    granted: bool,
    *,
    purpose: str = "marketing",
    age: timedelta = DAY,
    source: str = "form",
) -> LedgerEntry:
    return LedgerEntry(entry_id, channel, purpose, granted, source, NOW - age, None)


def test_every_channel_has_a_state_and_never_stated_is_none() -> None:
    states = current_states([entry(1, "email", True)])
    assert set(states) == {"email", "sms", "phone", "ad_audience"}
    assert states["email"] == ConsentState("email", "marketing", True, NOW - DAY, "form", 1)
    assert states["sms"] == ConsentState("sms", "marketing", None, None, None, None)


def test_the_highest_id_wins_even_when_recorded_earlier() -> None:
    # A backdated import (id 7) recorded after the web opt-in (id 3) is the latest word.
    entries = [
        entry(3, "email", True, age=DAY, source="web"),
        entry(7, "email", False, age=30 * DAY, source="import"),
        entry(5, "email", True, age=2 * DAY),
    ]
    state = current_states(entries)["email"]
    assert (state.granted, state.entry_id, state.source) == (False, 7, "import")
    assert state.since == NOW - 30 * DAY
    assert consent_for(list(reversed(entries)), "email") is False


def test_a_later_opt_in_overrides_a_withdrawal() -> None:
    entries = [entry(1, "sms", False), entry(2, "sms", True)]
    assert consent_for(entries, "sms") is True


def test_other_purposes_are_ignored() -> None:
    entries = [entry(1, "email", True), entry(2, "email", False, purpose="newsletter")]
    assert consent_for(entries, "email") is True
    assert consent_for(entries, "email", purpose="newsletter") is False
    assert consent_for(entries, "email", purpose="surveys") is None
    states = current_states(entries, purpose="newsletter")
    assert states["email"].purpose == "newsletter"
    assert states["email"].entry_id == 2


def test_unknown_channels_and_empty_ledgers_give_none() -> None:
    assert consent_for([entry(1, "email", True)], "fax") is None
    assert consent_for([], "email") is None
    assert current_states([entry(1, "email", True)], channels=("sms",)) == {
        "sms": ConsentState("sms", "marketing", None, None, None, None)
    }


def test_the_ledger_may_be_a_one_shot_iterator() -> None:
    states = current_states(iter([entry(1, "phone", True), entry(2, "email", False)]))
    assert (states["phone"].granted, states["email"].granted) == (True, False)


# --- suppression keys ----------------------------------------------------------------------


def test_emails_differing_in_case_and_spaces_share_a_key() -> None:
    assert normalise_email("Ann@Example.COM ") == "ann@example.com"
    assert (
        identifier_hash(SECRET, "email", "ann@example.com")
        == contact_keys(SECRET, "Ann@Example.COM ", None)[0][1]
    )
    assert contact_keys(SECRET, "Ann@Example.COM ", None) == contact_keys(
        SECRET, "ann@example.com", None
    )


def test_phones_in_national_and_international_form_share_a_key() -> None:
    assert normalise_phone("+33 6 12 34 56 78") == normalise_phone("0612345678") == "+33612345678"
    assert contact_keys(SECRET, None, "+33 6 12 34 56 78") == contact_keys(
        SECRET, None, "0612345678"
    )
    # The default region reads national numbers.
    assert normalise_phone("0612345678", "BE") != "+33612345678"


def test_keys_are_keyed_and_typed() -> None:
    key = identifier_hash(SECRET, "email", "ann@example.com")
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert key != identifier_hash(b"another secret", "email", "ann@example.com")
    # The same text as an email and as a phone is two different identifiers.
    assert identifier_hash(SECRET, "email", "+33612345678") != identifier_hash(
        SECRET, "phone", "+33612345678"
    )
    with pytest.raises(ValueError, match="empty"):
        identifier_hash(b"", "email", "ann@example.com")


def test_contact_keys_list_the_valid_identifiers_present() -> None:
    both = contact_keys(SECRET, "ann@example.com", "06 12 34 56 78")
    assert [kind for kind, _ in both] == ["email", "phone"]
    assert both[1] == ("phone", identifier_hash(SECRET, "phone", "+33612345678"))
    assert contact_keys(SECRET, None, None) == []
    assert contact_keys(SECRET, "", "") == []


@pytest.mark.parametrize(
    ("email", "phone"),
    [
        ("not an email", None),
        ("ann@", None),
        ("@example.com", None),
        (None, "12"),
        (None, "+33 6 12"),
        (None, "call me"),
        ("ann@@example.com", "0000000000"),
    ],
)
def test_invalid_identifiers_give_no_key(email: str | None, phone: str | None) -> None:
    assert contact_keys(SECRET, email, phone) == []


# --- promo codes ---------------------------------------------------------------------------


def test_ten_thousand_codes_are_unique_and_unambiguous() -> None:
    codes = [new_code() for _ in range(10_000)]
    assert len(set(codes)) == len(codes)
    assert all(len(code) == 10 and set(code) <= set(ALPHABET) for code in codes)
    assert not set("0O1IL") & set(ALPHABET)


def test_a_prefix_comes_first_and_is_validated() -> None:
    code = new_code(8, prefix="SUMMER26")
    assert code.startswith("SUMMER26")
    assert len(code) == 16
    assert set(code[8:]) <= set(ALPHABET)
    for prefix in ("summer", "ÉTÉ", "SUMMER-26", "A" * 11, " X"):
        with pytest.raises(InvalidInputError, match="prefix"):
            new_code(prefix=prefix)
    with pytest.raises(InvalidInputError, match="length"):
        new_code(3)


@pytest.mark.parametrize("prefix", ["", "X", "SUMMER26", "OIL10"])
def test_normalise_round_trips_display(prefix: str) -> None:
    for _ in range(200):
        code = new_code(prefix=prefix)
        printed = display_code(code)
        assert normalise_code(printed) == code
        assert normalise_code(printed.lower()) == code
        assert normalise_code(f"  {printed.replace('-', ' ')}\t") == code


def test_display_groups_by_four() -> None:
    assert display_code("ABCDEFGHJK") == "ABCD-EFGH-JK"
    assert display_code("ABCDEFGH") == "ABCD-EFGH"
    assert display_code("ABC") == "ABC"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("abcd-efgh-jk", "ABCDEFGHJK"),
        (" ABCD EFGH JK ", "ABCDEFGHJK"),
        ("abcd--efgh", "ABCDEFGH"),
        ("OIL10-ABCD", "OIL10ABCD"),
        ("", None),
        (" - ", None),
        ("ABCD_EFGH", None),
        ("ABCD.EFGH", None),
        ("ÀBCD", None),
        ("straße", None),
        ("A" * 43, None),
    ],
)
def test_normalise_code(typed: str, expected: str | None) -> None:
    assert normalise_code(typed) == expected


OPEN_TERMS = ProgramTerms(
    valid_from=None, valid_until=None, max_redemptions=None, one_per_customer=False
)
FRESH = CodeFacts(
    owner_contact_id=7, redeemed_at=None, program_redemptions=0, owner_redeemed_in_program=False
)


def test_a_fresh_code_in_an_open_program_is_redeemable() -> None:
    assert refusal(OPEN_TERMS, FRESH, 7, NOW) is None
    assert refusal(OPEN_TERMS, FRESH, None, NOW) is None
    # A code issued to nobody (printed on a flyer) belongs to whoever presents it.
    unowned = CodeFacts(None, None, 0, owner_redeemed_in_program=False)
    assert refusal(OPEN_TERMS, unowned, 12, NOW) is None


def test_a_redemption_inside_the_program_window_and_limit() -> None:
    terms = ProgramTerms(NOW - DAY, NOW + DAY, max_redemptions=100, one_per_customer=True)
    facts = CodeFacts(7, None, program_redemptions=99, owner_redeemed_in_program=False)
    assert refusal(terms, facts, 7, NOW) is None
    assert refusal(terms, facts, 7, NOW - DAY) is None  # the bounds are included
    assert refusal(terms, facts, 7, NOW + DAY) is None


@pytest.mark.parametrize(
    ("terms", "facts", "presented_by", "reason"),
    [
        (OPEN_TERMS, CodeFacts(7, NOW - DAY, 1, False), 7, "already_used"),
        (OPEN_TERMS, FRESH, 8, "foreign"),
        (ProgramTerms(NOW + DAY, None, None, False), FRESH, 7, "not_yet_valid"),
        (ProgramTerms(None, NOW - DAY, None, False), FRESH, 7, "expired"),
        (ProgramTerms(None, None, 50, False), CodeFacts(7, None, 50, False), 7, "exhausted"),
        (ProgramTerms(None, None, 0, False), FRESH, None, "exhausted"),
        (ProgramTerms(None, None, None, True), CodeFacts(7, None, 3, True), 7, "one_per_customer"),
        # The order: a used code is used before it is anyone's, expired before exhausted.
        (
            ProgramTerms(None, NOW - DAY, 1, True),
            CodeFacts(7, NOW - DAY, 1, True),
            8,
            "already_used",
        ),
        (ProgramTerms(NOW + DAY, None, 1, True), CodeFacts(7, None, 1, True), 8, "foreign"),
        (
            ProgramTerms(NOW + DAY, NOW - DAY, 1, True),
            CodeFacts(7, None, 1, True),
            7,
            "not_yet_valid",
        ),
        (ProgramTerms(None, NOW - DAY, 1, True), CodeFacts(7, None, 1, True), 7, "expired"),
        (ProgramTerms(None, None, 1, True), CodeFacts(7, None, 1, True), 7, "exhausted"),
        # Without the one-per-customer term, another code of the program does not matter.
        (ProgramTerms(None, None, None, False), CodeFacts(7, None, 3, True), 7, None),
    ],
)
def test_refusal_reasons_in_order(
    terms: ProgramTerms, facts: CodeFacts, presented_by: int | None, reason: str | None
) -> None:
    refused = refusal(terms, facts, presented_by, NOW)
    if reason is None:
        assert refused is None
    else:
        assert refused is not None
        assert refused[0] == reason
        assert refused[1]


def test_refusal_messages_carry_the_facts() -> None:
    used = refusal(OPEN_TERMS, CodeFacts(7, datetime(2026, 8, 3, tzinfo=UTC), 1, False), 7, NOW)
    assert used is not None
    assert "2026-08-03" in used[1]
    exhausted = refusal(ProgramTerms(None, None, 50, False), CodeFacts(7, None, 50, False), 7, NOW)
    assert exhausted is not None
    assert "50" in exhausted[1]


# --- SMS STOP replies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", True),
        ("stop", True),
        (" Stop ", True),
        ("stop sms", True),
        ("STOP  SMS", True),
        ("STOP\tSMS\n", True),
        ("\n  stop\r\n", True),
        ("STOPSMS", True),
        ("ARRET", True),
        ("ARRÊT", True),
        ("arrêt", True),
        ("arret!", True),
        ("Stop !", True),
        ("STOP.", True),
        ("stop!!!", True),
        ("Unsubscribe", True),
        ("ＳＴＯＰ", True),  # full-width letters, as some keyboards type them
        ("don't stop", False),
        ("stopped", False),
        ("STOP IT NOW please", False),
        ("stop me", False),
        ("please stop", False),
        ("", False),
        ("   ", False),
        ("!", False),
        ("sto p", False),
        ("STOP SMS SMS", False),
        ("arrête", False),
    ],
)
def test_is_stop(text: str, expected: bool) -> None:
    assert is_stop(text) is expected


# --- retries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "wait"),
    [
        (1, timedelta(minutes=1)),
        (2, timedelta(minutes=5)),
        (3, timedelta(minutes=30)),
        (4, timedelta(hours=2)),
        (5, timedelta(hours=6)),
        (6, timedelta(hours=6)),
        (100, timedelta(hours=6)),
    ],
)
def test_backoff(attempt: int, wait: timedelta) -> None:
    assert backoff(attempt) == wait


def test_backoff_grows_up_to_the_soft_failure_limit() -> None:
    waits = [backoff(attempt) for attempt in range(1, SOFT_FAILURE_LIMIT + 1)]
    assert waits == sorted(waits)
    assert len(set(waits)) == SOFT_FAILURE_LIMIT
    for attempt in (0, -1):
        with pytest.raises(ValueError, match="start at 1"):
            backoff(attempt)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (550, "hard"),
        (500, "hard"),
        (554, "hard"),
        (599, "hard"),
        (421, "soft"),
        (450, "soft"),
        (452, "soft"),
        (400, "soft"),
        (499, "soft"),
    ],
)
def test_smtp_failure_kind(code: int, kind: str) -> None:
    assert smtp_failure_kind(code) == kind


@pytest.mark.parametrize("code", [250, 354, 221, 399, 600, 0, -550, 5500])
def test_smtp_codes_that_are_not_failures(code: int) -> None:
    with pytest.raises(ValueError, match="not a failure"):
        smtp_failure_kind(code)
