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

from leadsift.contacts.fields import RECORD_COLUMNS, RECORD_POSITION
from leadsift.contacts.normalise import NormalisedRow, Rejection, RowTuple, encode_json

Values = dict[str, Any]  # RECORD_COLUMNS keys; attrs decoded to a dict
StoredContact = tuple[int, tuple[Any, ...], "int | None"]  # (id, record, created_batch_id)
_EMAIL, _PHONE = RECORD_POSITION["email"], RECORD_POSITION["phone"]
_EXTERNAL_ID = RECORD_POSITION["external_id"]
_EMPTY_ATTRS = "{}"


def record_to_values(record: Sequence[Any]) -> Values:
    """A storage-ready record as a dict (attributes decoded)."""
    values = dict(zip(RECORD_COLUMNS, record, strict=True))
    attrs = values["attrs"]
    values["attrs"] = {} if attrs == _EMPTY_ATTRS else json.loads(attrs)
    return values


def values_to_record(values: Mapping[str, Any]) -> tuple[Any, ...]:
    """A dict back to a storage-ready record."""
    return (
        *(values.get(name) for name in RECORD_COLUMNS[:-1]),
        encode_json(values.get("attrs") or {}),
    )


@dataclass
class Target:
    """A contact that rows merge into: one already stored, or a new one of this chunk."""

    decoded: Values | None  # the contact as a dict, built on first need
    consent: dict[str, bool]
    contact_id: int | None = None  # stored contacts
    position: int | None = None  # new contacts: index in ChunkPlan.new_records
    created_by_this_batch: bool = False
    changed: Values = field(default_factory=dict)
    stored: tuple[Any, ...] | None = None  # the stored record, to spot rows that add nothing

    @property
    def values(self) -> Values:
        """The contact as a dict (decoded from the stored record the first time)."""
        if self.decoded is None:
            self.decoded = record_to_values(self.stored or ())
        return self.decoded

    def identifiers(self) -> tuple[Any, Any, Any]:
        """Email, phone and external id, without decoding the record."""
        if self.decoded is None and self.stored is not None:
            return self.stored[_EMAIL], self.stored[_PHONE], self.stored[_EXTERNAL_ID]
        values = self.values
        return values.get("email"), values.get("phone"), values.get("external_id")


@dataclass
class ChunkPlan:
    """What to write for one chunk, and how each row was counted."""

    new_records: list[tuple[Any, ...]] = field(default_factory=list)
    new_consent: list[tuple[tuple[str, bool], ...]] = field(default_factory=list)
    updated: list[Target] = field(default_factory=list)
    befores: list[tuple[int, Values]] = field(default_factory=list)
    consent: list[tuple[Target, str, bool]] = field(default_factory=list)
    # Consent stated for contacts stored before this import: (contact, channel, flag, flag
    # before the import). Written once per contact and channel when the import ends, and only
    # if the file's last word differs, so re-importing a file never flips the ledger.
    stored_consent: list[tuple[int, str, bool, bool | None]] = field(default_factory=list)
    updated_ids: set[int] = field(default_factory=set)
    rejections: list[Rejection] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    # The planner's state, for the next chunk (see Carry): identifier -> new-record position or
    # Target, the new records that became Targets, the stored contacts it held.
    indexes: tuple[dict[Any, Target | int], ...] = ()
    promoted: dict[int, Target] = field(default_factory=dict)
    held: set[int] = field(default_factory=set)

    def consent_rows(self, ids: Sequence[int]) -> list[tuple[int, str, bool]]:
        """Consent rows to append, once the new contacts have their IDS."""
        rows = [
            (ids[position], channel, granted)
            for position, flags in enumerate(self.new_consent)
            for channel, granted in flags
        ]
        for target, channel, granted in self.consent:
            contact_id = target.contact_id if target.position is None else ids[target.position]
            if contact_id is not None:
                rows.append((contact_id, channel, granted))
        return rows


@dataclass(frozen=True)
class Carry:
    """A planned chunk whose writes may still be running when the next chunk is planned.

    The next chunk's look-ups do not see it, so the planner takes its contacts from here: the
    contacts it created (with the ids reserved for them) and the stored ones it held, in their
    state after the chunk. The database's copy of a held contact is stale and is ignored.
    """

    plan: ChunkPlan
    ids: Sequence[int]  # ids of plan.new_records

    def stale(self, contact_id: int) -> bool:
        """Whether the database's copy of CONTACT_ID predates the carried chunk."""
        return contact_id in self.plan.held

    def target(self, index: int, value: Any) -> tuple[int, Target] | None:
        """A fresh Target for the contact owning VALUE in the carried chunk, with its id."""
        plan = self.plan
        entry = plan.indexes[index].get(value)
        if entry is None:
            return None
        source = plan.promoted.get(entry) if isinstance(entry, int) else entry
        position = entry if isinstance(entry, int) else entry.position
        if position is not None:
            consent = source.consent if source is not None else plan.new_consent[position]
            record = plan.new_records[position]  # the final record, merges folded in
            contact_id = self.ids[position]
            return contact_id, Target(None, dict(consent), contact_id, None, True, stored=record)
        assert source is not None and source.contact_id is not None  # noqa: S101
        decoded = None if source.decoded is None else dict(source.decoded)
        return source.contact_id, Target(
            decoded,
            dict(source.consent),
            source.contact_id,
            None,
            source.created_by_this_batch,
            stored=source.stored,
        )


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
        existing: Sequence[StoredContact],
        consent_state: Mapping[tuple[int, str], bool],
        *,
        batch_id: int,
        overwrite: bool,
        recorded: set[int],
        headers: Mapping[str, str] | None = None,
        carry: Carry | None = None,
    ) -> None:
        self.plan = ChunkPlan()
        self.carry = carry
        self.taken: set[int] = set()  # contacts of the carried chunk already made Targets
        no_carry: tuple[dict[Any, Target | int], ...] = ({}, {}, {})
        self.carried_email, self.carried_phone, self.carried_external = (
            carry.plan.indexes if carry is not None else no_carry
        )
        self.overwrite = overwrite
        self.recorded = recorded  # contacts whose pre-batch values are already saved
        self.headers = headers or {}  # field -> the file's header, for rejection reports
        # identifier value -> a Target, or the position of a new record nobody merged into yet
        self.by_email: dict[Any, Target | int] = {}
        self.by_phone: dict[Any, Target | int] = {}
        self.by_external: dict[Any, Target | int] = {}
        self.promoted: dict[int, Target] = {}
        consent_by_contact: dict[int, dict[str, bool]] = {}
        for (contact_id, channel), granted in consent_state.items():
            consent_by_contact.setdefault(contact_id, {})[channel] = granted
        for contact_id, record, created_batch_id in existing:
            if carry is not None and carry.stale(contact_id):
                continue
            self.plan.held.add(contact_id)
            target = Target(
                None,
                consent_by_contact.get(contact_id, {}),
                contact_id=contact_id,
                created_by_this_batch=created_batch_id == batch_id,
                stored=record,
            )
            self._register(target)

    def _indexes(self) -> tuple[tuple[str, dict[Any, Target | int]], ...]:
        return (
            ("email", self.by_email),
            ("phone", self.by_phone),
            ("external_id", self.by_external),
        )

    def _register(self, target: Target) -> None:
        for (_, index), value in zip(self._indexes(), target.identifiers(), strict=True):
            if value is not None:
                index[value] = target

    def add(self, row: RowTuple) -> None:
        """Place one row; rows that match nobody take the fast path (no object is built)."""
        _, email, phone, external_id, record, consent = row
        if (
            email not in self.by_email  # None is never a key
            and phone not in self.by_phone
            and external_id not in self.by_external
            and email not in self.carried_email
            and phone not in self.carried_phone
            and external_id not in self.carried_external
        ):
            # Inlined _create(): this runs for nearly every row of an import.
            position = len(self.plan.new_records)
            self.plan.new_records.append(record)
            self.plan.new_consent.append(consent)
            if email is not None:
                self.by_email[email] = position
            if phone is not None:
                self.by_phone[phone] = position
            if external_id is not None:
                self.by_external[external_id] = position
            return
        matches: list[tuple[str, Target]] = []
        for number, (name, index) in enumerate(self._indexes()):
            value = row[number + 1]
            target = self._find(number, index, value) if value is not None else None
            if target is not None and all(target is not t for _, t in matches):
                matches.append((name, target))
        if not matches:
            self._create(row)  # the carried contact no longer owns the identifier
            return
        if len(matches) > 1:
            self._conflict(NormalisedRow._make(row), matches)
            return
        target = matches[0][1]
        if record == target.stored and not target.created_by_this_batch:
            # The row says exactly what is stored (a re-import): no dict, no field-by-field merge.
            self.plan.counts["unchanged"] += 1
            self._apply_consent(target, NormalisedRow._make(row))
            return
        self._merge(NormalisedRow._make(row), target)

    def _create(self, row: RowTuple) -> None:
        _, email, phone, external_id, record, consent = row
        position = len(self.plan.new_records)
        self.plan.new_records.append(record)
        self.plan.new_consent.append(consent)
        if email is not None:
            self.by_email[email] = position
        if phone is not None:
            self.by_phone[phone] = position
        if external_id is not None:
            self.by_external[external_id] = position

    def _find(self, number: int, index: dict[Any, Target | int], value: Any) -> Target | None:
        """The contact owning VALUE: of this chunk, stored, or of the carried chunk."""
        found = index.get(value)
        if found is not None:
            return self._promote(found) if isinstance(found, int) else found
        if self.carry is None:
            return None
        taken = self.carry.target(number, value)
        if taken is None or taken[0] in self.taken:
            return None  # taken already: this chunk's indexes say what it owns now
        contact_id, target = taken
        self.taken.add(contact_id)
        self.plan.held.add(contact_id)
        self._register(target)
        return target

    def _promote(self, position: int) -> Target:
        """Turn a new record into a Target the first time a later row merges into it."""
        target = self.promoted.get(position)
        if target is None:
            values = record_to_values(self.plan.new_records[position])
            consent = dict(self.plan.new_consent[position])
            target = Target(values, consent, position=position, created_by_this_batch=True)
            self.promoted[position] = target
        return target

    def _conflict(self, row: NormalisedRow, matches: list[tuple[str, Target]]) -> None:
        fields = row.fields
        described = " and ".join(
            f"{name} {fields[name]} belongs to "
            + (f"contact {t.contact_id}" if t.contact_id is not None else "an earlier row")
            for name, t in matches
        )
        second = matches[1][0]
        self.plan.rejections.append(
            Rejection(
                row.row_number,
                "identity_conflict",
                self.headers.get(second, second),
                str(fields[second]),
                f"{described}; fix the row or merge those contacts",
            )
        )

    def _merge(self, row: NormalisedRow, target: Target) -> None:
        values = target.values
        changed = merge_row(values, row, overwrite=self.overwrite)
        self._apply_consent(target, row)
        if target.created_by_this_batch:
            self.plan.counts["merged"] += 1
        elif changed:
            self.plan.counts["updated"] += 1
            if target.contact_id is not None:
                self.plan.updated_ids.add(target.contact_id)
        else:
            self.plan.counts["unchanged"] += 1  # consent-only changes are counted at the end
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
        for name, index in self._indexes():
            if name in changed and values.get(name) is not None:
                index.pop(values[name], None)
        values.update(changed)
        target.changed.update(changed)
        target.stored = None
        self._register(target)

    def _apply_consent(self, target: Target, row: NormalisedRow) -> None:
        if target.contact_id is not None and not target.created_by_this_batch:
            for channel, granted in row.consent:
                before = target.consent.get(channel)
                self.plan.stored_consent.append((target.contact_id, channel, granted, before))
            return
        for channel, granted in row.consent:
            if target.consent.get(channel) != granted:
                target.consent[channel] = granted
                self.plan.consent.append((target, channel, granted))

    def finish(self) -> ChunkPlan:
        """Fold merged values back into the new records and count the rows created."""
        for position, target in self.promoted.items():
            self.plan.new_records[position] = values_to_record(target.values)
        self.plan.counts["created"] += len(self.plan.new_records)
        self.plan.indexes = (self.by_email, self.by_phone, self.by_external)
        self.plan.promoted = self.promoted
        return self.plan


def plan_chunk(
    rows: Sequence[RowTuple],
    existing: Sequence[StoredContact],
    consent_state: Mapping[tuple[int, str], bool],
    *,
    batch_id: int,
    overwrite: bool,
    recorded: set[int],
    headers: Mapping[str, str] | None = None,
    carry: Carry | None = None,
) -> ChunkPlan:
    """Plan the writes for a chunk of valid rows against the contacts they may match."""
    planner = ChunkPlanner(
        existing,
        consent_state,
        batch_id=batch_id,
        overwrite=overwrite,
        recorded=recorded,
        headers=headers,
        carry=carry,
    )
    add = planner.add
    for row in rows:
        add(row)
    return planner.finish()
