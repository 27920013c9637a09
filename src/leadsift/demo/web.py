"""The demo's web story: the bundled online shoppers sessions recorded as visits of the
workspace's contacts, everyone scored by the playbook, and what the funnel then shows.

Services flush; the demo command commits (events, stitching and scores in one transaction).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.demo import repository, shoppers
from leadsift.engagement import service as events
from leadsift.errors import InvalidInputError
from leadsift.qualification import promotion
from leadsift.qualification import service as qualification
from leadsift.segments import service as segments

ATTRIBUTION: Final = (
    "Data: UCI Online Shoppers Purchasing Intention (Sakar & Kastro, 2018), CC BY 4.0, "
    "https://doi.org/10.24432/C5F88Q"
)
# Events per `ingest` call: large enough that per-call costs vanish, small enough for memory.
INGEST_CHUNK: Final = 10_000
# The bundled playbook's `qualify: interest >= 10 …`: the same bar marks "showed interest".
INTEREST_THRESHOLD: Final = 10
INTERESTED_NOT_BOUGHT: Final = f"interest >= {INTEREST_THRESHOLD} and count(purchase) = 0"
EXAMPLE_FIELDS: Final = ("id", "age", "job", "stage", "interest")
EXAMPLES: Final = 5


def bundled_sessions() -> list[shoppers.ShopperSession]:
    """The sessions of the bundled data file."""
    data = resources.files("leadsift.demo").joinpath("data", shoppers.SHOPPERS_FILE)
    with resources.as_file(data) as path:
        return shoppers.read_sessions(path)


def _ingest(session: Session, raw: Sequence[dict[str, Any]], now: datetime) -> tuple[int, int]:
    inserted = duplicates = 0
    for offset in range(0, len(raw), INGEST_CHUNK):
        chunk = raw[offset : offset + INGEST_CHUNK]
        result = events.ingest(session, chunk, now=now, first_index=offset).result
        if result.errors:
            first = result.errors[0]
            raise InvalidInputError(
                f"the bundled online shoppers sessions gave {len(result.errors)} bad events "
                f"(event {first.index}: {first.code}: {first.message})"
            )
        inserted += result.inserted
        duplicates += result.duplicates
    return inserted, duplicates


def record_visits(session: Session, now: datetime) -> dict[str, Any]:
    """Record the sessions as the contacts' events (again: stored once), identify the visitors
    who bought, and say what was recorded."""
    started = time.perf_counter()
    sessions = bundled_sessions()
    # Dated from when the workspace was built, so a re-run finds the same events.
    first = repository.first_contact(session)
    anchor = first[1] if first is not None else now
    starts = shoppers.visit_starts(sessions, anchor)
    visitors = shoppers.visitors(sessions, repository.contact_ids(session))
    raw = [
        event
        for shopper, start, visitor in zip(sessions, starts, visitors, strict=True)
        for event in shoppers.session_events(shopper, start, visitor)
    ]
    inserted, duplicates = _ingest(session, raw, now)
    checkouts = [
        (v.anonymous_id, v.contact_id)
        for v in visitors
        if v.anonymous_id is not None and v.contact_id is not None
    ]
    stitched = sum(
        events.identify_visitor(session, visitor, contact, via="checkout", now=now)
        for visitor, contact in checkouts
    )
    return {
        "attribution": ATTRIBUTION,
        "sessions": len(sessions),
        "from": min(starts).date().isoformat() if starts else None,
        "to": max(starts).date().isoformat() if starts else None,
        "events": len(raw),
        "page_views": sum(event["type"] == "page_view" for event in raw),
        "purchases": sum(event["type"] == "purchase" for event in raw),
        "inserted": inserted,
        "duplicates": duplicates,
        "anonymous_visitors": sum(v.contact_id is None for v in visitors),
        "identified_at_checkout": len(checkouts),
        "stitched": stitched,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _examples(session: Session) -> list[dict[str, Any]]:
    """The contacts who showed the most interest without buying (ties: lowest id first)."""
    _, found = segments.rows(session, INTERESTED_NOT_BOUGHT, EXAMPLE_FIELDS, None)
    people = [dict(zip(EXAMPLE_FIELDS, values, strict=True)) for values in found]
    people.sort(key=lambda person: (-person["interest"], person["id"]))
    return [{**person, "interest": round(person["interest"], 1)} for person in people[:EXAMPLES]]


def funnel(session: Session) -> dict[str, Any]:
    """Contacts → leads → qualified → customers, unqualified by reason, and who showed
    interest but did not buy (how many, the most interested, one qualified contact)."""
    found = qualification.funnel_so_far(session)
    found["qualified"] = found["stages"]["qualified"]
    found["customers"] = found["stages"]["customer"]
    examples = _examples(session)
    qualified = [person["id"] for person in examples if person["stage"] == "qualified"]
    if not qualified:
        _, first = segments.rows(session, 'stage = "qualified"', ["id"], 1)
        qualified = [values[0] for values in first]
    found["interested_not_bought"] = {
        "criteria": INTERESTED_NOT_BOUGHT,
        "contacts": segments.count(session, INTERESTED_NOT_BOUGHT),
        "qualified": segments.count(session, f'{INTERESTED_NOT_BOUGHT} and stage = "qualified"'),
        "examples": examples,
    }
    found["a_qualified_contact"] = qualified[0] if qualified else None
    return found


def web_story(session: Session, now: datetime) -> dict[str, Any]:
    """Record the visits, score everyone with the active playbook, and show the funnel."""
    visits = record_visits(session, now)
    scored = promotion.score(session)
    return {
        "web": visits,
        "score": scored.model_dump(mode="json"),
        "funnel": funnel(session),
    }
