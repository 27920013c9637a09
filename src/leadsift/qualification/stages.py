"""The lifecycle (DESIGN §2): stages and the one table of allowed transitions; pure."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from leadsift.errors import InvalidInputError


class Stage(StrEnum):
    """Where a contact stands in the funnel."""

    CONTACT = "contact"
    LEAD = "lead"
    QUALIFIED = "qualified"
    CUSTOMER = "customer"
    UNQUALIFIED = "unqualified"
    LOST = "lost"


INITIAL_STAGE = Stage.CONTACT

# (from, to) -> the reason codes that justify the move. Nothing else is allowed.
TRANSITIONS: Final[dict[tuple[Stage, Stage], frozenset[str]]] = {
    (Stage.CONTACT, Stage.LEAD): frozenset({"criteria_met"}),
    (Stage.CONTACT, Stage.UNQUALIFIED): frozenset({"criteria_not_met", "missing_information"}),
    (Stage.LEAD, Stage.QUALIFIED): frozenset({"interest_threshold", "hand_raiser"}),
    (Stage.LEAD, Stage.UNQUALIFIED): frozenset({"no_interest"}),
    (Stage.UNQUALIFIED, Stage.LEAD): frozenset({"criteria_met"}),
    (Stage.UNQUALIFIED, Stage.QUALIFIED): frozenset({"interest_threshold", "hand_raiser"}),
    (Stage.QUALIFIED, Stage.CUSTOMER): frozenset({"purchase", "promo_redeemed", "won"}),
    (Stage.QUALIFIED, Stage.LOST): frozenset(
        {"not_interested", "bad_fit", "no_budget", "competitor", "unreachable"}
    ),
    (Stage.QUALIFIED, Stage.UNQUALIFIED): frozenset({"recycled"}),
    (Stage.LOST, Stage.UNQUALIFIED): frozenset({"recycled"}),
}
# Stages `qualify` evaluates against the playbook's eligibility criteria.
EVALUATED_STAGES: Final[tuple[Stage, ...]] = (Stage.CONTACT, Stage.UNQUALIFIED)


class TransitionError(InvalidInputError):
    """A stage change the lifecycle does not allow; nothing was changed."""

    code = "invalid_transition"


def parse_stage(text: str) -> Stage:
    """A stage from its name, or an error listing the stages."""
    try:
        return Stage(text.strip().lower())
    except ValueError:
        names = ", ".join(s.value for s in Stage)
        raise InvalidInputError(f"unknown stage {text!r}; stages are {names}") from None


def allowed_reasons(source: Stage, target: Stage) -> frozenset[str]:
    """The reason codes that allow SOURCE -> TARGET (empty when the move is not allowed)."""
    return TRANSITIONS.get((source, target), frozenset())


def check_transition(source: Stage, target: Stage, reason: str) -> None:
    """Refuse any move the lifecycle table does not list, or a reason that does not fit it."""
    reasons = allowed_reasons(source, target)
    if not reasons:
        targets = sorted(t.value for (s, t) in TRANSITIONS if s == source)
        allowed = ", ".join(targets) if targets else "nothing (final stage)"
        raise TransitionError(
            f"a contact cannot go from {source.value} to {target.value}; "
            f"from {source.value} it can go to {allowed}"
        )
    if reason not in reasons:
        raise TransitionError(
            f"reason {reason!r} does not fit {source.value} -> {target.value}; "
            f"use one of {', '.join(sorted(reasons))}"
        )
