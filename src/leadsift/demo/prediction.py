"""The demo's predictive story: a model learnt from the bank's campaign history (who said yes),
everyone scored, and the prospects worth calling first, with the reasons the model gives."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.kit.cli import value_text
from leadsift.scoring import service as scoring
from leadsift.scoring.schemas import TrainRequest
from leadsift.segments import service as segments

# `y`: did the person subscribe in the bank's campaign; `duration` (the last call's length) is
# only known once the call is over, so it would leak the answer.
TRAINING: Final = TrainRequest(label="y", positive="yes", exclude=["duration"])
# Worth working now: people in the funnel who have not said yes yet.
PROSPECTS: Final = 'y = false and stage in ("lead", "qualified")'
PROSPECT_FIELDS: Final = ("id", "age", "job", "probability", "priority")
TOP: Final = 5
REASONS: Final = 3


def prediction_story(session: Session, now: datetime) -> dict[str, Any]:
    """Train on the bank history, score every contact, and list the top prospects with reasons."""
    from leadsift.scoring.training import train_model  # noqa: PLC0415 — keeps start-up light

    trained = train_model(session, TRAINING, now)
    scored = scoring.score_everyone(session, now)
    _, found = segments.rows(session, PROSPECTS, PROSPECT_FIELDS, TOP, "priority")
    prospects = []
    for values in found:
        person = dict(zip(PROSPECT_FIELDS, values, strict=True))
        explained = scoring.explain(session, person["id"], now, top=REASONS)
        person["reasons"] = _reasons(explained)
        prospects.append(person)
    return {
        "model": trained.model_dump(mode="json"),
        "scored": scored.model_dump(mode="json"),
        "prospects": {"criteria": PROSPECTS, "order_by": "priority", "top": prospects},
    }


def _reasons(explained: dict[str, Any] | None) -> list[str]:
    if explained is None:
        return []
    return [
        f"{item['feature']} {value_text(item['value'])} {item['contribution']:+.2f}"
        for item in explained["contributions"]
    ]
