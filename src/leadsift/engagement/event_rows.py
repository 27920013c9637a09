"""Rows of an event file as raw events (the shape `POST /api/v1/events` takes); pure.

Columns named like an event field (type, contact_id, email, phone, external_id, anonymous_id,
occurred_at, source, campaign, utm_*, idempotency_key; case, spaces and hyphens do not matter)
fill that field; every other column is a property (a `properties.` prefix is dropped, and a
`properties` column may hold a JSON object per row). A CSV property column is typed by all of
its values, as contact attributes are: integers, numbers or yes/no words when every non-empty
cell is one, else text kept as written; an empty cell leaves the property out. JSON Lines
values keep their JSON types. Empty cells and nulls leave an event field out; a row naming its
contact several ways is matched on the first of contact_id, email, phone, external_id.

A row without `occurred_at` is dated at the import; without an idempotency key too, it gets a
key derived from its content and how many identical rows came before it in the file, so
re-importing the file stores it once and two identical rows stay two events.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

from leadsift.contacts.values import ValueType, classify, coerce, join_types
from leadsift.engagement.criteria_fields import EXTRA_FIELDS
from leadsift.errors import ImportFileError

REFERENCES: Final = ("contact_id", "email", "phone", "external_id")
EVENT_FIELDS: Final = frozenset(
    ("type", *REFERENCES, "anonymous_id", "occurred_at", "idempotency_key", *EXTRA_FIELDS)
)
PROPERTIES: Final = "properties"
DERIVED_KEY_PREFIX: Final = "row:"
_SEPARATORS = re.compile(r"[\s-]+")
_CONTACT_ID = re.compile(r"[1-9][0-9]{0,17}")


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one row of the file is not an event (before any check of the event itself)."""

    code: str
    message: str


def field_name(header: str) -> str:
    """The event field a header names, if it names one: `Occurred At` → `occurred_at`."""
    return _SEPARATORS.sub("_", header.strip().lower())


def property_name(header: str) -> str:
    """The property a column fills: the header as written, without a `properties.` prefix."""
    name = header.strip()
    return name[len(PROPERTIES) + 1 :] if name.lower().startswith(PROPERTIES + ".") else name


@dataclass(frozen=True)
class EventColumns:
    """Which cell fills which event field or property."""

    fields: tuple[tuple[int, str], ...]
    properties: tuple[tuple[int, str], ...]
    properties_json: int | None  # a `properties` column: one JSON object per row

    @classmethod
    def plan(cls, name: str, headers: tuple[str, ...]) -> EventColumns:
        """Map the headers; a file without a type or a contact column is refused."""
        fields, properties, properties_json = [], [], None
        for index, header in enumerate(headers):
            key = field_name(header)
            if key in EVENT_FIELDS:
                fields.append((index, key))
            elif key == PROPERTIES:
                properties_json = index
            else:
                properties.append((index, property_name(header)))
        _check_unique(name, headers, fields, properties)
        named = {key for _, key in fields}
        if "type" not in named:
            raise ImportFileError(
                f"{name}: no `type` column — add one naming each event (page_view, …)"
            )
        if not named & {*REFERENCES, "anonymous_id"}:
            raise ImportFileError(
                f"{name}: no column names the contact — add contact_id, email, phone, "
                "external_id or anonymous_id"
            )
        return cls(tuple(fields), tuple(properties), properties_json)


def _check_unique(
    name: str,
    headers: tuple[str, ...],
    fields: list[tuple[int, str]],
    properties: list[tuple[int, str]],
) -> None:
    """Two columns filling the same field or property would silently drop one of them."""
    seen: dict[str, int] = {}
    for index, key in [*fields, *((i, f"{PROPERTIES}.{p}") for i, p in properties)]:
        if key in seen:
            raise ImportFileError(
                f"{name}: columns {headers[seen[key]]!r} and {headers[index]!r} both fill "
                f"{key} — rename or delete one of them"
            )
        seen[key] = index


def property_kind(text: str) -> ValueType:
    """The type one non-empty cell fits; dates stay text (a time and its zone must survive)."""
    kind = classify(text)
    return "text" if kind == "date" else kind


class PropertyTypes:
    """The type of each property column, from every value of the file."""

    def __init__(self, columns: EventColumns) -> None:
        self.types: dict[int, ValueType] = {}
        self.open = {index for index, _ in columns.properties}

    def observe(self, cells: list[str]) -> None:
        """Widen the open columns' types by one row's cells."""
        for index in tuple(self.open):
            text = cells[index].strip()
            if text:
                kind = join_types(self.types.get(index), property_kind(text))
                self.types[index] = kind
                if kind == "text":
                    self.open.discard(index)  # nothing can widen it further

    @property
    def settled(self) -> bool:
        """Whether every column is text already (the rest of the file cannot change a type)."""
        return not self.open


@dataclass(frozen=True)
class Defaults:
    """Field values for rows that give none (`--source`, `--campaign`)."""

    source: str | None = None
    campaign: str | None = None

    def apply(self, event: dict[str, Any]) -> None:
        """Fill the source and campaign a row left empty."""
        if self.source is not None:
            event.setdefault("source", self.source)
        if self.campaign is not None:
            event.setdefault("campaign", self.campaign)


def _one_reference(event: dict[str, Any], names: tuple[str, ...] = REFERENCES) -> None:
    """Keep the first of contact_id, email, phone, external_id (of NAMES) the row fills."""
    kept = False
    for name in names:
        if name in event:
            if kept:
                del event[name]
            kept = True


def _contact_id(text: str) -> int | RowError:
    if _CONTACT_ID.fullmatch(text):
        return int(text)
    return RowError(
        "invalid_event", f"contact_id: {text!r} is not a contact id (a whole number above 0)"
    )


def _merge(properties: dict[str, Any], more: Any, where: str) -> RowError | None:
    if not isinstance(more, dict):
        kind = "null" if more is None else type(more).__name__
        return RowError("invalid_event", f"{where}: expected a JSON object, got {kind}")
    twice = sorted(set(properties) & set(more))
    if twice:
        return RowError(
            "invalid_event", f"property {twice[0]!r} is given twice — keep one of the two"
        )
    properties.update(more)
    return None


class CsvRows:
    """Cells of a CSV or XLSX row → a raw event, with the columns' property types."""

    def __init__(
        self, columns: EventColumns, types: dict[int, ValueType], defaults: Defaults
    ) -> None:
        self.fields = columns.fields
        self.properties_json = columns.properties_json
        # The reference columns the file has, in order of preference; one needs no choice.
        named = {name for _, name in columns.fields}
        self.references = tuple(name for name in REFERENCES if name in named)
        # Converters of typed columns; text columns keep the cell as written.
        self.properties = tuple(
            (index, name, types.get(index, "text")) for index, name in columns.properties
        )
        self.defaults = defaults

    def event(self, cells: list[str]) -> dict[str, Any] | RowError:
        """The raw event one row says, or why it cannot say one."""
        event: dict[str, Any] = {}
        for index, name in self.fields:
            text = cells[index].strip()
            if text:
                event[name] = text
        properties: dict[str, Any] = {}
        for index, name, kind in self.properties:
            text = cells[index].strip()
            if text:
                properties[name] = text if kind == "text" else coerce(text, kind)
        if self.properties_json is not None and (text := cells[self.properties_json].strip()):
            problem = _json_properties(properties, text)
            if problem is not None:
                return problem
        if "contact_id" in event:
            contact_id = _contact_id(event["contact_id"])
            if isinstance(contact_id, RowError):
                return contact_id
            event["contact_id"] = contact_id
        if len(self.references) > 1:
            _one_reference(event, self.references)
        self.defaults.apply(event)
        event[PROPERTIES] = properties
        return event


def _json_properties(properties: dict[str, Any], text: str) -> RowError | None:
    try:
        more = json.loads(text)
    except ValueError as exc:
        return RowError("invalid_event", f"properties: not valid JSON ({exc})")
    return _merge(properties, more, "properties")


def json_event(obj: dict[str, Any], defaults: Defaults) -> dict[str, Any] | RowError:
    """One JSON Lines object → a raw event; values keep their JSON types."""
    event: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    nested: Any = None
    for key, value in obj.items():
        name = field_name(key)
        if name in EVENT_FIELDS:
            if value is not None and value != "":
                event[name] = value
        elif name == PROPERTIES:
            nested = value
        else:
            label = property_name(key)
            if label in properties:
                return RowError("invalid_event", f"property {label!r} is given twice")
            properties[label] = value
    if nested is not None:
        problem = _merge(properties, nested, "properties")
        if problem is not None:
            return problem
    _one_reference(event)
    defaults.apply(event)
    event[PROPERTIES] = properties
    return event


class DerivedKeys:
    """Idempotency keys for rows with neither a time nor a key, stable across re-imports."""

    def __init__(self) -> None:
        self.seen: Counter[bytes] = Counter()

    def assign(self, event: dict[str, Any]) -> bool:
        """Give EVENT a key from its content when it needs one; say whether it was dated."""
        if "occurred_at" in event:
            return True
        if "idempotency_key" not in event:
            content = json.dumps(event, sort_keys=True, ensure_ascii=False, default=str)
            digest = hashlib.sha256(content.encode("utf-8")).digest()
            # The n-th identical row is the n-th event: identical rows stay distinct events.
            occurrence = self.seen[digest]
            self.seen[digest] += 1
            key = hashlib.sha256(digest + str(occurrence).encode("ascii")).hexdigest()[:32]
            event["idempotency_key"] = DERIVED_KEY_PREFIX + key
        return False
