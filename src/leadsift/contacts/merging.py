"""De-duplication and merge decisions for a chunk of normalised rows; pure (no database).

Contact values travel in "record" form: RECORD_COLUMNS order, dates as ISO text, attributes as
JSON text — what the bulk insert writes. The common case (a row matching nobody) stays in that
form; only rows that meet an existing contact are turned into dicts and merged field by field.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leadsift.contacts.fields import IDENTIFIER_FIELDS, RECORD_COLUMNS
from leadsift.contacts.normalise import NormalisedRow, Rejection, encode_json

Values = dict[str, Any]  # RECORD_COLUMNS keys; attrs decoded to a dict


def record_to_values(record: Sequence[Any]) -> Values:
    """A storage-ready record as a dict (attributes decoded)."""
    values = dict(zip(RECORD_COLUMNS, record, strict=True))
    values["attrs"] = json.loads(values["attrs"])
    return values


def values_to_record(values: Mapping[str, Any]) -> tuple[Any, ...]:
    """A dict back to a storage-ready record."""
    return (*(values.get(name) for name in RECORD_COLUMNS[:-1]),
            encode_json(values.get("attrs") or {}))


@dataclass
class Target:
    """A contact a row can land on: one already stored, or one this chunk will create."""

    record: tuple[Any, ...] | None  # a new contact nobody merged into yet
    values: Values | None
    consent: dict[str, bool]
    contact_id: int | None = None  # None until a new contact gets its id
    created_by_this_batch: bool = False
    changed: Values = field(default_factory=dict)

    def as_values(self) -> Values:
        """The contact as a dict (decoding the record on first need)."""
        if self.values is None:
            self.values = record_to_values(self.record or ())
            self.record = None
        return self.values

    def as_record(self) -> tuple[Any, ...]:
        """The contact as a storage-ready record."""
        return self.record if self.record is not None else values_to_record(self.values or {})


@dataclass
class ChunkPlan:
    """What to write for one chunk, and how each row was counted."""

    new_contacts: list[Target] = field(default_factory=list)
    updated: list[Target] = field(default_factory=list)
    befores: list[tuple[int, Values]] = field(default_factory=list)
    consent: list[tuple[Target, str, bool]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def merge_row(current: Mapping[str, Any], row: NormalisedRow, *, overwrite: bool) -> Values:
    """The fields ROW changes on CURRENT: empty ones are filled; others only when OVERWRITE."""
    changed: Values = {}
    for name, value in row.fields.items():
        old = current.get(name)
        if old is None or (overwrite and old != value):
            changed[name] = value
    new_attrs = row.attrs
    if new_attrs:
        attrs = dict(current.get("attrs") or {})
        touched = False
        for key, value in new_attrs.items():
            old = attrs.get(key)
            if old is None or (overwrite and old != value):
                attrs[key] = value
                touched = True
        if touched:
            changed["attrs"] = attrs
    return changed


class ChunkPlanner:
    """Decides, row by row, whether a row creates, merges into, updates or leaves a contact."""

    def __init__(
        self,
        existing: Sequence[Values],
        consent_state: Mapping[tuple[int, str], bool],
        *,
        batch_id: int,
        overwrite: bool,
        recorded: set[int],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.plan = ChunkPlan()
        self.overwrite = overwrite
        self.recorded = recorded  # contacts whose pre-batch values are already saved
        self.headers = headers or {}  # field -> the file's header, for rejection reports
        self.created = 0
        self.index: dict[str, dict[Any, Target]] = {name: {} for name in IDENTIFIER_FIELDS}
        consent_by_contact: dict[int, dict[str, bool]] = {}
        for (contact_id, channel), granted in consent_state.items():
            consent_by_contact.setdefault(contact_id, {})[channel] = granted
        for values in existing:
            contact_id = values["id"]
            target = Target(None, dict(values), consent_by_contact.get(contact_id, {}),
                            contact_id=contact_id,
                            created_by_this_batch=values.get("created_batch_id") == batch_id)
            self._register(target, values)

    def _register(self, target: Target, values: Mapping[str, Any]) -> None:
        for name in IDENTIFIER_FIELDS:
            value = values.get(name)
            if value is not None:
                self.index[name][value] = target

    def add(self, row: NormalisedRow) -> None:
        """Place one row; rows that match nobody take the fast path."""
        by_email, by_phone, by_external = (self.index[n] for n in IDENTIFIER_FIELDS[:3])
        email, phone, external_id = row.email, row.phone, row.external_id
        if (email is None or email not in by_email) and (
            phone is None or phone not in by_phone
        ) and (external_id is None or external_id not in by_external):
            self._create(row)
            return
        matches: list[tuple[str, Target]] = []
        for name, value in (("email", email), ("phone", phone), ("external_id", external_id)):
            target = self.index[name].get(value) if value is not None else None
            if target is not None and all(target is not t for _, t in matches):
                matches.append((name, target))
        if len(matches) > 1:
            self._conflict(row, matches)
        else:
            self._merge(row, matches[0][1])

    def _conflict(self, row: NormalisedRow, matches: list[tuple[str, Target]]) -> None:
        fields = row.fields
        described = " and ".join(
            f"{name} {fields[name]} belongs to "
            + (f"contact {t.contact_id}" if t.contact_id is not None else "an earlier row")
            for name, t in matches
        )
        second = matches[1][0]
        self.plan.rejections.append(
            Rejection(row.row_number, "identity_conflict", self.headers.get(second, second),
                      str(fields[second]), f"{described}; fix the row or merge those contacts")
        )

    def _create(self, row: NormalisedRow) -> None:
        target = Target(row.record, None, dict(row.consent), created_by_this_batch=True)
        self.plan.new_contacts.append(target)
        for name, value in (("email", row.email), ("phone", row.phone),
                            ("external_id", row.external_id)):
            if value is not None:
                self.index[name][value] = target
        for channel, granted in row.consent:
            self.plan.consent.append((target, channel, granted))
        self.created += 1

    def _merge(self, row: NormalisedRow, target: Target) -> None:
        values = target.as_values()
        changed = merge_row(values, row, overwrite=self.overwrite)
        consent_changed = self._apply_consent(target, row)
        if target.created_by_this_batch:
            self.plan.counts["merged"] += 1
        elif changed or consent_changed:
            self.plan.counts["updated"] += 1
        else:
            self.plan.counts["unchanged"] += 1
        if not changed:
            return
        if target.contact_id is not None:
            if not target.created_by_this_batch and target.contact_id not in self.recorded:
                # Undo restores what the contact held before this batch touched it.
                self.recorded.add(target.contact_id)
                self.plan.befores.append(
                    (target.contact_id, {name: values.get(name) for name in changed})
                )
            if not target.changed:
                self.plan.updated.append(target)
        for name in IDENTIFIER_FIELDS:
            if name in changed and values.get(name) is not None:
                self.index[name].pop(values[name], None)
        values.update(changed)
        target.changed.update(changed)
        self._register(target, values)

    def _apply_consent(self, target: Target, row: NormalisedRow) -> bool:
        changed = False
        for channel, granted in row.consent:
            if target.consent.get(channel) != granted:
                target.consent[channel] = granted
                self.plan.consent.append((target, channel, granted))
                changed = True
        return changed


def plan_chunk(
    rows: Sequence[NormalisedRow],
    existing: Sequence[Values],
    consent_state: Mapping[tuple[int, str], bool],
    *,
    batch_id: int,
    overwrite: bool,
    recorded: set[int],
    headers: Mapping[str, str] | None = None,
) -> ChunkPlan:
    """Plan the writes for a chunk of valid rows against the contacts they may match."""
    planner = ChunkPlanner(existing, consent_state, batch_id=batch_id, overwrite=overwrite,
                           recorded=recorded, headers=headers)
    add = planner.add
    for row in rows:
        add(row)
    planner.plan.counts["created"] += planner.created
    return planner.plan
