"""Lifecycle orchestration: set a stage by hand, validate and apply playbooks, qualify, explain.

Services flush; the entrypoint commits. Every stage change writes its `StageChange` row in the
same transaction as the change.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from sqlalchemy.orm import Session

from leadsift.access.schemas import Caller
from leadsift.access.service import audit
from leadsift.contacts import lookup
from leadsift.contacts.repository import ContactSqlFields
from leadsift.criteria import CriteriaError, FieldRegistry, Moment
from leadsift.criteria.sql import predicate_sql, to_sql
from leadsift.errors import NotFoundError
from leadsift.kit.clock import utcnow
from leadsift.qualification import playbooks, promotion, repository
from leadsift.qualification.evaluation import CompiledPlaybook, compile_playbook, explain_evaluation
from leadsift.qualification.models import StageChange
from leadsift.qualification.schemas import Explanation, QualifySummary, StageChangeView
from leadsift.qualification.stages import Stage, check_transition
from leadsift.segments.fields import profile_registry

# Stages whose fit points `qualify` refreshes without moving them.
_FIT_ONLY_STAGES = [Stage.LEAD.value, Stage.QUALIFIED.value]


def _evaluation_sql(compiled: CompiledPlaybook, moment: Moment) -> repository.EvaluationSql:
    fields = ContactSqlFields()
    values = []
    for slot in compiled.value_slots():
        if slot.part == "birth_date":
            values.append(fields.birth_date())
        elif slot.part == "age":
            values.append(fields.imported_age())
        else:
            values.append(fields.value(slot.spec))
    eligibility = compiled.eligibility
    return repository.EvaluationSql(
        eligibility=to_sql(eligibility, fields, moment),
        predicates=[predicate_sql(eligibility, leaf, fields, moment) for leaf in compiled.leaves()],
        fit_rules=[(to_sql(rule.criteria, fields, moment), rule.points) for rule in compiled.fit],
        values=values,
    )


def qualify(session: Session, text: str, source: str, *, dry_run: bool = False) -> QualifySummary:
    """Evaluate contacts in `contact` and `unqualified` against the playbook's eligibility."""
    started = time.perf_counter()
    playbook = playbooks.load(session, text, source)
    compiled = compile_playbook(playbook.canonical(), profile_registry(session))
    now = utcnow()
    plan = _evaluation_sql(compiled, Moment(now))
    version_number: int | None = None
    if dry_run:
        counts = repository.outcome_counts(session, plan)
        stages = repository.stage_counts(session)
        for stage, outcome, _, n in counts:
            stages[stage] -= n
            stages[outcome] += n
    else:
        version = playbooks.store_version(session, playbook, text, source)
        version_number = version.version
        actor = f"playbook:{version.name}@{version.version}"
        # The counts come from the evaluations as written: the criteria run once.
        counts = repository.write_evaluations(session, plan, version.id, actor, now)
        repository.update_fit(session, plan, _FIT_ONLY_STAGES)
        session.flush()
        stages = repository.stage_counts(session)
    evaluated = sum(n for *_, n in counts)
    changed = sum(n for stage, outcome, _, n in counts if stage != outcome)
    reasons: Counter[str] = Counter()
    for _, _, reason, n in counts:
        reasons[reason] += n
    return QualifySummary(
        playbook=playbook.name,
        playbook_version=version_number,
        evaluated=evaluated,
        changed=changed,
        stages=stages,
        reasons=dict(sorted(reasons.items())),
        dry_run=dry_run,
        seconds=round(time.perf_counter() - started, 3),
    )


def funnel_so_far(session: Session) -> dict[str, Any]:
    """Contacts, leads and unqualified by reason: the funnel before any interest is known."""
    stages = repository.stage_counts(session)
    return {
        "contacts": sum(stages.values()),
        "stages": stages,
        "leads": stages[Stage.LEAD.value],
        "unqualified": stages[Stage.UNQUALIFIED.value],
        "unqualified_by_reason": repository.reason_counts(session, Stage.UNQUALIFIED.value),
    }


def _contact_id(session: Session, ref: str, region: str) -> int:
    return lookup.find_contact(session, ref, region).id


def set_stage(
    session: Session,
    ref: str,
    target: Stage,
    reason: str,
    *,
    actor: str,
    region: str = "FR",
    note: str | None = None,
    caller: Caller | None = None,
) -> StageChangeView:
    """Move one contact by hand; refused unless the lifecycle table allows it. A change made by
    a person is written to the audit log (CALLER, else the command line)."""
    contact_id = _contact_id(session, ref, region)
    contact = repository.contact_row(session, contact_id, for_update=True)
    if contact is None:  # pragma: no cover — found a moment ago, in this transaction
        raise NotFoundError(f"contact {contact_id} no longer exists")
    source = Stage(contact.stage)
    check_transition(source, target, reason)
    now = utcnow()
    change = StageChange(
        contact_id=contact.id,
        from_stage=source.value,
        to_stage=target.value,
        reason=reason,
        actor=actor,
        explanation={"note": note} if note else None,
        changed_at=now,
    )
    contact.stage = target.value
    contact.stage_reason = reason
    contact.stage_changed_at = now
    repository.add_stage_change(session, change)
    details = {"from": source.value, "to": target.value, "reason": reason}
    audit(session, caller, "stage_changed", ("contact", contact.id), details=details, at=now)
    return StageChangeView.model_validate(change)


def _readable(
    session: Session, registry: FieldRegistry, change: StageChangeView
) -> StageChangeView:
    """A playbook move's stored results, criterion by criterion, as `explain` shows them."""
    stored = change.explanation
    if change.playbook_version_id is None or not stored or "results" not in stored:
        return change
    version = repository.get_version(session, change.playbook_version_id)
    if version is None:
        return change
    try:
        compiled = compile_playbook(version.document, registry)
    except CriteriaError:  # an attribute the version used has since been removed
        return change
    readable = explain_evaluation(
        compiled, stored["results"], stored.get("field_values", []), change.changed_at
    )
    return change.model_copy(update={"explanation": {**readable, "playbook": version.name}})


def explain(session: Session, ref: str, region: str = "FR") -> Explanation:
    """A contact's stage history and its last evaluation, criterion by criterion."""
    contact_id = _contact_id(session, ref, region)
    contact = repository.contact_row(session, contact_id)
    assert contact is not None  # noqa: S101 — found a moment ago, in this transaction
    registry = profile_registry(session)
    history = [
        _readable(session, registry, StageChangeView.model_validate(change))
        for change in repository.history(session, contact_id)
    ]
    evaluation = repository.evaluation_of(session, contact_id)
    if evaluation is not None and evaluation.evaluated_at < contact.created_at:
        evaluation = None  # left by a deleted contact whose id was handed out again
    detail = None
    if evaluation is not None:
        version = repository.get_version(session, evaluation.playbook_version_id)
        assert version is not None  # noqa: S101 — a foreign key with ON DELETE CASCADE
        compiled = compile_playbook(version.document, registry)
        detail = {
            "playbook": version.name,
            "playbook_version": version.version,
            "evaluated_at": evaluation.evaluated_at,
            "outcome": evaluation.outcome,
            "reason": evaluation.reason,
            **explain_evaluation(
                compiled, evaluation.results, evaluation.field_values, evaluation.evaluated_at
            ),
        }
    return Explanation(
        contact_id=contact.id,
        stage=contact.stage,
        stage_reason=contact.stage_reason,
        fit=contact.fit,
        history=history,
        evaluation=detail,
        interest=promotion.explain_interest(session, contact.id),
    )
