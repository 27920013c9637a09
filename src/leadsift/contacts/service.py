"""Contact import, undo and look-ups; services flush, the entrypoint commits."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import phonenumbers
from sqlalchemy.orm import Session

from leadsift.config import Settings
from leadsift.contacts import bulk_repository, repository
from leadsift.contacts.known_keys import KnownKeys
from leadsift.contacts.mapping import ColumnPlan, mapping_record, plan_columns
from leadsift.contacts.merging import ChunkPlan, StoredContact, plan_chunk
from leadsift.contacts.models import AttributeDefinition, ImportBatch
from leadsift.contacts.normalise import Rejection, RowNormaliser, RowTuple
from leadsift.contacts.pipeline import TypeInference, normalised_chunks
from leadsift.contacts.reading import TableReader, open_table
from leadsift.contacts.schemas import ContactView, ImportOptions, ImportSummary, UndoSummary
from leadsift.contacts.validators import normalise_email, normalise_phone
from leadsift.contacts.values import ValueType, join_types
from leadsift.errors import ConflictError, InvalidInputError, NotFoundError
from leadsift.kit.clock import utcnow

ProgressCallback = Callable[[int, int], None]
RejectionsCallback = Callable[[Sequence[Rejection]], None]


@dataclass
class _Run:
    """Mutable state of one import run."""

    batch: ImportBatch
    options: ImportOptions
    headers: dict[str, str] = field(default_factory=dict)  # field -> header
    counts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    recorded: set[int] = field(default_factory=set)
    known: KnownKeys = field(default_factory=lambda: KnownKeys(None))
    consent_final: dict[tuple[int, str], bool] = field(default_factory=dict)
    consent_before: dict[tuple[int, str], bool | None] = field(default_factory=dict)
    updated_ids: set[int] = field(default_factory=set)


def _attribute_types(
    session: Session,
    path: Path,
    options: ImportOptions,
    plans: Sequence[ColumnPlan],
    day_first: bool,
) -> dict[str, ValueType]:
    """Infer each attribute column's type over the whole file, widened by earlier imports."""
    columns = {plan.index: plan.target for plan in plans if plan.kind == "attr"}
    if not columns:
        return {}
    inference = TypeInference(columns, day_first=day_first)
    with open_table(path, encoding=options.encoding) as reader:
        for _, cells in reader.rows():
            inference.observe(cells)
            if not inference.columns:
                break
    existing = repository.attribute_definitions(session)
    types: dict[str, ValueType] = {}
    for key in columns.values():
        inferred: ValueType = inference.types.get(key, "text")
        known = existing.get(key)
        types[key] = join_types(known.value_type, inferred) if known else inferred  # type: ignore[arg-type]
    return types


def _save_definitions(
    session: Session, plans: Sequence[ColumnPlan], types: dict[str, ValueType], batch_id: int
) -> None:
    existing = repository.attribute_definitions(session)
    for plan in plans:
        if plan.kind != "attr":
            continue
        known = existing.get(plan.target)
        if known is None:
            session.add(
                AttributeDefinition(
                    key=plan.target,
                    label=plan.header,
                    value_type=types[plan.target],
                    created_batch_id=batch_id,
                    created_at=utcnow(),
                )
            )
        elif known.value_type != types[plan.target]:
            known.value_type = types[plan.target]  # widened, e.g. integer -> number


def _workers(options: ImportOptions, settings: Settings, reader: TableReader) -> int:
    if options.workers is not None:
        return max(1, options.workers)
    big = reader.info.size_bytes >= settings.import_parallel_min_bytes
    return settings.import_workers if big else 1


def _write_plan(session: Session, run: _Run, plan: ChunkPlan, now: datetime) -> None:
    """Persist one chunk's decisions: new contacts, updates, undo records, consent rows."""
    batch_id = run.batch.id
    ids = bulk_repository.insert_contacts(
        session, plan.new_records, batch_id, now, want_ids=plan.needs_new_ids()
    )
    bulk_repository.update_contacts(
        session, [(t.contact_id, t.changed) for t in plan.updated if t.contact_id is not None], now
    )
    bulk_repository.insert_contact_changes(session, batch_id, plan.befores)
    bulk_repository.insert_consent_records(session, plan.consent_rows(ids), batch_id, now)


def _consent_of_matches(
    session: Session, existing: Sequence[StoredContact], valid: Sequence[RowTuple]
) -> dict[tuple[int, str], bool]:
    """Current consent of the stored contacts that rows carrying consent flags will meet."""
    if not existing:
        return {}
    keys = {key for row in valid if row[5] for key in row[1:4] if key is not None}
    if not keys:
        return {}
    # record[0:3] is (external_id, email, phone)
    ids = [contact_id for contact_id, record, _ in existing if keys.intersection(record[0:3])]
    return bulk_repository.current_consent(session, ids)


def _stored_contacts(
    session: Session, run: _Run, valid: Sequence[RowTuple]
) -> list[StoredContact]:
    """The stored contacts the chunk's rows may match (only keys that may be owned are asked)."""
    known = run.known
    wanted: dict[str, list[str]] = {}
    for name, position in (("emails", 1), ("phones", 2), ("external_ids", 3)):
        keys = cast(list[str], [r[position] for r in valid if r[position] is not None])
        wanted[name] = known.may_exist(keys)
        known.add(keys)
    return bulk_repository.find_by_identifiers(session, **wanted)


def _process_chunk(
    session: Session,
    run: _Run,
    chunk: Sequence[RowTuple | Rejection],
    on_rejections: RejectionsCallback | None,
) -> None:
    # Valid rows arrive as plain tuples (see RowNormaliser.normalise_plain).
    valid = cast(list[RowTuple], [item for item in chunk if type(item) is tuple])
    rejected = [item for item in chunk if isinstance(item, Rejection)]
    existing = _stored_contacts(session, run, valid)
    plan = plan_chunk(
        valid,
        existing,
        _consent_of_matches(session, existing, valid),
        batch_id=run.batch.id,
        overwrite=run.options.update,
        recorded=run.recorded,
        headers=run.headers,
    )
    rejected.extend(plan.rejections)
    rejected.sort(key=lambda r: r.row_number)
    _write_plan(session, run, plan, utcnow())
    bulk_repository.insert_rejections(session, run.batch.id, rejected)
    run.counts.update(plan.counts)
    run.updated_ids |= plan.updated_ids
    final, before_import = run.consent_final, run.consent_before
    for contact_id, channel, granted, before in plan.stored_consent:
        key = (contact_id, channel)
        if key in final:
            final[key] = granted  # the file's last word wins
        elif granted != before:
            # Only statements that change something are kept: a re-import stays small.
            final[key] = granted
            before_import[key] = before
    run.counts["rows"] += len(chunk)
    run.counts["rejected"] += len(rejected)
    run.reasons.update(r.reason for r in rejected)
    if on_rejections is not None and rejected:
        on_rejections(rejected)


def import_contacts(
    session: Session,
    path: Path,
    options: ImportOptions,
    *,
    settings: Settings | None = None,
    progress: ProgressCallback | None = None,
    on_rejections: RejectionsCallback | None = None,
) -> ImportSummary:
    """Import a contact file as one batch: validate, de-duplicate, merge, record; flushes only."""
    settings = settings or Settings()
    started = time.perf_counter()
    with open_table(path, encoding=options.encoding) as reader:
        info = reader.info
        plans = plan_columns(info.headers, options.mapping)
        day_first = options.default_region.upper() != "US"
        types = _attribute_types(session, path, options, plans, day_first)
        batch = repository.add_batch(
            session,
            ImportBatch(
                file_name=path.name,
                sha256=info.sha256,
                file_format=info.file_format,
                encoding=info.encoding,
                delimiter=info.delimiter,
                mapping=mapping_record(plans),
                options=_options_record(options),
                started_at=utcnow(),
            ),
        )
        _save_definitions(session, plans, types, batch.id)
        bulk_repository.tune_for_bulk_import(session)
        normaliser = RowNormaliser(
            tuple(plans),
            options.default_region.upper(),
            types,
            options.generate_ids,
            utcnow().date(),
        )
        stored = bulk_repository.stored_identifiers(session, settings.import_key_filter_max)
        known = KnownKeys(stored)
        headers = {p.target: p.header for p in plans if p.kind == "standard"}
        run = _Run(batch, options, headers, known=known)
        chunks = normalised_chunks(
            reader,
            normaliser,
            chunk_rows=settings.import_chunk_rows,
            workers=_workers(options, settings, reader),
        )
        # closing(): on an error the worker pool is shut down here, not by the garbage collector.
        with closing(chunks):
            for chunk in chunks:
                _process_chunk(session, run, chunk, on_rejections)
                if progress is not None:
                    progress(reader.bytes_read(), info.size_bytes)
    return _finish(session, run, time.perf_counter() - started, types)


def _options_record(options: ImportOptions) -> dict[str, Any]:
    return {
        "default_region": options.default_region,
        "generate_ids": options.generate_ids,
        "update": options.update,
        "encoding": options.encoding,
        "map": list(options.mapping),
    }


def _write_stored_consent(session: Session, run: _Run) -> None:
    """Append the consent the file changed on contacts stored before it; count those rows."""
    changes = [
        (contact_id, channel, granted)
        for (contact_id, channel), granted in run.consent_final.items()
        if run.consent_before[(contact_id, channel)] != granted
    ]
    bulk_repository.insert_consent_records(session, changes, run.batch.id, utcnow())
    # A contact whose only change was its consent had its rows counted unchanged.
    newly_updated = {contact_id for contact_id, _, _ in changes} - run.updated_ids
    run.counts["updated"] += len(newly_updated)
    run.counts["unchanged"] -= len(newly_updated)


def _finish(
    session: Session, run: _Run, seconds: float, types: dict[str, ValueType]
) -> ImportSummary:
    _write_stored_consent(session, run)
    batch = run.batch
    for name in ("rows", "created", "merged", "updated", "unchanged", "rejected"):
        setattr(batch, name, run.counts[name])
    batch.rejected_by_reason = dict(sorted(run.reasons.items()))
    batch.seconds = round(seconds, 3)
    batch.status = "completed"
    batch.finished_at = utcnow()
    session.flush()
    return ImportSummary(
        batch_id=None if run.options.dry_run else batch.id,
        file=batch.file_name,
        rows=batch.rows,
        created=batch.created,
        merged=batch.merged,
        updated=batch.updated,
        unchanged=batch.unchanged,
        rejected=batch.rejected,
        rejected_by_reason=batch.rejected_by_reason,
        seconds=batch.seconds,
        dry_run=run.options.dry_run,
        format=batch.file_format,
        encoding=batch.encoding,
        delimiter=batch.delimiter,
        mapping=batch.mapping,
        attribute_types=dict(types),
    )


def undo_import(session: Session, batch_id: int) -> UndoSummary:
    """Remove what a batch created and restore what it overwrote; only the latest batch."""
    batch = repository.get_batch(session, batch_id)
    if batch is None:
        raise NotFoundError(f"no import batch {batch_id} (see the batch_id an import printed)")
    if batch.status == "undone":
        raise ConflictError(f"import batch {batch_id} was already undone")
    later = repository.later_completed_batches(session, batch_id)
    if later:
        raise ConflictError(
            f"import batch {batch_id} is not the latest: undo batch {max(later)} first"
        )
    restored = repository.changes_of_batch(session, batch_id)
    bulk_repository.update_contacts(session, restored, utcnow())
    deleted, consent = repository.delete_batch_effects(session, batch_id)
    batch.status = "undone"
    batch.undone_at = utcnow()
    session.flush()
    return UndoSummary(
        batch_id=batch_id,
        contacts_deleted=deleted,
        contacts_restored=len(restored),
        consent_records_deleted=consent,
    )


def find_contact(session: Session, ref: str, default_region: str = "FR") -> ContactView:
    """A contact by id, email, phone (any notation) or external id."""
    ref = ref.strip()
    contact = None
    if ref.isdigit():
        contact = repository.find_contact(session, contact_id=int(ref))
    if contact is None and "@" in ref:
        contact = repository.find_contact(session, email=normalise_email(ref) or ref.lower())
    if contact is None:
        phone = normalise_phone(ref, default_region) if any(c.isdigit() for c in ref) else None
        if phone is not None:
            contact = repository.find_contact(session, phone=phone)
    if contact is None:
        contact = repository.find_contact(session, external_id=ref)
    if contact is None:
        raise NotFoundError(f"no contact matches {ref!r} (give an id, email, phone or external id)")
    view = ContactView.model_validate(contact, from_attributes=True)
    view.consent = repository.consent_of(session, contact.id)
    return view


def check_region(region: str) -> str:
    """Validate a --default-region code."""
    if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInputError(
            f"--default-region {region!r}: use a two-letter country code such as FR"
        )
    return region.upper()
