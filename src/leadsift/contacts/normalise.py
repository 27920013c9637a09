"""Turn one file row into a storage-ready contact record or a rejection with its reason; pure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from leadsift.contacts.fields import (
    CONSENT_FIELDS,
    RECORD_COLUMNS,
    RECORD_POSITION,
    TEXT_FIELD_LENGTHS,
)
from leadsift.contacts.mapping import ColumnPlan
from leadsift.contacts.validators import normalise_email, normalise_phone
from leadsift.contacts.values import AttrValue, ValueType, coerce, parse_bool, parse_date, parse_int

EARLIEST_BIRTH_DATE = date(1900, 1, 1)
MAX_AGE = 130
_REJECTION_PRIORITY = {"invalid_email": 0, "invalid_phone": 1}
_ATTRS = RECORD_POSITION["attrs"]
_EMAIL = RECORD_POSITION["email"]
_PHONE = RECORD_POSITION["phone"]
_EXTERNAL_ID = RECORD_POSITION["external_id"]
_PHONE_RAW = RECORD_POSITION["phone_raw"]
_EMPTY_ATTRS = "{}"
encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class NormalisedRow(NamedTuple):
    """A valid row: its identifiers, the storage-ready record and its consent flags."""

    row_number: int
    email: str | None
    phone: str | None
    external_id: str | None
    record: tuple[Any, ...]  # RECORD_COLUMNS order; dates ISO text; attrs JSON text
    consent: tuple[tuple[str, bool], ...]

    @property
    def fields(self) -> dict[str, Any]:
        """The non-empty standard fields (and phone_raw) as a dict."""
        return {name: value for name, value in zip(RECORD_COLUMNS[:_ATTRS], self.record)
                if value is not None}

    @property
    def attrs(self) -> dict[str, AttrValue]:
        """The custom attributes, decoded."""
        decoded: dict[str, AttrValue] = json.loads(self.record[_ATTRS])
        return decoded


class Rejection(NamedTuple):
    """A refused row: where (row, column, value) and why (a stable reason code and a sentence)."""

    row_number: int
    reason: str
    column: str | None
    value: str | None
    message: str


class FieldError(Exception):
    """Raised by a field parser; becomes an `invalid_<field>` rejection."""


def _text(limit: int) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if len(value) > limit:
            raise FieldError(f"longer than {limit} characters")
        return value

    return parse


def _postal_code(value: str) -> str:
    if len(value) > TEXT_FIELD_LENGTHS["postal_code"]:
        raise FieldError("longer than 20 characters")
    return value.upper()


def _age(value: str) -> int:
    age = parse_int(value)
    if age is None or not 0 <= age <= MAX_AGE:
        raise FieldError(f"not an age in years (0 to {MAX_AGE})")
    return age


@dataclass(frozen=True)
class RowNormaliser:
    """Everything needed to normalise rows of one file; picklable for worker processes."""

    plans: tuple[ColumnPlan, ...]
    default_region: str = "FR"
    attr_types: dict[str, ValueType] = field(default_factory=dict)
    generate_ids: bool = False
    today: date = field(default_factory=date.today)

    @property
    def day_first(self) -> bool:
        """dd/mm/yyyy everywhere but in the US."""
        return self.default_region.upper() != "US"

    def _birth_date(self, value: str) -> str:
        parsed = parse_date(value, day_first=self.day_first)
        if parsed is None:
            raise FieldError("not a date (use YYYY-MM-DD or DD/MM/YYYY)")
        if not EARLIEST_BIRTH_DATE <= parsed <= self.today:
            raise FieldError("outside 1900 to today")
        return parsed.isoformat()

    def _standard(self, name: str, value: str) -> Any:
        if name == "birth_date":
            return self._birth_date(value)
        if name == "age":
            return _age(value)
        if name == "postal_code":
            return _postal_code(value)
        return _text(TEXT_FIELD_LENGTHS[name])(value)

    def normalise(self, row_number: int, cells: Sequence[str]) -> NormalisedRow | Rejection:
        """Normalise one row, or say why it is refused; the email, then the phone, decide first."""
        record: list[Any] = [None] * len(RECORD_COLUMNS)
        attrs: dict[str, AttrValue] = {}
        consent: list[tuple[str, bool]] = []
        errors: list[Rejection] = []
        for plan in self.plans:
            raw = cells[plan.index]
            value = raw.strip()
            if not value or plan.kind == "ignore":
                continue
            error = self._apply(plan, value, record, attrs, consent)
            if error is not None:
                errors.append(
                    Rejection(row_number, f"invalid_{plan.target}", plan.header, raw, error)
                )
        if errors:
            # One reason per row: the email decides first, then the phone, then column order.
            return min(errors, key=lambda r: _REJECTION_PRIORITY.get(r.reason, 2))
        email, phone, external_id = record[_EMAIL], record[_PHONE], record[_EXTERNAL_ID]
        if external_id is None and self.generate_ids:
            external_id = record[_EXTERNAL_ID] = generated_id(row_number, cells)
        if email is None and phone is None and external_id is None:
            return Rejection(row_number, "no_identifier", None, None,
                             "no email, phone or external id (use --generate-ids for files "
                             "without identifiers)")
        record[_ATTRS] = encode_json(attrs) if attrs else _EMPTY_ATTRS
        return NormalisedRow(row_number, email, phone, external_id, tuple(record), tuple(consent))

    def _apply(
        self,
        plan: ColumnPlan,
        value: str,
        record: list[Any],
        attrs: dict[str, AttrValue],
        consent: list[tuple[str, bool]],
    ) -> str | None:
        """Store VALUE where PLAN says; return an error sentence when it does not parse."""
        if plan.kind == "attr":
            attrs[plan.target] = coerce(value, self.attr_types.get(plan.target, "text"),
                                        day_first=self.day_first)
        elif plan.kind == "consent":
            flag = parse_bool(value)
            if flag is None:
                return "not a yes/no value (oui/non, yes/no, true/false, 1/0)"
            consent.append((CONSENT_FIELDS[plan.target], flag))
        elif plan.target == "email":
            email = normalise_email(value)
            if email is None:
                return "not a valid email address"
            record[_EMAIL] = email
        elif plan.target == "phone":
            phone = normalise_phone(value, self.default_region)
            if phone is None:
                return f"not a valid phone number (default region {self.default_region})"
            record[_PHONE] = phone
            record[_PHONE_RAW] = value[:64]
        else:
            try:
                record[RECORD_POSITION[plan.target]] = self._standard(plan.target, value)
            except FieldError as exc:
                return str(exc)
        return None

    def normalise_many(
        self, rows: Iterable[tuple[int, Sequence[str]]]
    ) -> list[NormalisedRow | Rejection]:
        """Normalise a chunk of rows (the unit of work sent to a worker process)."""
        return [self.normalise(number, cells) for number, cells in rows]


def generated_id(row_number: int, cells: Sequence[str]) -> str:
    """A stable external id from the row's content and number, so a re-import finds the row."""
    digest = hashlib.sha256(f"{row_number}\x1f".encode())
    digest.update("\x1f".join(cells).encode())
    return f"gen-{digest.hexdigest()[:24]}"
