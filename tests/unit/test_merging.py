"""De-duplication and merge decisions, without a database."""

from __future__ import annotations

from typing import Any

from leadsift.contacts.merging import merge_row, plan_chunk, record_to_values, values_to_record
from leadsift.contacts.normalise import NormalisedRow, RowTuple


def _row(
    n: int,
    consent: dict[str, bool] | None = None,
    attrs: dict[str, Any] | None = None,
    **fields: Any,
) -> RowTuple:
    values = {**fields, "attrs": attrs or {}}
    return (
        n,
        fields.get("email"),
        fields.get("phone"),
        fields.get("external_id"),
        values_to_record(values),
        tuple((consent or {}).items()),
    )


EXISTING = {
    "id": 10,
    "email": "a@x.fr",
    "phone": "+33612345678",
    "external_id": None,
    "first_name": "Ann",
    "last_name": None,
    "birth_date": "1990-01-01",
    "attrs": {"job": "admin."},
    "created_batch_id": 1,
}


def _stored(values: dict[str, Any]) -> tuple[int, tuple[Any, ...], int | None]:
    return values["id"], values_to_record(values), values["created_batch_id"]


def test_merge_fills_empty_fields_and_keeps_others_unless_overwriting() -> None:
    row = _row(2, email="a@x.fr", first_name="Anne", last_name="Lee", attrs={"job": "x", "k": 1})
    assert merge_row(EXISTING, NormalisedRow._make(row), overwrite=False) == {
        "last_name": "Lee",
        "attrs": {"job": "admin.", "k": 1},
    }
    assert merge_row(EXISTING, NormalisedRow._make(row), overwrite=True) == {
        "first_name": "Anne",
        "last_name": "Lee",
        "attrs": {"job": "x", "k": 1},
    }


def test_rows_create_merge_update_and_leave_unchanged() -> None:
    rows = [
        _row(2, email="new@x.fr", phone="+33700000001"),  # created
        _row(3, phone="+33700000001", first_name="Neo"),  # merged into row 2
        _row(4, email="a@x.fr", last_name="Lee"),  # updated (fills last_name)
        _row(5, phone="+33612345678", first_name="Other"),  # unchanged (keeps Ann)
    ]
    plan = plan_chunk(rows, [_stored(EXISTING)], {}, batch_id=2, overwrite=False, recorded=set())
    assert dict(plan.counts) == {"created": 1, "merged": 1, "updated": 1, "unchanged": 1}
    assert [record_to_values(r)["first_name"] for r in plan.new_records] == ["Neo"]
    assert [(t.contact_id, t.changed) for t in plan.updated] == [(10, {"last_name": "Lee"})]
    assert plan.befores == [(10, {"last_name": None})]


def test_email_of_one_contact_and_phone_of_another_is_a_conflict() -> None:
    other = {**EXISTING, "id": 11, "email": "b@x.fr", "phone": "+33699999999"}
    plan = plan_chunk(
        [_row(9, email="a@x.fr", phone="+33699999999")],
        [_stored(EXISTING), _stored(other)],
        {},
        batch_id=2,
        overwrite=False,
        recorded=set(),
    )
    (rejection,) = plan.rejections
    assert (rejection.row_number, rejection.reason, rejection.column) == (
        9,
        "identity_conflict",
        "phone",
    )
    assert "contact 10" in rejection.message and "contact 11" in rejection.message
    assert not plan.new_records and not plan.updated


def test_consent_of_stored_contacts_is_deferred_to_the_end_of_the_import() -> None:
    rows = [_row(2, email="a@x.fr", consent={"email": True, "sms": False})]
    plan = plan_chunk(
        rows,
        [_stored(EXISTING)],
        {(10, "email"): True},
        batch_id=2,
        overwrite=False,
        recorded=set(),
    )
    # Stored contacts: every statement is kept with the state before the import; the service
    # writes only the file's last word, and only where it differs.
    assert plan.stored_consent == [(10, "email", True, True), (10, "sms", False, None)]
    assert plan.consent_rows([]) == []
    assert plan.counts["unchanged"] == 1


def test_consent_of_new_contacts_is_written_with_them() -> None:
    rows = [
        _row(2, email="n@x.fr", consent={"email": True}),
        _row(3, email="n@x.fr", consent={"email": True, "sms": True}),
    ]
    plan = plan_chunk(rows, [], {}, batch_id=2, overwrite=False, recorded=set())
    assert plan.consent_rows([41]) == [(41, "email", True), (41, "sms", True)]


def test_rows_merging_into_a_contact_created_earlier_in_the_batch_count_as_merged() -> None:
    mine = {**EXISTING, "created_batch_id": 2}
    plan = plan_chunk(
        [_row(2, email="a@x.fr", last_name="Lee")],
        [_stored(mine)],
        {},
        batch_id=2,
        overwrite=False,
        recorded=set(),
    )
    assert plan.counts["merged"] == 1
    assert plan.befores == []  # undo deletes that contact anyway
    assert [(t.contact_id, t.changed) for t in plan.updated] == [(10, {"last_name": "Lee"})]
