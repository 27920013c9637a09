"""The allow-list of fields an expression may name, with their types; one registry, pure."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from leadsift.criteria.ast import Field
from leadsift.criteria.errors import CriteriaError

# `any` is a field whose type is given by the literal it is compared with (event properties).
ValueType = Literal["text", "integer", "number", "boolean", "date", "datetime", "any"]
# How a field is read: a column of the row, a key of its custom attributes, the current consent
# of a channel, the age (birth date when known, else the imported age), a stored score, a key
# of an event's properties, or an aggregate over the contact's events.
# `prediction`: like a score, but unknown (null) until the contact has been predicted.
FieldKind = Literal[
    "column", "attribute", "consent", "age", "score", "prediction", "property", "aggregate"
]
ATTRIBUTE_PREFIX = "attrs."
PROPERTY_PREFIX = "properties."
# Aggregate functions over a contact's events and the type of their value.
AGGREGATE_TYPES: dict[str, ValueType] = {"count": "integer", "last": "datetime"}


@dataclass(frozen=True)
class FieldSpec:
    """One field an expression may use: its name, type, how it is read, allowed values."""

    name: str
    value_type: ValueType
    kind: FieldKind
    key: str
    choices: tuple[str, ...] = ()
    description: str = field(default="", compare=False)


@dataclass(frozen=True)
class FieldRegistry:
    """Every field an expression may name; later domains add theirs with `extended`.

    `properties` allows `properties.<key>` (an event's free-form properties, typed by the literal
    they are compared with); `events` is the registry of event fields, given when the
    expression may use aggregates over a contact's events (`count(…)`, `last(…)`).
    """

    fields: Mapping[str, FieldSpec]
    properties: bool = False
    events: FieldRegistry | None = None

    @classmethod
    def of(
        cls,
        specs: Iterable[FieldSpec],
        *,
        properties: bool = False,
        events: FieldRegistry | None = None,
    ) -> FieldRegistry:
        """A registry of these fields, custom attributes also reachable by their bare key."""
        table: dict[str, FieldSpec] = {}
        attributes: list[FieldSpec] = []
        for spec in specs:
            table[spec.name] = spec
            if spec.kind == "attribute":
                attributes.append(spec)
        for spec in attributes:
            table.setdefault(spec.key, spec)  # bare `job` only when no standard field is `job`
        return cls(table, properties, events)

    def extended(
        self, specs: Iterable[FieldSpec], *, events: FieldRegistry | None = None
    ) -> FieldRegistry:
        """This registry plus more fields (scores), and event aggregates when EVENTS is given."""
        return FieldRegistry.of(
            [*self.fields.values(), *specs],
            properties=self.properties,
            events=events or self.events,
        )

    def resolve(self, ref: Field) -> FieldSpec:
        """The field an expression names, or an error suggesting the closest known name."""
        spec = self.fields.get(ref.name) or self.fields.get(ref.name.lower())
        if spec is not None:
            return spec
        if self.properties and ref.name.startswith(PROPERTY_PREFIX):
            key = ref.name[len(PROPERTY_PREFIX) :]
            if "." in key:
                raise CriteriaError(
                    f"'{ref.name}': only top-level properties can be used "
                    f"(e.g. {PROPERTY_PREFIX}path)",
                    ref.at,
                    ref.name,
                )
            return FieldSpec(ref.name, "any", "property", key)
        raise CriteriaError(self._unknown(ref.name), ref.at, ref.name)

    def _unknown(self, name: str) -> str:
        names = list(self.fields)
        if name.startswith(ATTRIBUTE_PREFIX):
            # Compare keys only: the shared prefix would make any attribute look close.
            keys = [n[len(ATTRIBUTE_PREFIX) :] for n in names if n.startswith(ATTRIBUTE_PREFIX)]
            close = difflib.get_close_matches(name[len(ATTRIBUTE_PREFIX) :].lower(), keys, n=1)
            if close:
                return f"unknown field '{name}' — did you mean '{ATTRIBUTE_PREFIX}{close[0]}'?"
        else:
            close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.6)
            if close:
                return f"unknown field '{name}' — did you mean '{close[0]}'?"
        if name.startswith(ATTRIBUTE_PREFIX):
            known = sorted(n for n in names if n.startswith(ATTRIBUTE_PREFIX))
            listed = ", ".join(known[:8]) if known else "none imported yet"
            return f"unknown attribute '{name}' (known attributes: {listed})"
        return f"unknown field '{name}'; `leadsift contacts fields` lists them"

    def names(self) -> list[str]:
        """Every name an expression may use, sorted."""
        return sorted(self.fields)


def attribute_specs(types: Mapping[str, str]) -> list[FieldSpec]:
    """Fields for custom attributes given their inferred types (`attrs.<key>`)."""
    return [
        FieldSpec(f"{ATTRIBUTE_PREFIX}{key}", _attribute_type(value_type), "attribute", key)
        for key, value_type in sorted(types.items())
    ]


def _attribute_type(value_type: str) -> ValueType:
    if value_type in ("integer", "number", "boolean", "date"):
        return value_type  # type: ignore[return-value]
    return "text"
