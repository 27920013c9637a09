"""Interest in action: rescore contacts and move them by the active playbook's policy.

The same two steps run for the contacts of newly recorded events (in the transaction that
recorded them, before the sender gets its answer) and for everyone (`leadsift score`): the
numbers and moves are the same either way. Services flush; the entrypoint commits.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from leadsift.contacts import repository as contacts_repository
from leadsift.contacts.criteria_fields import SCORE_SPECS, contact_registry
from leadsift.engagement import repository as events_repository
from leadsift.engagement.criteria_fields import event_registry
from leadsift.errors import NotFoundError
from leadsift.interest import service as interest_service
from leadsift.kit.clock import utcnow
from leadsift.qualification import playbooks, repository
from leadsift.qualification import promotion_repository as sql
from leadsift.qualification.models import PlaybookVersion
from leadsift.qualification.policy import (
    CONVERSION_EVENTS,
    HAND_RAISER_EVENTS,
    NO_PLAYBOOK,
    CompiledPolicy,
    Move,
    compile_policy,
    conversion,
    promotion,
    recycles,
)
from leadsift.qualification.schemas import ScoreSummary
from leadsift.qualification.stages import check_transition


@lru_cache(maxsize=32)
def _compiled(
    version_id: int, actor: str, document: str, attributes: tuple[tuple[str, str], ...]
) -> CompiledPolicy:
    contacts = contact_registry(dict(attributes)).extended(SCORE_SPECS, events=event_registry())
    return compile_policy(
        json.loads(document),
        version_id=version_id,
        actor=actor,
        events=event_registry(),
        contacts=contacts,
    )


def policy_of(session: Session, version: PlaybookVersion) -> CompiledPolicy:
    """A playbook version's interest policy, checked against the workspace's fields (cached)."""
    definitions = contacts_repository.attribute_definitions(session)
    attributes = tuple(sorted((key, d.value_type) for key, d in definitions.items()))
    actor = f"playbook:{version.name}@{version.version}"
    document = json.dumps(version.document, sort_keys=True)
    return _compiled(version.id, actor, document, attributes)


def active_policy(session: Session) -> CompiledPolicy | None:
    """The policy of the playbook applied last, if any."""
    version = repository.active_version(session)
    return policy_of(session, version) if version is not None else None


def after_events(session: Session, contact_ids: set[int], now: datetime) -> None:
    """Rescore the contacts of newly recorded events and move them (no recycling)."""
    if not contact_ids:
        return
    policy = active_policy(session)
    if policy is None:
        # No playbook yet: nothing to score or qualify by, but a buyer is a customer.
        moves = _checked(_conversions(session, NO_PLAYBOOK, sorted(contact_ids)))
        sql.apply_moves(session, moves, NO_PLAYBOOK, now)
        session.flush()
        return
    interest_service.rescore(session, policy.interest, now, contact_ids)
    apply_policy(session, policy, now, sorted(contact_ids), recycle_leads=False)


def _checked(moves: list[Move]) -> list[Move]:
    for move in moves:
        check_transition(move.source, move.target, move.reason)
    return moves


def _conversions(session: Session, policy: CompiledPolicy, ids: Sequence[int] | None) -> list[Move]:
    buyers = sql.conversion_candidates(session, ids)
    events = events_repository.event_rows(
        session, [b["id"] for b in buyers], list(CONVERSION_EVENTS)
    )
    moves: list[Move] = []
    for buyer in buyers:
        moves += conversion(buyer, events[buyer["id"]][0])
    return moves


def _promotions(
    session: Session, policy: CompiledPolicy, now: datetime, ids: Sequence[int] | None
) -> list[Move]:
    candidates = sql.promotion_candidates(session, policy, now, ids)
    chosen = [c["id"] for c in candidates]
    breakdowns = (
        interest_service.explain_interest(session, policy.interest, chosen, now)
        if policy.interest is not None
        else {}
    )
    raised = events_repository.event_rows(
        session, chosen, list(HAND_RAISER_EVENTS), since=now - policy.hand_raiser_window
    )
    return [
        promotion(policy, c, c["reason"], breakdowns.get(c["id"]), raised[c["id"]])
        for c in candidates
    ]


def apply_policy(
    session: Session,
    policy: CompiledPolicy,
    now: datetime,
    contact_ids: Sequence[int] | None,
    *,
    recycle_leads: bool,
) -> Counter[str]:
    """Convert buyers, qualify the interested, recycle silent leads; count moves by reason."""
    if contact_ids is None:
        sql.prepare_bulk(session)
    counts: Counter[str] = Counter()
    steps: list[Callable[[], list[Move]]] = [
        lambda: _conversions(session, policy, contact_ids),
        lambda: _promotions(session, policy, now, contact_ids),
    ]
    if recycle_leads:
        steps.append(lambda: recycles(policy, sql.recycle_candidates(session, policy, now), now))
    for step in steps:  # each reads the stages the previous one wrote
        moves = _checked(step())
        sql.apply_moves(session, moves, policy, now)
        counts.update(f"{m.source.value}->{m.target.value}:{m.reason}" for m in moves)
    session.flush()
    return counts


def score(
    session: Session, *, playbook: tuple[str, str] | None = None, dry_run: bool = False
) -> ScoreSummary:
    """Rescore every contact with the active playbook (or PLAYBOOK = (text, source), applied
    first) and move contacts by its policy, recycling silent leads."""
    started = time.perf_counter()
    if playbook is not None:
        text, source = playbook
        loaded = playbooks.load(session, text, source)
        version = playbooks.store_version(session, loaded, text, source)
    else:
        found = repository.active_version(session)
        if found is None:
            raise NotFoundError(
                "no playbook applied yet: run `leadsift qualify --playbook FILE` "
                "or `leadsift score --playbook FILE`"
            )
        version = found
    policy = policy_of(session, version)
    now = utcnow()
    interest_service.rescore(session, policy.interest, now, None)
    moves = apply_policy(session, policy, now, None, recycle_leads=True)
    return ScoreSummary(
        playbook=version.name,
        playbook_version=version.version,
        scored=interest_service.scored_count(session),
        moves=dict(sorted(moves.items())),
        stages=repository.stage_counts(session),
        dry_run=dry_run,
        seconds=round(time.perf_counter() - started, 3),
    )


def explain_interest(session: Session, contact_id: int) -> dict[str, Any] | None:
    """The contact's interest now under the active playbook, rule by rule and event by event."""
    policy = active_policy(session)
    if policy is None or policy.interest is None:
        return None
    now = utcnow()
    found = interest_service.explain_interest(session, policy.interest, [contact_id], now)
    return found[contact_id].as_json()
