"""What `contact_scores` keeps of each contact's decayed points, so that a later scoring decays
them instead of reading every event again; SQL expressions, no I/O.

For a moment t after every counted event, Σ_e p·2^(−(t − t_e)/h) = 2^(−(t − s)/h) · Σ_e
p·2^(−(s − t_e)/h): a rule's decayed total at t is its total at s decayed by t − s. So the rules'
totals as of `sums_epoch` give the interest at any later moment — the rules without a cap added up
(the sum decays as its terms do), each capped rule apart (its cap applies after the decay). That
holds while no counted event is dated after `sums_epoch` (it counted in full then, with no decay)
and none has passed the 1,000-half-life cut-off (it counts for nothing then): the oldest and
newest events stored beside the sums tell when a contact must be computed from its events again.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Float, case, func, literal
from sqlalchemy.sql.expression import FromClause

from leadsift.interest.decay import InterestModel, InterestRuleSpec
from leadsift.kit.sqljson import epoch_seconds

# Capped rules whose totals a row can keep (a model with more is computed from the events at
# every run, as before).
MAX_CAPPED: Final = 8
CAPPED_COLUMNS: Final = tuple(f"capped_{slot}" for slot in range(MAX_CAPPED))
STORED_COLUMNS: Final = ("oldest_epoch", "newest_epoch", "uncapped", *CAPPED_COLUMNS)


def model_key(model: InterestModel) -> int:
    """A 64-bit fingerprint of the interest model (half-life and rules): sums stored under
    another model are computed again."""
    described = [model.half_life.total_seconds()] + [
        [rule.event, rule.where.text if rule.where is not None else None, rule.points, rule.cap]
        for rule in model.rules
    ]
    digest = hashlib.sha256(json.dumps(described).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def capped_rules(model: InterestModel) -> list[InterestRuleSpec]:
    """The rules with a cap, in the order of their columns."""
    return [rule for rule in model.rules if rule.cap is not None]


def storable(model: InterestModel) -> bool:
    """Whether a row can keep the model's sums (at most MAX_CAPPED capped rules)."""
    return len(capped_rules(model)) <= MAX_CAPPED


def clamped(total: Any, rule: InterestRuleSpec) -> Any:
    """A rule's decayed total (an SQL expression) limited to its cap."""
    if rule.cap is None:
        return total
    limit = literal(float(rule.cap), Float())
    return case((total > limit, limit), (total < -limit, -limit), else_=total)


def sums_columns(per_rule: FromClause, model: InterestModel) -> list[Any]:
    """What is stored of the sums (labelled) from the per-rule totals of weights `rule_<index>`
    and the span of the events (`oldest_at`, `newest_at`)."""
    zero: Any = literal(0.0, Float())
    uncapped = zero
    for rule in model.rules:
        if rule.cap is None:
            uncapped = uncapped + per_rule.c[f"rule_{rule.index}"] * rule.points
    columns = [
        epoch_seconds(per_rule.c.oldest_at).label("oldest_epoch"),
        epoch_seconds(per_rule.c.newest_at).label("newest_epoch"),
        uncapped.label("uncapped"),
    ]
    if not storable(model):
        return columns
    for name, rule in zip(CAPPED_COLUMNS, capped_rules(model), strict=False):
        columns.append((per_rule.c[f"rule_{rule.index}"] * rule.points).label(name))
    return columns


def decayed_interest(model: InterestModel, now: datetime, scores: FromClause) -> Any:
    """The interest at NOW from a row's stored sums (for rows whose sums are as of NOW or
    before, every counted event no later and none forgotten by NOW)."""
    rate = math.log(2) / model.half_life.total_seconds()
    at = literal(now.timestamp(), Float())
    factor: Any = case(
        (scores.c.sums_epoch >= at, literal(1.0, Float())),
        else_=func.exp(-rate * (at - scores.c.sums_epoch)),
    )
    total: Any = scores.c.uncapped * factor
    for name, rule in zip(CAPPED_COLUMNS, capped_rules(model), strict=False):
        total = total + clamped(scores.c[name] * factor, rule)
    return total
