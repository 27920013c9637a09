"""One row in, a normalised contact or a rejection out."""

from __future__ import annotations

from datetime import date

from leadsift.contacts.mapping import plan_columns
from leadsift.contacts.normalise import NormalisedRow, Rejection, RowNormaliser, generated_id

HEADERS = [
    "Courriel",
    "Téléphone",
    "Prénom",
    "Date de naissance",
    "Âge",
    "Code postal",
    "Consentement SMS",
    "job",
    "euribor",
]


def _normaliser(**kwargs: object) -> RowNormaliser:
    return RowNormaliser(
        tuple(plan_columns(HEADERS)),
        attr_types={"job": "text", "euribor": "number"},
        today=date(2026, 11, 22),
        **kwargs,
    )  # type: ignore[arg-type]


def _row(**cells: str) -> list[str]:
    values = dict.fromkeys(HEADERS, "")
    values.update({k.replace("_", " "): v for k, v in cells.items()})
    return [values[h] for h in HEADERS]


def test_a_full_row_is_normalised() -> None:
    cells = [
        "  Jean.Dupont@Example.FR ",
        "06 12 34 56 78",
        "Jean",
        "15/03/1988",
        "38",
        "69003",
        "oui",
        "admin.",
        "4,857",
    ]
    result = _normaliser().normalise(2, cells)
    assert isinstance(result, NormalisedRow)
    assert result.fields == {
        "email": "jean.dupont@example.fr",
        "phone": "+33612345678",
        "phone_raw": "06 12 34 56 78",
        "first_name": "Jean",
        "birth_date": "1988-03-15",
        "age": 38,
        "postal_code": "69003",
    }
    assert result.attrs == {"job": "admin.", "euribor": 4.857}
    assert result.consent == (("sms", True),)
    assert (result.email, result.phone, result.external_id) == (
        "jean.dupont@example.fr",
        "+33612345678",
        None,
    )


def _reject(cells: list[str], **kwargs: object) -> Rejection:
    result = _normaliser(**kwargs).normalise(7, cells)
    assert isinstance(result, Rejection), result
    return result


def test_invalid_email_wins_over_other_errors() -> None:
    cells = ["not-an-email", "12", "", "99/99/9999", "", "", "", "", ""]
    rejection = _reject(cells)
    assert (rejection.row_number, rejection.reason, rejection.column, rejection.value) == (
        7,
        "invalid_email",
        "Courriel",
        "not-an-email",
    )


def test_invalid_phone_then_other_fields() -> None:
    assert _reject(["a@b.fr", "12", "", "", "", "", "", "", ""]).reason == "invalid_phone"
    assert _reject(["a@b.fr", "", "", "31/02/1990", "", "", "", "", ""]).reason == (
        "invalid_birth_date"
    )
    assert _reject(["a@b.fr", "", "", "2099-01-01", "", "", "", "", ""]).reason == (
        "invalid_birth_date"
    )
    assert _reject(["a@b.fr", "", "", "", "quarante", "", "", "", ""]).reason == "invalid_age"
    assert _reject(["a@b.fr", "", "", "", "", "", "peut-être", "", ""]).reason == (
        "invalid_consent_sms"
    )
    assert _reject(["a@b.fr", "", "x" * 201, "", "", "", "", "", ""]).reason == (
        "invalid_first_name"
    )


def test_no_identifier_unless_ids_are_generated() -> None:
    cells = ["", "", "Jean", "", "", "", "", "admin.", ""]
    assert _reject(cells).reason == "no_identifier"
    result = _normaliser(generate_ids=True).normalise(7, cells)
    assert isinstance(result, NormalisedRow)
    assert result.fields["external_id"] == generated_id(7, cells)
    assert generated_id(7, cells) != generated_id(8, cells)  # identical rows stay distinct


def test_us_region_reads_month_first_and_us_phones() -> None:
    cells = ["", "(415) 555-2671", "", "03/04/1990", "", "", "", "", ""]
    result = _normaliser(default_region="US").normalise(2, cells)
    assert isinstance(result, NormalisedRow)
    assert result.fields["birth_date"] == "1990-03-04"
    assert result.fields["phone"] == "+14155552671"
