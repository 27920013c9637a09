"""PostgreSQL's fast read of everyone's features: the general query as `COPY … TO STDOUT`.

The same SQL (the same expressions and casts) as `feature_repository`'s query, so the values
are the server's own; only the way back differs: the text is split in C and the number
columns are parsed by numpy, instead of one Python object per value through the cursor
(twenty million at a million contacts). None when the text holds something this reader would
not give back exactly as the cursor does (a COPY escape, say): the caller then runs the query.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import Select
from sqlalchemy.orm import Session

from leadsift.contacts.models import Contact
from leadsift.kit.bulk import driver_connection
from leadsift.scoring.bulk_numbers import joined, parsed
from leadsift.scoring.dataset import CodedTexts
from leadsift.scoring.features import FeatureSource

# Bytes of COPY's text parsed at a time (about 100,000 contacts of twenty features).
_BATCH = 16 << 20
Columns = list[Any]  # arrays (numbers, ids) and lists (texts), one per column


def postgres_columns(
    session: Session, query: Select[Any], profile: Sequence[FeatureSource], now_seconds: float
) -> Columns | None:
    """QUERY's columns (id, stage, birth date, age, one per PROFILE source) in id order, or
    None when one cannot be read back exactly."""
    compiled = query.order_by(Contact.id).compile(dialect=session.get_bind().dialect)
    params = {**compiled.params, "now_seconds": now_seconds}
    statement = f"COPY ({compiled}) TO STDOUT"  # SQLAlchemy's SQL; values are parameters
    width = 4 + len(profile)
    pending: list[Future[Columns | None]] = []
    # The server computes the rows while this thread waits for them without the GIL: another
    # thread parses each batch of whole lines meanwhile.
    with ThreadPoolExecutor(max_workers=1) as pool:
        chunks: list[bytes] = []
        size = 0
        with driver_connection(session).cursor() as cursor, cursor.copy(statement, params) as copy:
            for chunk in copy:
                chunks.append(bytes(chunk))
                size += len(chunk)
                if size >= _BATCH:
                    data = b"".join(chunks)
                    cut = data.rfind(b"\n") + 1
                    pending.append(pool.submit(_batch, data[:cut], width, profile))
                    chunks, size = [data[cut:]], len(data) - cut
        if size:
            pending.append(pool.submit(_batch, b"".join(chunks), width, profile))
    parts = [part for future in pending if (part := future.result()) is not None]
    if len(parts) < len(pending):
        return None
    if not parts:
        return [np.zeros(0, dtype=np.int64)] + [[] for _ in range(width - 1)]
    return [joined([part[i] for part in parts]) for i in range(width)]


def _batch(data: bytes, width: int, profile: Sequence[FeatureSource]) -> Columns | None:
    """Whole lines of COPY's text as typed columns (None when one cannot be read exactly)."""
    cells = data.decode("utf-8").replace("\n", "\t").split("\t")
    cells.pop()  # the empty text after the last newline
    if len(cells) % width:
        return None
    return _typed([cells[i::width] for i in range(width)], profile)


def _typed(columns: list[list[str]], profile: Sequence[FeatureSource]) -> Columns | None:
    """COPY's text columns as the values the general query gives (None if one cannot be)."""
    ids = _numbers(columns[0])
    stages = _texts(columns[1])
    births = _dates(columns[2])
    ages = _numbers(columns[3])  # floats, NaN when unknown: `age` reads them so
    if ids is None or stages is None or births is None or ages is None:
        return None
    out: Columns = [ids.astype(np.int64), stages, births, ages]
    for source, cells in zip(profile, columns[4:], strict=True):
        value = _copy_value(source, cells)
        if value is None:
            return None
        out.append(value)
    return out


def _copy_value(source: FeatureSource, cells: list[str]) -> Any:
    if source.spec is None:  # age: the constant NULL of the general query
        return [None] * len(cells)
    if source.kind == "number":
        return _numbers(cells)
    if source.kind == "boolean":
        return _booleans(cells)
    texts = _texts(cells)
    # Coded here, in the thread that parses while the server works (see `CodedTexts`).
    return None if texts is None else CodedTexts.of(texts)


def _numbers(cells: list[str]) -> np.ndarray | None:
    """Numbers written by PostgreSQL (shortest exact form) as floats, NaN for NULL."""
    joined = ",".join(cells)
    if "\\" in joined.replace("\\N", ""):
        return None
    return parsed(joined.replace("\\N", "nan"), len(cells))


def _texts(cells: list[str]) -> list[Any] | None:
    """Texts as they are, None for NULL; None when one holds a COPY escape (rare)."""
    if "\\" not in "".join(cells):
        return cells
    if "\\" in "".join(cell for cell in cells if cell != "\\N"):
        return None
    return [None if cell == "\\N" else cell for cell in cells]


def _booleans(cells: list[str]) -> list[bool | None] | None:
    known = {"t": True, "f": False, "\\N": None}
    if not set(cells) <= known.keys():
        return None
    return [known[cell] for cell in cells]


def _dates(cells: list[str]) -> list[date | None] | None:
    """The birth dates (ISO text on PostgreSQL's default DateStyle)."""
    if set(cells) <= {"\\N"}:
        return [None] * len(cells)
    try:
        return [None if cell == "\\N" else date.fromisoformat(cell) for cell in cells]
    except ValueError:
        return None
