"""What the import pages need beside the import service: private uploads, the mapping preview,
and imports run in a thread whose progress any request can read.

An upload is a folder with a random name under a private root: the file (its name cleaned: the
batch records it), `.upload.json` (owner, headers), `.state.json` (the run's progress and
outcome) and `.rejected.csv` (the CLI's rejects report). Reading, mapping, validation and
normalisation are the import's own code, called here, never re-implemented.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import stat
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice
from pathlib import Path, PurePosixPath
from typing import IO, Any, Final, Literal, Protocol

from sqlalchemy.orm import Session

from leadsift.config import Settings
from leadsift.contacts import service
from leadsift.contacts.fields import CONSENT_FIELDS, RESERVED_KEYS
from leadsift.contacts.mapping import MAPPABLE_TARGETS, ColumnPlan, attribute_key, plan_columns
from leadsift.contacts.normalise import NormalisedRow, Rejection, RowNormaliser
from leadsift.contacts.pipeline import TypeInference
from leadsift.contacts.reading import TableInfo, open_table
from leadsift.contacts.schemas import ImportOptions, ImportSummary
from leadsift.db import Database
from leadsift.errors import ConfigurationError, LeadsiftError, NotFoundError, PayloadTooLargeError
from leadsift.kit.clock import utcnow

logger = logging.getLogger("leadsift.import")

PREVIEW_ROWS: Final = 10
UPLOAD_ID: Final = re.compile(r"[A-Za-z0-9_-]{32}")
KEEP_SECONDS: Final = 24 * 3600  # uploads older than this are swept away
# A run silent this long died with its process (nothing was written: one transaction).
STALE_SECONDS: Final = 15 * 60
_BLOCK: Final = 1 << 20
_UNSAFE: Final = re.compile(r"[^\w.\- ]")
NO_UPLOAD: Final = "No such upload (uploads are kept for a day): upload the file again."
STOPPED: Final = "The import stopped before it finished; nothing was written. Run it again."
UNEXPECTED: Final = "Unexpected error; see the server log."
# What follows an import in its transaction (the CLI's after_import hooks: scoring).
AfterImport = Callable[[Session, Sequence[int], datetime], object]
Phase = Literal["new", "running", "done", "failed"]


class RejectsSink(Protocol):
    """Where rejected rows go while an import runs (the CLI's RejectsWriter)."""

    def __call__(self, rejections: Sequence[Rejection]) -> None: ...
    def commit(self) -> None: ...
    def discard(self) -> None: ...


@dataclass(frozen=True)
class Upload:
    """One uploaded file in its private folder."""

    id: str
    folder: Path
    name: str
    owner: int
    headers: tuple[str, ...]

    @property
    def file(self) -> Path:
        """The uploaded file."""
        return self.folder / self.name

    @property
    def rejected(self) -> Path:
        """The rejected rows of the last finished run (the CLI's --rejects report)."""
        return self.folder / ".rejected.csv"


def private_root(configured: Path | None = None) -> Path:
    """The folder holding uploads (CONFIGURED, else one in the system temp dir), private."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    root = configured or Path(tempfile.gettempdir()) / f"leadsift-uploads-{uid}"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = root.lstat()
    # In a shared temp dir someone else may have made the folder first (or a link to theirs).
    theirs = hasattr(os, "getuid") and found.st_uid != uid
    if not stat.S_ISDIR(found.st_mode) or theirs or found.st_mode & 0o077:
        raise ConfigurationError(f"{root}: the upload folder must be this user's, mode 700")
    return root


def clean_name(filename: str | None) -> str:
    """A file name safe to store: the last part of FILENAME, odd characters replaced."""
    base = PurePosixPath((filename or "").replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base)[-120:].lstrip(". ")  # the end keeps the suffix
    return cleaned or "upload.csv"


def store_upload(
    root: Path, owner: int, filename: str | None, source: IO[bytes], max_bytes: int
) -> Upload:
    """Copy SOURCE into a new private folder and check it opens as a table (else remove it)."""
    sweep(root)
    upload_id = secrets.token_urlsafe(24)
    folder = root / upload_id
    folder.mkdir(mode=0o700)
    upload = Upload(upload_id, folder, clean_name(filename), owner, ())
    try:
        _copy(source, upload.file, max_bytes)
        # The import's eager checks: not empty, text or XLSX, named columns, a data row.
        with open_table(upload.file) as reader:
            headers = list(reader.info.headers)
        meta = {"owner": owner, "name": upload.name, "headers": headers}
        _write_json(folder / ".upload.json", meta)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Upload(upload_id, folder, upload.name, owner, tuple(headers))


def _copy(source: IO[bytes], target: Path, max_bytes: int) -> None:
    copied = 0
    with target.open("xb") as out:
        while block := source.read(_BLOCK):
            copied += len(block)
            if copied > max_bytes:
                raise PayloadTooLargeError(f"the file is over {max_bytes} bytes")
            out.write(block)


def find_upload(root: Path, upload_id: str, owner: int) -> Upload:
    """OWNER's upload UPLOAD_ID; anyone else's, or an unknown or expired one, is not found."""
    meta: dict[str, Any] = {}
    if UPLOAD_ID.fullmatch(upload_id):
        try:
            meta = json.loads((root / upload_id / ".upload.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
    if meta.get("owner") != owner:
        raise NotFoundError(NO_UPLOAD)
    return Upload(upload_id, root / upload_id, meta["name"], owner, tuple(meta["headers"]))


def sweep(root: Path, now: float | None = None) -> None:
    """Remove uploads older than a day, unless an import of theirs is still running."""
    cut = (now or time.time()) - KEEP_SECONDS
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        meta = folder / ".upload.json"
        try:
            old = meta.stat().st_mtime < cut
        except OSError:
            old = folder.stat().st_mtime < cut  # an upload that never finished
        if old and read_state(folder).phase != "running":
            shutil.rmtree(folder, ignore_errors=True)


# --- the mapping and its preview ----------------------------------------------------------


def attribute_choice(plans: Sequence[ColumnPlan], plan: ColumnPlan) -> str:
    """The 'custom attribute' target offered for PLAN's column (its own key when it is one)."""
    if plan.kind == "attr":
        return plan.describe()
    taken = {p.target for p in plans if p.kind == "attr"}
    key = attribute_key(plan.header)[:90]
    base = f"{key}_attr" if key in RESERVED_KEYS else key
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return f"attrs.{candidate}"


def choices(plans: Sequence[ColumnPlan], plan: ColumnPlan) -> tuple[str, ...]:
    """Every target a column may take: ignore, the standard fields, consent, an attribute."""
    return ("ignore", *MAPPABLE_TARGETS, attribute_choice(plans, plan))


def doubled(targets: Iterable[str]) -> list[str]:
    """Standard or consent fields chosen for more than one column (a field has one source)."""
    counts = Counter(t for t in targets if t in MAPPABLE_TARGETS)
    return sorted(target for target, n in counts.items() if n > 1)


def overrides(headers: Sequence[str], targets: Sequence[str]) -> tuple[str, ...]:
    """The chosen targets as the import's `Header=field` items (a name with '=' keeps its
    automatic target: the item could not say where the name ends)."""
    return tuple(f"{h}={t}" for h, t in zip(headers, targets, strict=True) if "=" not in h)


@dataclass(frozen=True)
class Cell:
    """One previewed value: as in the file, as it would be stored, and why it is refused."""

    raw: str
    value: object
    rejection: Rejection | None = None


@dataclass(frozen=True)
class PreviewRow:
    """One row of the file as the import would take it."""

    number: int
    cells: tuple[Cell, ...]
    rejection: Rejection | None


@dataclass(frozen=True)
class Preview:
    """The file's columns, where each goes, and its first rows normalised."""

    info: TableInfo
    plans: tuple[ColumnPlan, ...]
    rows: tuple[PreviewRow, ...]


def preview(path: Path, mapping: Sequence[str], region: str, today: date) -> Preview:
    """The first rows of PATH mapped by MAPPING (`Header=field` items) and normalised; attribute
    types are inferred from these rows only (the import reads every row)."""
    with open_table(path) as reader:
        info = reader.info
        plans = tuple(plan_columns(info.headers, mapping))
        sample = list(islice(reader.rows(), PREVIEW_ROWS))
    attributes = {p.index: p.target for p in plans if p.kind == "attr"}
    inference = TypeInference(attributes, day_first=region != "US")
    for _, cells in sample:
        inference.observe(cells)
    types = inference.types
    whole = RowNormaliser(plans, region, types, False, today)
    # One column at a time (with generated ids, so a row needs no identifier) gives each
    # cell its own verdict: the whole row reports only its first problem.
    single = [RowNormaliser((plan,), region, types, True, today) for plan in plans]
    rows = []
    for number, cells in sample:
        verdict = whole.normalise(number, cells)
        shown = tuple(
            _cell(plan, one, number, cells) for plan, one in zip(plans, single, strict=True)
        )
        rows.append(PreviewRow(number, shown, verdict if isinstance(verdict, Rejection) else None))
    return Preview(info, plans, tuple(rows))


def _cell(plan: ColumnPlan, normaliser: RowNormaliser, number: int, cells: list[str]) -> Cell:
    raw = cells[plan.index]
    if plan.kind == "ignore" or not raw.strip():
        return Cell(raw, None)
    result = normaliser.normalise(number, cells)
    if isinstance(result, Rejection):
        return Cell(raw, None, result)
    return Cell(raw, _stored(plan, result))


def _stored(plan: ColumnPlan, row: NormalisedRow) -> object:
    if plan.kind == "attr":
        return row.attrs.get(plan.target)
    if plan.kind == "consent":
        return dict(row.consent).get(CONSENT_FIELDS[plan.target])
    return row.fields.get(plan.target)


# --- running an import ---------------------------------------------------------------------


@dataclass(frozen=True)
class RunState:
    """Where an upload's import is: never run, running (bytes read of the file), done or not."""

    phase: Phase = "new"
    done: int = 0
    total: int = 0
    summary: ImportSummary | None = None
    error: str | None = None

    @property
    def fraction(self) -> float:
        """The share of the file read so far."""
        return min(1.0, self.done / self.total) if self.total else 0.0


def read_state(folder: Path, now: float | None = None) -> RunState:
    """The state of the upload in FOLDER (a run silent for too long has died)."""
    path = folder / ".state.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        moved = path.stat().st_mtime
    except (OSError, ValueError):
        return RunState()
    summary = ImportSummary.model_validate(data["summary"]) if data.get("summary") else None
    state = RunState(data["phase"], data["done"], data["total"], summary, data.get("error"))
    if state.phase == "running" and moved < (now or time.time()) - STALE_SECONDS:
        return RunState("failed", error=STOPPED)
    return state


def _save_state(upload: Upload, state: RunState) -> None:
    summary = state.summary.model_dump(mode="json") if state.summary else None
    data = {**state.__dict__, "summary": summary}
    _write_json(upload.folder / ".state.json", data)


def _write_json(target: Path, data: dict[str, Any]) -> None:
    # Written beside and renamed: a reader never sees half a file.
    handle, name = tempfile.mkstemp(prefix=".partial-", dir=target.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(data, out)
    Path(name).replace(target)


@dataclass(frozen=True)
class _Job:
    """One run: what to import, how, and where its rejected rows go."""

    database: Database
    upload: Upload
    options: ImportOptions
    settings: Settings
    sink: RejectsSink
    hooks: tuple[AfterImport, ...]


def start_import(
    database: Database,
    upload: Upload,
    *,
    options: ImportOptions,
    settings: Settings,
    sink: Callable[[Path], RejectsSink],
    hooks: Sequence[AfterImport] = (),
) -> bool:
    """Start importing UPLOAD in a thread; False when a run of it is already going."""
    marker = upload.folder / ".running"
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        if read_state(upload.folder).phase == "running":
            return False
        marker.unlink(missing_ok=True)  # left by a process that died: start afresh
        return start_import(
            database, upload, options=options, settings=settings, sink=sink, hooks=hooks
        )
    try:
        job = _Job(database, upload, options, settings, sink(upload.rejected), tuple(hooks))
        _save_state(upload, RunState("running", 0, upload.file.stat().st_size))
    except BaseException:
        marker.unlink(missing_ok=True)
        raise
    # Not a daemon: a server stopping lets the import commit (or roll back) first.
    threading.Thread(target=_run, args=(job,), name=f"leadsift-import-{upload.id[:6]}").start()
    return True


def _run(job: _Job) -> None:
    """The thread: the CLI's import, in one transaction, then its hooks (scores)."""
    upload, sink = job.upload, job.sink

    def progress(done: int, total: int) -> None:
        _save_state(upload, RunState("running", done, total))

    try:
        with job.database.unit_of_work() as session:
            summary = service.import_contacts(
                session,
                upload.file,
                job.options,
                settings=job.settings,
                progress=progress,
                on_rejections=sink,
            )
            if job.hooks and summary.batch_id is not None:
                touched = service.contacts_of_batch(session, summary.batch_id)
                for hook in job.hooks:
                    hook(session, touched, utcnow())
    except LeadsiftError as failed:
        sink.discard()
        _save_state(upload, RunState("failed", error=failed.message))
    except Exception:
        logger.exception("the import of upload %s failed", upload.id)
        sink.discard()
        _save_state(upload, RunState("failed", error=UNEXPECTED))
    else:
        sink.commit()
        size = upload.file.stat().st_size
        _save_state(upload, RunState("done", size, size, summary))
    finally:
        (upload.folder / ".running").unlink(missing_ok=True)
