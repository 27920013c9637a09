"""A playbook's criteria, checked, and what one evaluation of a contact means; pure.

The same `CompiledPlaybook` drives the set-based SQL run of `qualify`, the Python evaluation of
one contact, and `explain` (which reads back the stored results in the same order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from leadsift.criteria import Criteria, FieldRegistry, FieldSpec, Moment, compile_criteria
from leadsift.criteria.ast import Field, Predicate, predicates, to_text
from leadsift.criteria.evaluate import Facts, age_on, evaluate, evaluate_predicate, field_value
from leadsift.qualification.stages import Stage


@dataclass(frozen=True)
class FitCriterion:
    """One fit rule, checked."""

    criteria: Criteria
    points: int
    label: str | None


@dataclass(frozen=True)
class ValueSlot:
    """One stored value: a field, or for `age` its birth date and imported age."""

    spec: FieldSpec
    part: str  # "value", "birth_date" or "age"


@dataclass(frozen=True)
class CompiledPlaybook:
    """Eligibility and fit rules of a playbook version, resolved against the known fields."""

    eligibility: Criteria
    fit: tuple[FitCriterion, ...]

    def leaves(self) -> list[Predicate]:
        """The eligibility predicates, left to right."""
        return list(predicates(self.eligibility.expr))

    def all_criteria(self) -> list[Criteria]:
        """Eligibility then each fit rule."""
        return [self.eligibility, *(rule.criteria for rule in self.fit)]

    def value_slots(self) -> list[ValueSlot]:
        """The values an evaluation records, in a fixed order (fields by first use)."""
        slots: list[ValueSlot] = []
        seen: set[str] = set()
        for criteria in self.all_criteria():
            for name in criteria.field_names():
                if name in seen:
                    continue
                seen.add(name)
                spec = next(s for s in criteria.fields.values() if s.name == name)
                if spec.kind == "age":
                    slots += [ValueSlot(spec, "birth_date"), ValueSlot(spec, "age")]
                else:
                    slots.append(ValueSlot(spec, "value"))
        return slots


def compile_playbook(document: Mapping[str, Any], registry: FieldRegistry) -> CompiledPlaybook:
    """Check the eligibility and fit rules of a canonical playbook document."""
    fit = tuple(
        FitCriterion(
            compile_criteria(rule["when"], registry), int(rule["points"]), rule.get("label")
        )
        for rule in document.get("fit") or ()
    )
    return CompiledPlaybook(compile_criteria(document["eligibility"], registry), fit)


@dataclass(frozen=True)
class Outcome:
    """The result of evaluating one contact: where it goes, why, and its fit points."""

    stage: Stage
    reason: str
    fit: int
    results: list[bool | None]


def evaluate_contact(playbook: CompiledPlaybook, facts: Facts, moment: Moment) -> Outcome:
    """Evaluate one contact in Python (the same answer as the set-based SQL run)."""
    truth = evaluate(playbook.eligibility, facts, moment)
    results: list[bool | None] = []
    for leaf in playbook.leaves():
        spec = playbook.eligibility.spec(_name(leaf))
        results.append(evaluate_predicate(leaf, spec, field_value(spec, facts, moment), moment))
    fit = 0
    for rule in playbook.fit:
        holds = evaluate(rule.criteria, facts, moment)
        results.append(holds)
        fit += rule.points if holds is True else 0
    if truth is True:
        return Outcome(Stage.LEAD, "criteria_met", fit, results)
    reason = "criteria_not_met" if truth is False else "missing_information"
    return Outcome(Stage.UNQUALIFIED, reason, fit, results)


def _name(leaf: Predicate) -> str:
    assert isinstance(leaf.subject, Field)  # noqa: S101 — the checker refuses aggregates
    return leaf.subject.name


def _truth(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _typed(spec: FieldSpec, value: Any) -> Any:
    """Stored JSON values back to Python (SQLite gives booleans as 0/1, dates as text)."""
    if value is None:
        return None
    if spec.value_type == "boolean":
        return bool(value)
    if spec.value_type == "date" and isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


def _values_by_field(
    playbook: CompiledPlaybook, values: Sequence[Any], evaluated_at: datetime
) -> dict[str, Any]:
    stored = dict(
        zip(((s.spec.name, s.part) for s in playbook.value_slots()), values, strict=False)
    )
    out: dict[str, Any] = {}
    for slot in playbook.value_slots():
        raw = stored.get((slot.spec.name, slot.part))
        if slot.spec.kind != "age":
            out[slot.spec.name] = _typed(slot.spec, raw)
        elif slot.part == "birth_date" and raw is not None:
            out["age"] = age_on(date.fromisoformat(str(raw)[:10]), evaluated_at.date())
        elif slot.part == "age" and "age" not in out:
            out["age"] = raw
    return out


def explain_evaluation(
    playbook: CompiledPlaybook,
    results: Sequence[Any],
    values: Sequence[Any],
    evaluated_at: datetime,
) -> dict[str, Any]:
    """Each criterion with the contact's value and its result; the fit points by rule."""
    by_field = _values_by_field(playbook, values, evaluated_at)
    leaves = playbook.leaves()
    criteria = []
    for leaf, result in zip(leaves, results, strict=False):
        name = playbook.eligibility.spec(_name(leaf)).name
        value = by_field.get(name)
        criteria.append(
            {"criterion": to_text(leaf), "field": name, "value": value, "result": _truth(result)}
        )
    fit_rules = []
    for rule, result in zip(playbook.fit, results[len(leaves) :], strict=False):
        holds = _truth(result)
        fit_rules.append(
            {
                "when": rule.criteria.text,
                "label": rule.label,
                "points": rule.points,
                "result": holds,
                "earned": rule.points if holds is True else 0,
            }
        )
    missing = sorted(
        {str(c["field"]) for c in criteria if c["result"] is None and c["value"] is None}
    )
    return {
        "eligibility": playbook.eligibility.text,
        "criteria": criteria,
        "missing": missing,
        "fit": {"total": sum(r["earned"] for r in fit_rules), "rules": fit_rules},
    }
