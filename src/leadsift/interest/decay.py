"""Interest: points from events, halved every half-life, capped per rule; pure.

interest(t) = Σ_rules clamp_r( Σ_events matching r  points_r · 2^(−(t − t_e) / h) )

where clamp_r limits a rule's decayed total to its cap (to −cap for negative points), and an
event dated after t counts in full. Every matching rule counts an event (a pricing page view
can earn both "any page view" and "pricing page" points). The SQL computation of the same
formula lives in `interest.repository`; `breakdown` is the one used to explain a score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadsift.criteria import Criteria, FieldRegistry, Moment, compile_criteria, evaluate
from leadsift.kit.durations import format_duration, parse_duration

# How many events of a rule an explanation lists (the largest contributions first).
EXPLAINED_EVENTS_PER_RULE = 20
# Beyond this many half-lives an event counts for nothing (2^-1000 ≈ 1e-301; PostgreSQL's exp()
# refuses to underflow further).
FORGOTTEN_AFTER_HALF_LIVES = 1000


@dataclass(frozen=True)
class InterestRuleSpec:
    """One checked interest rule."""

    index: int
    event: str
    where: Criteria | None
    points: int
    cap: int | None

    @property
    def text(self) -> str:
        """How the rule reads: `page_view where properties.path startswith "/menu"`."""
        return self.event if self.where is None else f"{self.event} where {self.where.text}"


@dataclass(frozen=True)
class InterestModel:
    """A playbook's interest section, checked: the half-life and the rules."""

    half_life: timedelta
    rules: tuple[InterestRuleSpec, ...]

    def event_types(self) -> list[str]:
        """The event types any rule counts, sorted."""
        return sorted({rule.event for rule in self.rules})

    def positive_rules(self) -> tuple[InterestRuleSpec, ...]:
        """Rules that add points (what counts as showing interest)."""
        return tuple(rule for rule in self.rules if rule.points > 0)


def compile_interest(
    document: Mapping[str, Any] | None, events: FieldRegistry
) -> InterestModel | None:
    """The interest section of a canonical playbook document, checked (None when absent)."""
    if not document:
        return None
    half_life = parse_duration(str(document["half_life"]))
    if half_life is None:  # pragma: no cover — the playbook schema validated it
        raise ValueError(f"bad half-life {document['half_life']!r}")
    rules = tuple(
        InterestRuleSpec(
            index=index,
            event=rule["event"],
            where=compile_criteria(rule["where"], events) if rule.get("where") else None,
            points=int(rule["points"]),
            cap=int(rule["cap"]) if rule.get("cap") is not None else None,
        )
        for index, rule in enumerate(document["rules"])
    )
    return InterestModel(half_life, rules)


def decay(age: timedelta, half_life: timedelta) -> float:
    """The share of an event's points left after AGE: 1 now, ½ after one half-life."""
    seconds = max(age.total_seconds(), 0.0)
    half_lives = seconds / half_life.total_seconds()
    if half_lives >= FORGOTTEN_AFTER_HALF_LIVES:
        return 0.0
    return math.exp(-math.log(2) * half_lives)


def clamp(total: float, cap: int | None) -> float:
    """A rule's decayed total limited to its cap (to −cap when the rule takes points away)."""
    if cap is None:
        return total
    return max(min(total, float(cap)), -float(cap))


def matches(rule: InterestRuleSpec, event: Mapping[str, Any], moment: Moment) -> bool:
    """Whether a rule counts an event (its type, and its `where` when there is one)."""
    if event["type"] != rule.event:
        return False
    return rule.where is None or evaluate(rule.where, event, moment) is True


@dataclass(frozen=True)
class EventContribution:
    """What one event adds through one rule at the scoring moment."""

    event_id: int
    type: str
    occurred_at: datetime
    points: int
    decayed: float


@dataclass(frozen=True)
class RuleContribution:
    """One rule's share of the interest: its events, their sum and the cap applied."""

    rule: str
    points: int
    cap: int | None
    matched: int
    total: float
    value: float
    events: tuple[EventContribution, ...]

    @property
    def capped(self) -> bool:
        """True when the cap cut the rule's total."""
        return self.value != self.total


@dataclass(frozen=True)
class InterestBreakdown:
    """The interest of one contact at one moment, rule by rule and event by event."""

    total: float
    at: datetime
    half_life: timedelta
    rules: tuple[RuleContribution, ...]

    def as_json(self) -> dict[str, Any]:
        """The breakdown as stored with a stage change and shown by `explain`."""
        return {
            "interest": round(self.total, 6),
            "at": self.at.isoformat(),
            "half_life": format_duration(self.half_life),
            "rules": [
                {
                    "rule": rule.rule,
                    "points": rule.points,
                    "cap": rule.cap,
                    "events": rule.matched,
                    "total": round(rule.total, 6),
                    "value": round(rule.value, 6),
                    "capped": rule.capped,
                    "contributions": [
                        {
                            "event_id": item.event_id,
                            "type": item.type,
                            "occurred_at": item.occurred_at.isoformat(),
                            "points": item.points,
                            "decayed": round(item.decayed, 6),
                        }
                        for item in rule.events
                    ],
                }
                for rule in self.rules
                if rule.matched
            ],
        }


def breakdown(
    model: InterestModel, events: Sequence[Mapping[str, Any]], now: datetime
) -> InterestBreakdown:
    """A contact's interest at NOW from its events (mappings with id, type, occurred_at, …)."""
    moment = Moment(now)
    rules = []
    for rule in model.rules:
        contributions = [
            EventContribution(
                event["id"],
                event["type"],
                event["occurred_at"],
                rule.points,
                rule.points * decay(now - event["occurred_at"], model.half_life),
            )
            for event in events
            if matches(rule, event, moment)
        ]
        total = math.fsum(item.decayed for item in contributions)
        largest = sorted(contributions, key=lambda item: -abs(item.decayed))
        rules.append(
            RuleContribution(
                rule=rule.text,
                points=rule.points,
                cap=rule.cap,
                matched=len(contributions),
                total=total,
                value=clamp(total, rule.cap),
                events=tuple(largest[:EXPLAINED_EVENTS_PER_RULE]),
            )
        )
    return InterestBreakdown(
        total=math.fsum(rule.value for rule in rules),
        at=now,
        half_life=model.half_life,
        rules=tuple(rules),
    )
