"""Inbound SMS replies: is this message a request to stop? Pure.

A reply counts as STOP only when the whole message is a keyword, so "don't stop" or "stopped
by the shop" never unsubscribe anyone. Case, accents, spacing and trailing punctuation are
ignored: people type "Stop !", "arrêt" or "STOP  SMS" from their phone.
"""

from __future__ import annotations

import unicodedata
from typing import Final

# The French operators' keywords (STOP, STOP SMS, ARRET), their common variants and English.
STOP_KEYWORDS: Final = ("STOP", "STOP SMS", "STOPSMS", "ARRET", "ARRÊT", "UNSUBSCRIBE")
_TRAILING: Final = ".!?…,;:"


def _fold(text: str) -> str:
    """Lower case, accents removed, whitespace runs as one space, trailing punctuation gone."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    # Once whitespace runs are single spaces, trailing punctuation and spaces go together
    # ("stop !" and "stop. !" as well as "stop!").
    return " ".join(bare.split()).rstrip(_TRAILING + " ")


_FOLDED_KEYWORDS: Final = frozenset(_fold(keyword) for keyword in STOP_KEYWORDS)


def is_stop(text: str) -> bool:
    """Whether the whole message is a stop keyword (case, accents, spacing, final ! or . aside)."""
    return _fold(text) in _FOLDED_KEYWORDS
