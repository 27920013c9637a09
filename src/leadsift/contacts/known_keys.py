"""A pre-filter that spares the database a look-up for identifiers nobody can own yet; pure.

An import must find, for each row, the stored contact owning its email, phone or external id.
Asking the database for every key costs microseconds each, millions of times. This set holds
the hashes of every identifier that may be owned: those stored before the import (read once at
the start, when the table is small enough to hold) and those the import itself has written. A
key whose hash is absent cannot be owned, so it is not looked up; a hash collision only costs
a needless look-up, never a missed match.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import compress
from typing import Any, cast

from leadsift.contacts.normalise import RowTuple


class KnownKeys:
    """Hashes of identifiers that may belong to a contact; None means "assume any may"."""

    def __init__(self, stored: Iterable[Any] | None) -> None:
        self._hashes: set[int] | None = (
            None if stored is None else {hash(key) for key in stored if key is not None}
        )

    @property
    def active(self) -> bool:
        """Whether the filter is in use (False when the stored keys were too many to hold)."""
        return self._hashes is not None

    def may_exist(self, keys: Sequence[str]) -> list[str]:
        """The keys worth looking up."""
        hashes = self._hashes
        if hashes is None:
            return list(keys)
        # map/compress keep the per-key work in C: this runs for every identifier imported.
        return list(compress(keys, map(hashes.__contains__, map(hash, keys))))

    def add(self, keys: Iterable[str]) -> None:
        """Remember keys the import has written (a superset is fine; no None)."""
        if self._hashes is not None:
            self._hashes.update(map(hash, keys))

    def wanted(self, rows: Sequence[RowTuple]) -> dict[str, list[str]]:
        """The emails, phones and external ids of ROWS worth looking up; remembers them all."""
        wanted: dict[str, list[str]] = {}
        for name, position in (("emails", 1), ("phones", 2), ("external_ids", 3)):
            keys = cast(list[str], [r[position] for r in rows if r[position] is not None])
            wanted[name] = self.may_exist(keys)
            self.add(keys)
        return wanted

    def __len__(self) -> int:
        return 0 if self._hashes is None else len(self._hashes)
