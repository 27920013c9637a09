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
        return {
            name: value
            for name, value in zip(RECORD_COLUMNS[:_ATTRS], self.record[:_ATTRS], strict=True)
            if value is not None
        }

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


RowTuple = tuple[
    int, "str | None", "str | None", "str | None", tuple[Any, ...], tuple[tuple[str, bool], ...]
]
# A column handler stores a non-empty value in the record (or attrs, consent) or returns why not.
Handler = Callable[[str, list[Any], dict[str, AttrValue], list[tuple[str, bool]]], "str | None"]


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
    _columns: list[tuple[int, ColumnPlan, Handler]] = field(
        init=False, repr=False, compare=False, default_factory=list
    )

    def __post_init__(self) -> None:
        # Handlers are built once per file, not per cell: this loop runs for every value.
        self._columns.extend(
            (plan.index, plan, self._handler(plan)) for plan in self.plans if plan.kind != "ignore"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_columns"] = []  # closures do not pickle; rebuilt on arrival
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__post_init__()

    @property
    def day_first(self) -> bool:
        """dd/mm/yyyy everywhere but in the US."""
        return self.default_region.upper() != "US"

    def _handler(self, plan: ColumnPlan) -> Handler:  # noqa: PLR0911 - one return per field kind
        if plan.kind == "attr":
            return _attr_handler(
                plan.target, self.attr_types.get(plan.target, "text"), self.day_first
            )
        if plan.kind == "consent":
            return _consent_handler(CONSENT_FIELDS[plan.target])
        if plan.target == "email":
            return _email_handler
        if plan.target == "phone":
            return _phone_handler(self.default_region)
        if plan.target == "birth_date":
            return _birth_date_handler(self.day_first, self.today)
        if plan.target == "age":
            return _parsed_handler(RECORD_POSITION["age"], _age)
        return _text_handler(
            RECORD_POSITION[plan.target],
            TEXT_FIELD_LENGTHS[plan.target],
            upper=plan.target == "postal_code",
        )

    def normalise(self, row_number: int, cells: Sequence[str]) -> NormalisedRow | Rejection:
        """Normalise one row, or say why it is refused; the email, then the phone, decide first."""
        result = self.normalise_plain(row_number, cells)
        return result if isinstance(result, Rejection) else NormalisedRow._make(result)

    def normalise_plain(self, row_number: int, cells: Sequence[str]) -> RowTuple | Rejection:
        """As normalise, with a plain tuple for valid rows (pickles several times faster)."""
        record: list[Any] = [None] * len(RECORD_COLUMNS)
        attrs: dict[str, AttrValue] = {}
        consent: list[tuple[str, bool]] = []
        errors: list[Rejection] | None = None
        for index, plan, handler in self._columns:
            raw = cells[index]
            value = raw.strip()
            if value:
                error = handler(value, record, attrs, consent)
                if error is not None:
                    rejection = Rejection(
                        row_number, f"invalid_{plan.target}", plan.header, raw, error
                    )
                    errors = [*(errors or []), rejection]
        if errors:
            # One reason per row: the email decides first, then the phone, then column order.
            return min(errors, key=lambda r: _REJECTION_PRIORITY.get(r.reason, 2))
        email, phone, external_id = record[_EMAIL], record[_PHONE], record[_EXTERNAL_ID]
        if external_id is None and self.generate_ids:
            external_id = record[_EXTERNAL_ID] = generated_id(row_number, cells)
        if email is None and phone is None and external_id is None:
            return Rejection(
                row_number,
                "no_identifier",
                None,
                None,
                "no email, phone or external id (use --generate-ids for files without identifiers)",
            )
        record[_ATTRS] = encode_json(attrs) if attrs else _EMPTY_ATTRS
        return (row_number, email, phone, external_id, tuple(record), tuple(consent))

    def normalise_many(
        self, rows: Iterable[tuple[int, Sequence[str]]]
    ) -> list[RowTuple | Rejection]:
        """Normalise a chunk of rows (the unit of work sent to a worker process)."""
        normalise = self.normalise_plain
        return [normalise(number, cells) for number, cells in rows]


def _email_handler(value: str, record: list[Any], *_: object) -> str | None:
    email = normalise_email(value)
    if email is None:
        return "not a valid email address"
    record[_EMAIL] = email
    return None


def _phone_handler(region: str) -> Handler:
    def handle(value: str, record: list[Any], *_: object) -> str | None:
        phone = normalise_phone(value, region)
        if phone is None:
            return f"not a valid phone number (default region {region})"
        record[_PHONE] = phone
        record[_PHONE_RAW] = value[:64]
        return None

    return handle


def _text_handler(position: int, limit: int, *, upper: bool) -> Handler:
    def handle(value: str, record: list[Any], *_: object) -> str | None:
        if len(value) > limit:
            return f"longer than {limit} characters"
        record[position] = value.upper() if upper else value
        return None

    return handle


def _parsed_handler(position: int, parse: Callable[[str], Any]) -> Handler:
    def handle(value: str, record: list[Any], *_: object) -> str | None:
        try:
            record[position] = parse(value)
        except FieldError as exc:
            return str(exc)
        return None

    return handle


def _birth_date_handler(day_first: bool, today: date) -> Handler:
    def parse(value: str) -> str:
        parsed = parse_date(value, day_first=day_first)
        if parsed is None:
            raise FieldError("not a date (use YYYY-MM-DD or DD/MM/YYYY)")
        if not EARLIEST_BIRTH_DATE <= parsed <= today:
            raise FieldError("outside 1900 to today")
        return parsed.isoformat()

    return _parsed_handler(RECORD_POSITION["birth_date"], parse)


def _consent_handler(channel: str) -> Handler:
    def handle(
        value: str, _record: list[Any], _attrs: object, consent: list[tuple[str, bool]]
    ) -> str | None:
        flag = parse_bool(value)
        if flag is None:
            return "not a yes/no value (oui/non, yes/no, true/false, 1/0)"
        consent.append((channel, flag))
        return None

    return handle


def _attr_handler(key: str, value_type: ValueType, day_first: bool) -> Handler:
    def handle(
        value: str, _record: list[Any], attrs: dict[str, AttrValue], *_: object
    ) -> str | None:
        attrs[key] = coerce(value, value_type, day_first=day_first)
        return None

    return handle


def generated_id(row_number: int, cells: Sequence[str]) -> str:
    """A stable external id from the row's content and number, so a re-import finds the row."""
    digest = hashlib.sha256(f"{row_number}\x1f".encode())
    digest.update("\x1f".join(cells).encode())
    return f"gen-{digest.hexdigest()[:24]}"
