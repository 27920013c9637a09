"""Header auto-mapping and --map overrides."""

from __future__ import annotations

import pytest

from leadsift.contacts.mapping import attribute_key, mapping_record, plan_columns
from leadsift.errors import InvalidInputError


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("email", "email"),
        ("E-mail", "email"),
        ("Courriel", "email"),
        ("MAIL", "email"),
        ("phone", "phone"),
        ("Téléphone", "phone"),
        ("Tél.", "phone"),
        ("Mobile", "phone"),
        ("Portable", "phone"),
        ("First name", "first_name"),
        ("Prénom", "first_name"),
        ("Last Name", "last_name"),
        ("Nom", "last_name"),
        ("Birth date", "birth_date"),
        ("Date de naissance", "birth_date"),
        ("Postal code", "postal_code"),
        ("Code postal", "postal_code"),
        ("City", "city"),
        ("Ville", "city"),
        ("Région", "region"),
        ("Company", "company"),
        ("Société", "company"),
        ("Entreprise", "company"),
        ("Job title", "job_title"),
        ("Fonction", "job_title"),
        ("Poste", "job_title"),
        ("source", "source"),
        ("Consentement email", "consent_email"),
        ("Email consent", "consent_email"),
        ("Consentement SMS", "consent_sms"),
        ("Consentement téléphone", "consent_phone"),
        ("first_name", "first_name"),
        ("external_id", "external_id"),
    ],
)
def test_known_headers_map_to_standard_fields(header: str, field: str) -> None:
    (plan,) = plan_columns([header])
    assert plan.target == field
    assert plan.kind == ("consent" if field.startswith("consent_") else "standard")


def test_unknown_headers_become_snake_case_attributes() -> None:
    plans = plan_columns(["emp.var.rate", "nr.employed", "job", "Âge du capitaine", "2nd"])
    assert [(p.kind, p.target) for p in plans] == [
        ("attr", "emp_var_rate"),
        ("attr", "nr_employed"),
        ("attr", "job"),
        ("attr", "age_du_capitaine"),
        ("attr", "c_2nd"),
    ]
    assert attribute_key("Taux d'intérêt (%)") == "taux_d_interet"


def test_first_column_wins_a_field_and_the_second_stays_an_attribute() -> None:
    plans = plan_columns(["Téléphone", "Mobile"])
    assert [(p.kind, p.target) for p in plans] == [("standard", "phone"), ("attr", "mobile")]


def test_attribute_keys_never_shadow_standard_names_or_each_other() -> None:
    plans = plan_columns(["Email", "E.mail", "a b", "a-b"], ["E.mail=attrs.backup_email"])
    assert [p.describe() for p in plans] == [
        "email",
        "attrs.backup_email",
        "attrs.a_b",
        "attrs.a_b_2",
    ]


def test_explicit_map_wins_over_auto_mapping() -> None:
    plans = plan_columns(["Nom", "Raison"], ["Nom=company", "Raison=ignore"])
    assert mapping_record(plans) == {"Nom": "company", "Raison": "ignore"}


def test_map_to_unknown_field_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidInputError) as error:
        plan_columns(["Mail"], ["Mail=emial"])
    message = str(error.value)
    assert "unknown field 'emial'" in message and "did you mean 'email'" in message
    assert "first_name" in message and "attrs.<name>" in message


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["Missing=email"], "has no column 'Missing'"),
        (["Mail"], 'write it as "Header=field"'),
        (["Mail=email", "Tel=email"], "two columns are mapped to 'email'"),
        (["Mail=attrs.stage"], "'stage' is a standard name"),
    ],
)
def test_bad_overrides_are_user_errors(overrides: list[str], fragment: str) -> None:
    with pytest.raises(InvalidInputError, match=fragment):
        plan_columns(["Mail", "Tel"], overrides)
