"""Importing LightGBM without the optional packages it tries; pure.

LightGBM imports scikit-learn and pandas when they are installed, for its scikit-learn and
DataFrame interfaces, which leadsift does not use (it hands numpy arrays to `Booster` and
`Dataset`; pandas is only a test dependency here). Measured on the 2-core machine: LightGBM's
import took ~2 s of CPU with them (scikit-learn pulls in SciPy's statistics), 0.2 s without.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from types import ModuleType


class _Hidden(importlib.abc.MetaPathFinder):
    """Finds nothing, and refuses NAMES (and their submodules) to one thread."""

    def __init__(self, names: frozenset[str], thread: int) -> None:
        self.names, self.thread = names, thread

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """As if a refused package were not installed; None lets the other finders look."""
        del path, target
        if fullname.partition(".")[0] in self.names and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


@contextmanager
def without(*packages: str) -> Iterator[None]:
    """Within the block, this thread imports as if PACKAGES were not installed (those already
    imported stay usable); other threads import as usual, so a concurrent import never fails."""
    hidden = _Hidden(frozenset(packages), threading.get_ident())
    sys.meta_path.insert(0, hidden)
    try:
        yield
    finally:
        sys.meta_path.remove(hidden)
