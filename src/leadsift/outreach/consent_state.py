"""The current consent per channel, derived from the append-only consent ledger; pure.

The ledger is never updated in place: every opt-in and every withdrawal is a new entry, and the
latest one (the highest id, since ids follow insertion order while recorded_at may be backdated
by an import) says where the person stands.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from leadsift.outreach.gate import CHANNELS

DEFAULT_PURPOSE = "marketing"


@dataclass(frozen=True)
class LedgerEntry:
    """One row of the consent ledger: a consent given or withdrawn, how and when."""

    id: int
    channel: str
    purpose: str
    granted: bool
    source: str
    recorded_at: datetime
    wording_hash: str | None


@dataclass(frozen=True)
class ConsentState:
    """Where a person stands for one channel and purpose (granted None: never stated)."""

    channel: str
    purpose: str
    granted: bool | None
    since: datetime | None
    source: str | None
    entry_id: int | None


def _latest(
    entries: Iterable[LedgerEntry], channels: Sequence[str], purpose: str
) -> dict[str, LedgerEntry]:
    wanted = set(channels)
    latest: dict[str, LedgerEntry] = {}
    for entry in entries:
        if entry.purpose != purpose or entry.channel not in wanted:
            continue
        current = latest.get(entry.channel)
        if current is None or entry.id > current.id:
            latest[entry.channel] = entry
    return latest


def current_states(
    entries: Iterable[LedgerEntry],
    channels: Sequence[str] = CHANNELS,
    purpose: str = DEFAULT_PURPOSE,
) -> dict[str, ConsentState]:
    """The consent of each channel for PURPOSE: the entry with the highest id wins."""
    latest = _latest(entries, channels, purpose)
    states: dict[str, ConsentState] = {}
    for channel in channels:
        entry = latest.get(channel)
        if entry is None:
            states[channel] = ConsentState(channel, purpose, None, None, None, None)
        else:
            states[channel] = ConsentState(
                channel, purpose, entry.granted, entry.recorded_at, entry.source, entry.id
            )
    return states


def consent_for(
    entries: Iterable[LedgerEntry], channel: str, purpose: str = DEFAULT_PURPOSE
) -> bool | None:
    """The latest consent word for CHANNEL and PURPOSE, None when never stated."""
    return current_states(entries, (channel,), purpose)[channel].granted
