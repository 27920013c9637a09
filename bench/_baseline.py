"""The baseline import: pandas read_csv + reference validators + DataFrame.to_sql."""

from __future__ import annotations

import email_validator
import pandas as pd
import phonenumbers
from sqlalchemy import create_engine


def _email(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return email_validator.validate_email(
            value.strip(), check_deliverability=False
        ).normalized.lower()
    except email_validator.EmailNotValidError:
        return None


def _phone(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        number = phonenumbers.parse(value, "FR")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def run(url: str, path: str) -> int:
    """Read, validate, drop invalid and duplicate rows, write; return rows written."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["email"] = frame["email"].map(_email)
    frame["phone"] = frame["phone"].map(_phone)
    frame = frame.dropna(subset=["email", "phone"])
    frame = frame.drop_duplicates(subset=["email"]).drop_duplicates(subset=["phone"])
    engine = create_engine(url)
    frame.to_sql("baseline_contacts", engine, if_exists="replace", index=False, chunksize=10_000)
    engine.dispose()
    return len(frame)
