"""Contact import, undo and look-ups; services flush, the entrypoint commits."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import phonenumbers
from sqlalchemy.orm import Session

from leadsift.config import Settings
from leadsift.contacts import bulk_repository, repository
from leadsift.contacts.bulk_repository import ChunkWrites
from leadsift.contacts.known_keys import KnownKeys
from leadsift.contacts.mapping import ColumnPlan, mapping_record, plan_columns
from leadsift.contacts.merging import Carry, ChunkPlan, StoredContact, plan_chunk
from leadsift.contacts.models import AttributeDefinition, ImportBatch
from leadsift.contacts.normalise import Rejection, RowNormaliser, RowTuple
from leadsift.contacts.pipeline import Background, TypeInference, normalised_chunks
from leadsift.contacts.reading import TableReader, open_table
from leadsift.contacts.schemas import ImportOptions, ImportSummary, UndoSummary
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
    with_consent: bool = False  # the file has consent columns


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


def _consent_of_matches(
    session: Session, run: _Run, existing: Sequence[StoredContact]
) -> dict[tuple[int, str], bool]:
    """Current consent of the stored contacts the chunk may meet, when the file states any.

    All of them, not only those owning an identifier of a row with consent flags: a row may
    reach a contact through an identifier an earlier row gave it, and a contact's state is
    carried to the next chunk's rows.
    """
    if not existing or not run.with_consent:
        return {}
    return bulk_repository.current_consent(session, [stored[0] for stored in existing])


def _split(chunk: Sequence[RowTuple | Rejection]) -> tuple[list[RowTuple], list[Rejection]]:
    # Valid rows arrive as plain tuples (see RowNormaliser.normalise_plain).
    valid = cast(list[RowTuple], [item for item in chunk if type(item) is tuple])
    return valid, [item for item in chunk if isinstance(item, Rejection)]


def _plan(
    session: Session,
    run: _Run,
    valid: Sequence[RowTuple],
    wanted: dict[str, list[str]],
    *,
    carry: Carry | None,
    writer: Background,
) -> ChunkPlan:
    """Look up what the chunk's rows may match, start writing the previous chunk, plan."""
    existing = bulk_repository.find_by_identifiers(session, **wanted)
    if carry is not None:
        # The previous chunk is not written yet: its contacts come from the carry.
        existing = [stored for stored in existing if not carry.stale(stored[0])]
    consent = _consent_of_matches(session, run, existing)
    if carry is not None:
        writes = ChunkWrites.of(carry.plan, carry.ids)
        writer.start(bulk_repository.write_chunk, session, run.batch.id, writes)
    return plan_chunk(
        valid,
        existing,
        consent,
        batch_id=run.batch.id,
        overwrite=run.options.update,
        recorded=run.recorded,
        headers=run.headers,
        carry=carry,
    )


def _account(
    run: _Run, plan: ChunkPlan, rows: int, on_rejections: RejectionsCallback | None
) -> None:
    """Count a planned chunk and note the consent it states for contacts stored before."""
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
    rejected = plan.rejections
    run.counts["rows"] += rows
    run.counts["rejected"] += len(rejected)
    run.reasons.update(r.reason for r in rejected)
    if on_rejections is not None and rejected:
        on_rejections(rejected)


def _reserved(session: Session, carry: Carry | None) -> Carry | None:
    """The carried chunk with ids for its new contacts, reserved now that they are final."""
    if carry is None:
        return None
    ids = bulk_repository.reserve_contact_ids(session, len(carry.plan.new_records))
    return Carry(carry.plan, ids)


def _import_chunks(
    session: Session,
    run: _Run,
    chunks: Iterable[Sequence[RowTuple | Rejection]],
    on_chunk: Callable[[], None],
    on_rejections: RejectionsCallback | None,
) -> None:
    """Plan each chunk while the previous one is written (see Carry): on PostgreSQL in a thread
    (the server works while this process plans; the driver waits without holding the GIL), on
    SQLite inline (the database works in this process, and its connection is this thread's)."""
    writer = Background(threaded=session.get_bind().dialect.name == "postgresql")
    carry: Carry | None = None
    try:
        for chunk in chunks:
            valid, rejected = _split(chunk)
            wanted = run.known.wanted(valid)
            writer.wait()  # the chunk before the previous one is in: the look-ups see it
            plan = _plan(
                session, run, valid, wanted, carry=_reserved(session, carry), writer=writer
            )
            # Every rejected row of the chunk, in file order: what the writer stores.
            plan.rejections = sorted([*rejected, *plan.rejections], key=lambda r: r.row_number)
            _account(run, plan, len(chunk), on_rejections)
            carry = Carry(plan, ())
            on_chunk()
        writer.wait()
        last = _reserved(session, carry)
        if last is not None:
            writes = ChunkWrites.of(last.plan, last.ids)
            writer.start(bulk_repository.write_chunk, session, run.batch.id, writes)
            writer.wait()
    finally:
        writer.close()


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
        run.with_consent = any(p.kind == "consent" for p in plans)
        chunks = normalised_chunks(
            reader,
            normaliser,
            chunk_rows=settings.import_chunk_rows,
            workers=_workers(options, settings, reader),
        )

        def on_chunk() -> None:
            if progress is not None:
                progress(reader.bytes_read(), info.size_bytes)

        # closing(): on an error the worker pool is shut down here, not by the garbage collector.
        with closing(chunks):
            _import_chunks(session, run, chunks, on_chunk, on_rejections)
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


def check_region(region: str) -> str:
    """Validate a --default-region code."""
    if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInputError(
            f"--default-region {region!r}: use a two-letter country code such as FR"
        )
    return region.upper()


def contacts_of_batch(session: Session, batch_id: int) -> list[int]:
    """The ids of the contacts an import batch created or changed."""
    return repository.batch_contact_ids(session, batch_id)
