"""Which of a workspace's fields a model may learn from, and the value of a prediction; pure.

Features are named as criteria name them (`age`, `job`, `interest`), plus two per event type:
`count(TYPE)` (events of that type) and `days_since(TYPE)` (days since the last one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

from leadsift.criteria import FieldSpec
from leadsift.qualification.playbook_schema import ValuePolicy
from leadsift.scoring.dataset import FeatureKind
from leadsift.scoring.screening import Exclusion

# Never features: who the person is (identifiers, names) and the lifecycle being predicted.
IDENTIFIERS: Final = frozenset(
    {"id", "email", "phone", "phone_raw", "external_id", "first_name", "last_name"}
)
LIFECYCLE: Final = frozenset({"stage", "stage_reason", "updated_at"})
# When the record was made says how it was imported (one batch, file order), not who the
# person is: a model would learn the file's order, which drifts with time.
RECORD_TIMES: Final = frozenset({"created_at"})
_KIND_OF_TYPE: Final[dict[str, FeatureKind]] = {
    "integer": "number",
    "number": "number",
    "boolean": "boolean",
    # Dates become a number: days before the moment of training or scoring.
    "date": "number",
    "datetime": "number",
    "text": "category",
}
_EVENT_FEATURE = re.compile(r"(count|days_since)\(([a-z][a-z0-9_]*)\)")


@dataclass(frozen=True)
class FeatureSource:
    """Where a feature's values come from: a field of the contact, or its events of one type."""

    name: str
    kind: FeatureKind
    spec: FieldSpec | None = None  # a field criteria can read (None for `age` and event ones)
    event_type: str | None = None
    aggregate: Literal["count", "days_since"] | None = None


def event_sources(event_type: str) -> list[FeatureSource]:
    """The two features of an event type."""
    return [
        FeatureSource(f"count({event_type})", "number", event_type=event_type, aggregate="count"),
        FeatureSource(
            f"days_since({event_type})", "number", event_type=event_type, aggregate="days_since"
        ),
    ]


def candidate_sources(
    specs: Iterable[FieldSpec],
    event_types: Sequence[str],
    *,
    outcome_fields: Iterable[str] = (),
    outcome_events: Iterable[str] = (),
    short_names: Mapping[str, str] | None = None,
) -> tuple[list[FeatureSource], list[Exclusion]]:
    """The features a model may learn from, and the fields left out with their reasons.

    Custom attributes are named by their bare key where it is unambiguous (SHORT_NAMES).
    OUTCOME_FIELDS are the label's own fields and OUTCOME_EVENTS the events that are the
    outcome (a purchase, when the label is "became a customer"): both would leak the answer.
    """
    outcome, converting = set(outcome_fields), set(outcome_events)
    short = short_names or {}
    sources: list[FeatureSource] = []
    excluded: list[Exclusion] = []
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen or spec.kind in ("property", "aggregate"):
            continue
        seen.add(spec.name)
        name = short.get(spec.name, spec.name)
        reason = _never_a_feature(spec, outcome)
        if reason is not None:
            excluded.append(Exclusion(name, reason))
        elif spec.kind == "age":
            sources.append(FeatureSource("age", "number"))
        elif spec.value_type in _KIND_OF_TYPE:
            sources.append(FeatureSource(name, _KIND_OF_TYPE[spec.value_type], spec=spec))
    for event_type in sorted(event_types):
        if event_type in converting:
            excluded.append(
                Exclusion(f"count({event_type})", "a conversion event: it is the outcome itself")
            )
            continue
        sources.extend(event_sources(event_type))
    return sources, excluded


def _never_a_feature(spec: FieldSpec, outcome: set[str]) -> str | None:
    if spec.name in outcome or spec.key in outcome:
        return "the label itself"
    checks = (
        (spec.name in IDENTIFIERS, "identifies the person: never a feature"),
        (spec.name in LIFECYCLE, "the lifecycle the model predicts: it would leak the outcome"),
        (spec.name in RECORD_TIMES, "when the record was made: the import's order, not the person"),
        (spec.kind == "prediction", "a prediction of a model, not an observation"),
        (spec.name == "birth_date", "used through age"),
        (
            spec.kind == "consent",
            "consent says whether a person may be contacted, not whether they will buy",
        ),
    )
    return next((reason for applies, reason in checks if applies), None)


def source_of(name: str, fields: dict[str, FieldSpec]) -> FeatureSource | None:
    """The source of a model's feature NAME in this workspace (None when it has no such field)."""
    match = _EVENT_FEATURE.fullmatch(name)
    if match is not None:
        if match.group(1) == "count":
            return FeatureSource(name, "number", event_type=match.group(2), aggregate="count")
        return FeatureSource(name, "number", event_type=match.group(2), aggregate="days_since")
    if name == "age":
        return FeatureSource("age", "number")
    spec = fields.get(name)
    if spec is None or spec.value_type not in _KIND_OF_TYPE:
        return None
    return FeatureSource(name, _KIND_OF_TYPE[spec.value_type], spec=spec)


def priorities(probabilities: Any, stages: Sequence[str], value: ValuePolicy) -> Any:
    """Expected value of working each contact next: probability × deal − the next action's cost.

    A qualified prospect's next action is a sales agent's call; anyone else's is a message.
    """
    calls = np.asarray(stages, dtype=object) == "qualified"
    return np.asarray(probabilities) * value.deal - np.where(
        calls, value.call_cost, value.message_cost
    )
