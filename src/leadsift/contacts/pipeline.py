"""Streaming of a file's rows into normalised chunks, in worker processes for large files."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import islice
from typing import Any

from leadsift.contacts.csvblocks import parse_block, text_blocks
from leadsift.contacts.normalise import Rejection, RowNormaliser, RowTuple
from leadsift.contacts.reading import TableReader
from leadsift.contacts.values import ValueType, classify, join_types
from leadsift.errors import LeadsiftError

Chunk = list[RowTuple | Rejection]


def chunked_rows(reader: TableReader, size: int) -> Iterator[list[tuple[int, Sequence[str]]]]:
    """The reader's rows in lists of SIZE."""
    rows = reader.rows()
    while True:
        chunk: list[tuple[int, Sequence[str]]] = list(islice(rows, size))
        if not chunk:
            return
        yield chunk


# Characters of CSV text per block sent to a worker (about 10,000 rows of contact data).
BLOCK_CHARS = 1_500_000


def normalise_csv_block(
    normaliser: RowNormaliser, stream: tuple[str, str, int], first_line: int, block: str
) -> Chunk:
    """Parse and normalise one block of CSV text (runs in a worker process)."""
    name, delimiter, width = stream
    return normaliser.normalise_many(parse_block(name, block, first_line, delimiter, width))


def normalised_chunks(
    reader: TableReader, normaliser: RowNormaliser, *, chunk_rows: int, workers: int
) -> Generator[Chunk, None, None]:
    """Normalised chunks in file order; with WORKERS > 1, parsed and normalised by a pool."""
    if workers <= 1:
        for rows in chunked_rows(reader, chunk_rows):
            yield normaliser.normalise_many(rows)
        return
    # spawn: the parent holds a database connection that a forked child must never share.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        pending: deque[Future[Chunk]] = deque()
        for job in _jobs(reader, normaliser, chunk_rows):
            pending.append(pool.submit(*job))
            # Bounded look-ahead keeps memory flat however large the file is.
            if len(pending) > workers * 2:
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())
    finally:
        # On an error (or an abandoned import) drop the queued blocks instead of parsing them.
        pool.shutdown(wait=True, cancel_futures=True)


def _result(future: Future[Chunk]) -> Chunk:
    try:
        return future.result()
    except BrokenProcessPool as exc:
        raise LeadsiftError(
            "the import's worker processes could not run (when calling the library from a "
            "script, guard it with `if __name__ == '__main__':`, or pass workers=1)"
        ) from exc


def _jobs(
    reader: TableReader, normaliser: RowNormaliser, chunk_rows: int
) -> Iterator[tuple[Any, ...]]:
    """Work for the pool: raw CSV text blocks when possible (the parsing moves off the main
    process and one string pickles far faster than ten thousand lists), else row chunks."""
    stream = reader.csv_stream
    if stream is None:
        for rows in chunked_rows(reader, chunk_rows):
            yield normaliser.normalise_many, rows
        return
    yield normaliser.normalise_many, [stream.first]
    shape = (stream.name, stream.delimiter, stream.width)
    for first_line, block in text_blocks(stream.text, stream.next_line, BLOCK_CHARS):
        yield normalise_csv_block, normaliser, shape, first_line, block


class Background:
    """Runs one call at a time, in a thread when THREADED, else at once (inline)."""

    def __init__(self, *, threaded: bool) -> None:
        self.pool = ThreadPoolExecutor(1, "leadsift-background") if threaded else None
        self.running: Future[Any] | None = None

    def start(self, call: Callable[..., Any], *args: Any) -> None:
        """Run CALL(*ARGS); what it uses is its own until wait() returns."""
        if self.pool is None:
            call(*args)
        else:
            self.running = self.pool.submit(call, *args)

    def wait(self) -> None:
        """Wait for the running call; its error, if any, is raised here."""
        running, self.running = self.running, None
        if running is not None:
            running.result()

    def close(self) -> None:
        """Let a call still running end (after an error elsewhere) before its inputs are reused."""
        if self.pool is not None:
            self.pool.shutdown(wait=True)


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
