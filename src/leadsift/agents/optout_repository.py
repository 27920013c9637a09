"""SQL of the opposition lists (e.g. Bloctel): their hashed entries and their imports."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.orm import Session

from leadsift.agents.models import OppositionEntry, OppositionImport
from leadsift.kit.bulk import dialect_insert
from leadsift.kit.sequences import pieces

_ENTRIES: Table = OppositionEntry.__table__  # type: ignore[assignment]  # a Table, not a FromClause


def delete_entries(session: Session, list_name: str) -> int:
    """Remove every entry of the list; returns how many there were."""
    result: Any = session.execute(delete(_ENTRIES).where(_ENTRIES.c.list_name == list_name))
    return int(result.rowcount or 0)


def add_entries(session: Session, list_name: str, phone_hashes: Collection[str]) -> None:
    """Insert the list's entries in one executemany; a hash already on the list stays once."""
    if not phone_hashes:
        return
    statement = dialect_insert(session)(_ENTRIES).on_conflict_do_nothing()
    rows = [{"list_name": list_name, "phone_hash": h} for h in sorted(phone_hashes)]
    session.execute(statement, rows)


def count_entries(session: Session, list_name: str) -> int:
    """How many numbers the list holds."""
    query = select(func.count()).select_from(_ENTRIES).where(_ENTRIES.c.list_name == list_name)
    return int(session.scalar(query) or 0)


def add_import(session: Session, record: OppositionImport) -> OppositionImport:
    """Store an import record and flush so it has an id."""
    session.add(record)
    session.flush()
    return record


def latest_imports(session: Session) -> list[OppositionImport]:
    """The latest import of each list (the highest id: ids grow with time), by list name."""
    latest = select(func.max(OppositionImport.id)).group_by(OppositionImport.list_name)
    query = (
        select(OppositionImport)
        .where(OppositionImport.id.in_(latest.scalar_subquery()))
        .order_by(OppositionImport.list_name)
    )
    return list(session.scalars(query))


def listed_hashes(
    session: Session, list_names: Collection[str], phone_hashes: Collection[str]
) -> set[str]:
    """Which of PHONE_HASHES are on any of LIST_NAMES."""
    names = sorted(set(list_names))
    found: set[str] = set()
    if not names:
        return found
    for piece in pieces(sorted(set(phone_hashes))):
        query = (
            select(_ENTRIES.c.phone_hash)
            .where(_ENTRIES.c.list_name.in_(names), _ENTRIES.c.phone_hash.in_(piece))
            .distinct()
        )
        found.update(session.scalars(query))
    return found
