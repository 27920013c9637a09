"""Rows of an event file → raw events: columns, property types, references, derived keys."""

from __future__ import annotations

from typing import Any

import pytest

from leadsift.engagement.event_rows import (
    CsvRows,
    Defaults,
    DerivedKeys,
    EventColumns,
    PropertyTypes,
    RowError,
    field_name,
    json_event,
    property_kind,
)
from leadsift.errors import ImportFileError


def _csv_events(headers: tuple[str, ...], rows: list[list[str]], **defaults: str) -> list[Any]:
    """Map ROWS as the import does: types from every row first, then each row."""
    columns = EventColumns.plan("f.csv", headers)
    types = PropertyTypes(columns)
    for cells in rows:
        types.observe(cells)
    mapper = CsvRows(columns, types.types, Defaults(**defaults))
    return [mapper.event(cells) for cells in rows]


def test_headers_name_fields_whatever_their_case_spaces_or_hyphens() -> None:
    assert field_name(" Occurred At ") == "occurred_at"
    assert field_name("UTM-Source") == "utm_source"
    assert field_name("Contact_ID") == "contact_id"
    columns = EventColumns.plan(
        "f.csv", ("Type", "E-mail", "Email", "Occurred At", "Path", "properties.Referrer")
    )
    assert columns.fields == ((0, "type"), (2, "email"), (3, "occurred_at"))
    # Not a field name: a property, named as written (the `properties.` prefix dropped).
    assert columns.properties == ((1, "E-mail"), (4, "Path"), (5, "Referrer"))
    assert columns.properties_json is None


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (("email", "path"), "no `type` column"),
        (("type", "path"), "no column names the contact"),
        (("type", "email", "Email"), "columns 'email' and 'Email' both fill email"),
        (("type", "email", "path", "properties.path"), "both fill properties.path"),
    ],
)
def test_a_file_without_type_or_contact_or_with_a_column_twice_is_refused(
    headers: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ImportFileError, match=message):
        EventColumns.plan("f.csv", headers)


def test_an_anonymous_id_column_is_enough_to_name_who() -> None:
    columns = EventColumns.plan("f.csv", ("type", "anonymous_id"))
    assert columns.fields == ((0, "type"), (1, "anonymous_id"))


def test_property_columns_are_typed_by_all_their_values() -> None:
    headers = ("type", "email", "count", "amount", "member", "code", "when", "mixed", "blank")
    rows = [
        ["page_view", "a@x.fr", "3", "4", "yes", "01234", "2025-01-31T10:00:00+01:00", "1", ""],
        ["page_view", "a@x.fr", "-2", "4.5", "non", "00042", "2025-02-01", "x", ""],
        ["page_view", "a@x.fr", "", "12,50", "", "7", "", "2", "  "],
    ]
    first, second, third = _csv_events(headers, rows)
    assert first["properties"] == {
        "count": 3,
        "amount": 4.0,  # the column holds decimals: every value is a number
        "member": True,
        "code": "01234",  # a leading zero is an identifier, kept as text
        "when": "2025-01-31T10:00:00+01:00",  # dates and times stay as written
        "mixed": "1",  # one text value makes the whole column text
    }
    assert second["properties"]["count"] == -2 and second["properties"]["member"] is False
    assert second["properties"]["amount"] == 4.5 and second["properties"]["mixed"] == "x"
    # An empty cell leaves the property out; French decimals are numbers.
    assert third["properties"] == {"amount": 12.5, "code": "7", "mixed": "2"}
    assert all(type(event["properties"].get("count", 0)) is int for event in (first, second))


def test_property_kind_keeps_dates_as_text() -> None:
    assert [property_kind(v) for v in ("12", "-1.5", "oui", "2025-01-31", "a")] == [
        "integer",
        "number",
        "boolean",
        "text",
        "text",
    ]


def test_types_settle_once_every_column_is_text() -> None:
    columns = EventColumns.plan("f.csv", ("type", "email", "path", "n"))
    types = PropertyTypes(columns)
    types.observe(["x", "a@x.fr", "/menu", "1"])
    assert not types.settled  # `n` may still widen
    types.observe(["x", "a@x.fr", "/menu", "one"])
    assert types.settled and types.types == {2: "text", 3: "text"}


def test_fields_are_stripped_and_empty_cells_leave_a_field_out() -> None:
    headers = ("type", "email", "occurred_at", "source", "campaign", "utm_source")
    (event,) = _csv_events(headers, [[" page_view ", " A@X.fr ", "", "", " spring ", ""]])
    assert event == {
        "type": "page_view",
        "email": "A@X.fr",  # normalised later, by the same code as the API's
        "campaign": "spring",
        "properties": {},
    }


def test_a_contact_id_is_a_whole_number() -> None:
    headers = ("type", "contact_id")
    good, bad, zero = _csv_events(headers, [["x", "42"], ["x", "abc"], ["x", "0"]])
    assert good["contact_id"] == 42
    assert bad == RowError(
        "invalid_event", "contact_id: 'abc' is not a contact id (a whole number above 0)"
    )
    assert isinstance(zero, RowError)


def test_a_row_naming_its_contact_several_ways_is_matched_on_the_first() -> None:
    headers = ("type", "external_id", "phone", "email", "contact_id", "anonymous_id")
    rows = [
        ["x", "crm-1", "0612345678", "a@x.fr", "7", "visitor-1234"],
        ["x", "crm-1", "0612345678", "", "", ""],
        ["x", "crm-1", "", "", "", ""],
    ]
    first, second, third = _csv_events(headers, rows)
    assert first == {
        "type": "x",
        "contact_id": 7,
        "anonymous_id": "visitor-1234",
        "properties": {},
    }
    assert (second["phone"], "external_id" in second) == ("0612345678", False)
    assert third["external_id"] == "crm-1"


def test_defaults_fill_only_rows_that_give_no_source_or_campaign() -> None:
    headers = ("type", "email", "source", "campaign")
    rows = [["x", "a@x.fr", "", ""], ["x", "a@x.fr", "site", "summer"]]
    first, second = _csv_events(headers, rows, source="import", campaign="spring")
    assert (first["source"], first["campaign"]) == ("import", "spring")
    assert (second["source"], second["campaign"]) == ("site", "summer")


def test_a_properties_column_holds_a_json_object_merged_with_the_other_columns() -> None:
    headers = ("type", "email", "properties", "path")
    rows = [
        ["x", "a@x.fr", '{"n": 1, "tags": ["a"]}', "/menu"],
        ["x", "a@x.fr", "", "/menu"],
        ["x", "a@x.fr", "[1]", ""],
        ["x", "a@x.fr", "{oops", ""],
        ["x", "a@x.fr", '{"path": "/b"}', "/menu"],
    ]
    good, empty, listed, broken, twice = _csv_events(headers, rows)
    assert good["properties"] == {"path": "/menu", "n": 1, "tags": ["a"]}
    assert empty["properties"] == {"path": "/menu"}
    assert listed == RowError("invalid_event", "properties: expected a JSON object, got list")
    assert isinstance(broken, RowError) and broken.message.startswith("properties: not valid JSON")
    assert twice == RowError(
        "invalid_event", "property 'path' is given twice — keep one of the two"
    )


def test_json_lines_keep_their_types_and_may_carry_a_properties_object() -> None:
    obj = {
        "Type": "purchase",
        "contact_id": 5,
        "email": "",  # empty: left out, as in a CSV
        "phone": None,
        "occurred_at": "2025-01-31T10:00:00Z",
        "properties": {"amount": 12.5, "items": [1, 2]},
        "coupon": "SPRING",
        "first": True,
        "properties.code": "07",
    }
    assert json_event(obj, Defaults(source="shop")) == {
        "type": "purchase",
        "contact_id": 5,
        "occurred_at": "2025-01-31T10:00:00Z",
        "source": "shop",
        "properties": {
            "coupon": "SPRING",
            "first": True,
            "code": "07",
            "amount": 12.5,
            "items": [1, 2],
        },
    }
    # A JSON string where a number is due is kept: the event check says what is wrong.
    assert json_event({"type": "x", "contact_id": "5"}, Defaults())["contact_id"] == "5"


def test_json_lines_refuse_a_properties_value_that_is_not_an_object_or_a_key_twice() -> None:
    assert json_event({"type": "x", "properties": "a"}, Defaults()) == RowError(
        "invalid_event", "properties: expected a JSON object, got str"
    )
    clash = json_event({"type": "x", "path": "/a", "properties": {"path": "/b"}}, Defaults())
    assert clash == RowError(
        "invalid_event", "property 'path' is given twice — keep one of the two"
    )
    assert json_event({"type": "x", "path": 1, "properties.path": 2}, Defaults()) == RowError(
        "invalid_event", "property 'path' is given twice"
    )


def test_rows_without_time_or_key_get_a_stable_key_and_identical_rows_stay_distinct() -> None:
    def keyed(events: list[dict[str, Any]]) -> list[str | None]:
        keys = DerivedKeys()
        return [event["idempotency_key"] if not keys.assign(event) else None for event in events]

    def rows() -> list[dict[str, Any]]:
        return [
            {"type": "email_opened", "email": "a@x.fr", "properties": {}},
            {"type": "email_opened", "email": "a@x.fr", "properties": {}},
            {"type": "email_opened", "email": "b@x.fr", "properties": {}},
            {"type": "x", "email": "a@x.fr", "occurred_at": "2025-01-01T00:00:00Z"},
            {"type": "x", "email": "a@x.fr", "idempotency_key": "k1", "properties": {}},
        ]

    first, again = keyed(rows()), keyed(rows())
    assert first == again  # a re-import derives the same keys
    one, two, other, dated, given = first
    assert one is not None and two is not None and other is not None
    assert one.startswith("row:") and len(one) == 4 + 32
    assert len({one, two, other}) == 3  # the second identical row is a second event
    assert dated is None  # dated: keyed by what it says, as the API does
    assert given == "k1"  # the sender's key is kept; the row still counts as undated
    reordered = rows()
    reordered[0], reordered[2] = reordered[2], reordered[0]
    assert set(keyed(reordered)[:3]) == {one, two, other}  # order within the file is free
