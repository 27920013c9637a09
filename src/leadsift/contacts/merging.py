"""De-duplication and merge decisions for a chunk of normalised rows; pure (no database)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from leadsift.contacts.fields import IDENTIFIER_FIELDS
from leadsift.contacts.normalise import NormalisedRow, Rejection


@dataclass
class Target:
    """A contact a row can land on: one already stored, or one this chunk will create."""

    values: dict[str, Any]
    consent: dict[str, bool]
    contact_id: int | None = None  # None until a new contact gets its id
    new_index: int | None = None  # position in ChunkPlan.new_contacts
    created_by_this_batch: bool = False
    changed: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChunkPlan:
    """What to write for one chunk, and how each row was counted."""

    new_contacts: list[Target] = field(default_factory=list)
    updated: list[Target] = field(default_factory=list)
    befores: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    consent: list[tuple[Target, str, bool]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def _json_safe(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}


def merge_row(current: Mapping[str, Any], row: NormalisedRow, *, overwrite: bool) -> dict[str, Any]:
    """The fields ROW changes on CURRENT: empty ones are filled; others only when OVERWRITE."""
    changed: dict[str, Any] = {}
    for name, value in row.fields.items():
        old = current.get(name)
        if old is None or (overwrite and old != value):
            changed[name] = value
    if row.attrs:
        attrs = dict(current.get("attrs") or {})
        touched = False
        for key, value in row.attrs.items():
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
        existing: Sequence[dict[str, Any]],
        consent_state: Mapping[tuple[int, str], bool],
        *,
        batch_id: int,
        overwrite: bool,
        recorded: set[int],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.plan = ChunkPlan()
        self.headers = headers or {}  # field -> the file's header, for rejection reports
        self.overwrite = overwrite
        self.recorded = recorded  # contacts whose pre-batch values are already saved
        self.index: dict[tuple[str, Any], Target] = {}
        consent_by_contact: dict[int, dict[str, bool]] = {}
        for (contact_id, channel), granted in consent_state.items():
            consent_by_contact.setdefault(contact_id, {})[channel] = granted
        for values in existing:
            contact_id = values["id"]
            consent = consent_by_contact.get(contact_id, {})
            target = Target(
                dict(values),
                consent,
                contact_id=contact_id,
                created_by_this_batch=values.get("created_batch_id") == batch_id,
            )
            self._register(target)

    def _register(self, target: Target) -> None:
        for name in IDENTIFIER_FIELDS:
            value = target.values.get(name)
            if value is not None:
                self.index[(name, value)] = target

    def add(self, row: NormalisedRow) -> None:
        """Place one row."""
        matches: list[tuple[str, Target]] = []
        for name in IDENTIFIER_FIELDS:
            value = row.fields.get(name)
            target = self.index.get((name, value)) if value is not None else None
            if target is not None and all(target is not t for _, t in matches):
                matches.append((name, target))
        if len(matches) > 1:
            self._conflict(row, matches)
        elif not matches:
            self._create(row)
        else:
            self._merge(row, matches[0][1])

    def _conflict(self, row: NormalisedRow, matches: list[tuple[str, Target]]) -> None:
        described = " and ".join(
            f"{name} {row.fields[name]} belongs to "
            + (f"contact {t.contact_id}" if t.contact_id is not None else "an earlier row")
            for name, t in matches
        )
        self.plan.rejections.append(
            Rejection(
                row.row_number,
                "identity_conflict",
                self.headers.get(matches[1][0], matches[1][0]),
                str(row.fields[matches[1][0]]),
                f"{described}; fix the row or merge those contacts by hand",
            )
        )

    def _create(self, row: NormalisedRow) -> None:
        values = dict(row.fields)
        values["attrs"] = dict(row.attrs)
        target = Target(
            values, {}, new_index=len(self.plan.new_contacts), created_by_this_batch=True
        )
        self.plan.new_contacts.append(target)
        self._register(target)
        self._apply_consent(target, row)
        self.plan.counts["created"] += 1

    def _merge(self, row: NormalisedRow, target: Target) -> None:
        changed = merge_row(target.values, row, overwrite=self.overwrite)
        consent_changed = self._apply_consent(target, row)
        if target.created_by_this_batch:
            self.plan.counts["merged"] += 1
        elif changed or consent_changed:
            self.plan.counts["updated"] += 1
        else:
            self.plan.counts["unchanged"] += 1
        if not changed:
            return
        if target.contact_id is not None and not target.created_by_this_batch:
            if target.contact_id not in self.recorded:
                self.recorded.add(target.contact_id)
                before = {name: target.values.get(name) for name in changed}
                self.plan.befores.append((target.contact_id, _json_safe(before)))
            if not target.changed:
                self.plan.updated.append(target)
        elif target.contact_id is not None and not target.changed:
            self.plan.updated.append(target)  # created by an earlier chunk of this batch
        for name in IDENTIFIER_FIELDS:
            old = target.values.get(name)
            if name in changed and old is not None:
                self.index.pop((name, old), None)
        target.values.update(changed)
        target.changed.update(changed)
        self._register(target)

    def _apply_consent(self, target: Target, row: NormalisedRow) -> bool:
        changed = False
        for channel, granted in row.consent.items():
            if target.consent.get(channel) != granted:
                target.consent[channel] = granted
                self.plan.consent.append((target, channel, granted))
                changed = True
        return changed


def plan_chunk(
    rows: Sequence[NormalisedRow],
    existing: Sequence[dict[str, Any]],
    consent_state: Mapping[tuple[int, str], bool],
    *,
    batch_id: int,
    overwrite: bool,
    recorded: set[int],
    headers: Mapping[str, str] | None = None,
) -> ChunkPlan:
    """Plan the writes for a chunk of valid rows against the contacts they may match."""
    planner = ChunkPlanner(
        existing,
        consent_state,
        batch_id=batch_id,
        overwrite=overwrite,
        recorded=recorded,
        headers=headers,
    )
    for row in rows:
        planner.add(row)
    return planner.plan
