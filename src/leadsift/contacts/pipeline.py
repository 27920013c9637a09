"""Streaming of a file's rows into normalised chunks, in worker processes for large files."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice

from leadsift.contacts.normalise import NormalisedRow, Rejection, RowNormaliser
from leadsift.contacts.reading import TableReader
from leadsift.contacts.values import ValueType, classify, join_types

Chunk = list[NormalisedRow | Rejection]


def chunked_rows(reader: TableReader, size: int) -> Iterator[list[tuple[int, Sequence[str]]]]:
    """The reader's rows in lists of SIZE."""
    rows = reader.rows()
    while True:
        chunk: list[tuple[int, Sequence[str]]] = list(islice(rows, size))
        if not chunk:
            return
        yield chunk


def normalised_chunks(
    reader: TableReader, normaliser: RowNormaliser, *, chunk_rows: int, workers: int
) -> Iterator[Chunk]:
    """Normalised chunks in file order; with WORKERS > 1, normalised by a process pool."""
    if workers <= 1:
        for rows in chunked_rows(reader, chunk_rows):
            yield normaliser.normalise_many(rows)
        return
    # spawn: the parent holds a database connection that a forked child must never share.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[Future[Chunk]] = deque()
        for rows in chunked_rows(reader, chunk_rows):
            pending.append(pool.submit(normaliser.normalise_many, rows))
            # Bounded look-ahead keeps memory flat however large the file is.
            if len(pending) > workers * 2:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class TypeInference:
    """Infers each custom attribute column's type from every value of the file."""

    def __init__(self, columns: dict[int, str], *, day_first: bool) -> None:
        self.columns = dict(columns)  # column index -> attribute key
        self.day_first = day_first
        self.types: dict[str, ValueType] = {}
        self._seen: dict[int, set[str]] = {index: set() for index in columns}

    def observe(self, cells: Sequence[str]) -> None:
        """Account for one row."""
        for index in list(self.columns):
            text = cells[index].strip()
            seen = self._seen[index]
            if not text or text in seen:
                continue
            seen.add(text)
            key = self.columns[index]
            joined = join_types(self.types.get(key), classify(text, day_first=self.day_first))
            self.types[key] = joined
            if joined == "text":
                # Settled: stop looking at this column (and free its distinct values).
                del self.columns[index]
                self._seen[index] = set()
