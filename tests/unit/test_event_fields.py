"""`validated_fields` (pydantic-core on a TypedDict) answers exactly what EventIn would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from leadsift.engagement.event_fields import validated_fields
from leadsift.engagement.events import PreparedEvent, prepare
from leadsift.engagement.schemas import EventIn

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

_TEXTS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", " a@x.fr ", "a@x.fr", "06 12 34 56 78", "\u2003x", "x\x1c", "é"]),
    st.text(min_size=60, max_size=70),
    st.text(alphabet="ab", min_size=199, max_size=202),
)
_TIMES = st.one_of(
    st.sampled_from(
        [
            "2026-11-30T10:00:00Z",
            "2026-11-30T10:00:00+01:00",
            "2026-11-30 10:00:00.5-03:30",
            "2026-11-30T10:00",
            "2026-11-30T10:00:00",
            "2026-02-30T10:00:00Z",
            "1700000000",
            "soon",
            "2026-11-30T10:00:00z",
        ]
    ),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.datetimes(timezones=st.sampled_from([UTC, None])),
    st.text(max_size=8),
)
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=6)
)
_PROPERTIES = st.one_of(
    st.dictionaries(st.text(max_size=5), _SCALARS, max_size=4),
    st.dictionaries(st.text(max_size=5), st.lists(_SCALARS, max_size=3), max_size=2),
    st.sampled_from([None, [], "x", {"a": {"b": [1, {"c": None}]}}, {1: "x"}, {"a": b"x"}]),
)
_VALUES: dict[str, Any] = {
    "type": st.one_of(st.sampled_from(["page_view", "x", "Page View", "a" * 64, "a" * 65]), _TEXTS),
    "contact_id": st.one_of(
        st.integers(min_value=-2, max_value=2**70), st.sampled_from(["5", 5.0, True, None])
    ),
    "email": _TEXTS,
    "phone": _TEXTS,
    "external_id": _TEXTS,
    "anonymous_id": st.one_of(
        st.sampled_from(["visitor-0001", "short", "a" * 64, "a" * 65, "v1234567\n"]), _TEXTS
    ),
    "occurred_at": _TIMES,
    "properties": _PROPERTIES,
    "source": _TEXTS,
    "campaign": _TEXTS,
    "utm_source": _TEXTS,
    "idempotency_key": _TEXTS,
    "colour": st.just("red"),
}
_GOOD: dict[str, Any] = {
    "type": st.sampled_from(["page_view", "form_submitted", "x", "a" * 64]),
    "contact_id": st.integers(min_value=1, max_value=2**70),
    "email": st.sampled_from(["a@x.fr", " Jean.Dupont@Example.FR ", "b@x.fr", "x" * 321]),
    "phone": st.sampled_from(["06 12 34 56 78", "+33612345678", "12"]),
    "external_id": st.sampled_from(["crm-1", " crm-2 ", "é"]),
    "anonymous_id": st.sampled_from(["visitor-0001", "abcdefgh"]),
    "occurred_at": st.one_of(
        st.sampled_from(
            [
                "2026-11-30T10:00:00Z",
                "2026-11-30T10:00:00+01:00",
                "2026-11-30T10:00:00.123456-03:30",
                "2026-11-30 10:00:00+00:00",
                "2026-11-30T12:06:00Z",
            ]
        ),
        st.datetimes(
            min_value=datetime(2020, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
            max_value=datetime(2027, 1, 1),  # noqa: DTZ001
            timezones=st.just(UTC),
        ).map(lambda moment: moment.isoformat()),
    ),
    "properties": st.dictionaries(st.text(max_size=5), _SCALARS, max_size=4),
    "source": st.sampled_from(["site", " crm ", "a" * 100, "a" * 101]),
    "campaign": st.sampled_from(["spring", "[i]x[/i]"]),
    "utm_source": st.sampled_from(["newsletter", ""]),
    "idempotency_key": st.sampled_from(["k1", "order-42", " k "]),
}
_REFERENCES = ("contact_id", "email", "phone", "external_id", "anonymous_id")
_OPTIONAL = ("occurred_at", "properties", "source", "campaign", "utm_source", "idempotency_key")


@st.composite
def _events(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly valid events (one contact reference), some fields drawn from anything."""
    names = ["type", draw(st.sampled_from(_REFERENCES)), *_OPTIONAL]
    event: dict[str, Any] = {}
    for name in names:
        if name in _OPTIONAL and draw(st.booleans()):
            continue
        odd = draw(st.integers(0, 9)) == 0  # one field in ten drawn from anything
        event[name] = draw(_VALUES[name] if odd else _GOOD[name])
    if draw(st.integers(0, 9)) == 0:  # now and then a field too many
        name = draw(st.sampled_from(sorted(_VALUES)))
        event[name] = draw(_VALUES[name])
    return event


_EVENTS = st.one_of(
    _events(),
    _events(),
    st.fixed_dictionaries(
        {}, optional={name: st.one_of(st.none(), values) for name, values in _VALUES.items()}
    ),
)


def _by_eventin(raw: Any) -> dict[str, Any] | None:
    try:
        return EventIn.model_validate(raw).model_dump(exclude_unset=False)
    except ValidationError:
        return None


def _same(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    """The same values, and the same types (a time's zone class included)."""
    for name, value in expected.items():
        got = fields.get(name, {} if name == "properties" else None)
        assert got == value, name
        assert type(got) is type(value), name
        if isinstance(value, datetime):
            assert type(got.tzinfo) is type(value.tzinfo)
            assert got.utcoffset() == value.utcoffset()


@settings(max_examples=1500, deadline=None)
@given(_EVENTS)
def test_validated_fields_agree_with_eventin(raw: dict[str, Any]) -> None:
    expected = _by_eventin(raw)
    fields = validated_fields(raw)
    if expected is None:
        assert fields is None
        return
    assert fields is not None  # whatever EventIn accepts, the fast path accepts too
    _same(fields, expected)


@settings(max_examples=500, deadline=None)
@given(_EVENTS)
def test_prepare_gives_the_same_answer_from_a_dict_and_from_an_eventin(raw: dict[str, Any]) -> None:
    def run(event: Any) -> Any:
        return prepare(
            event, 3, received_at=NOW, future_tolerance=timedelta(minutes=5), region="FR"
        )

    from_dict = run(raw)
    try:
        model = EventIn.model_validate(raw)
    except ValidationError:
        assert not isinstance(from_dict, PreparedEvent)
        assert from_dict.code == "invalid_event"
        return
    assert from_dict == run(model)


def test_plain_events_and_their_edge_cases() -> None:
    fields = validated_fields(
        {"type": "x", "email": " a@x.fr ", "occurred_at": "2026-11-30T10:00:00+01:00"}
    )
    assert fields is not None and fields["email"] == "a@x.fr"  # stripped, as EventIn does
    assert fields["occurred_at"] == datetime(2026, 11, 30, 9, tzinfo=UTC)
    assert "properties" not in fields  # absent: prepare takes {}
    assert validated_fields({"type": "x"}) is None  # nobody named
    assert validated_fields({"type": "x", "contact_id": 1, "email": "a@x.fr"}) is None
    assert validated_fields({"type": "x", "contact_id": 1, "colour": "red"}) is None
    assert validated_fields({"type": "x", "anonymous_id": "visitor-0001"}) is not None
    assert validated_fields("not an object") is None
