"""SQL of the lifecycle: stage changes, playbook versions, and set-based qualification."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from leadsift.contacts.models import Contact
from leadsift.kit.sqljson import json_list, json_record, stored_json
from leadsift.qualification.models import ContactEvaluation, PlaybookVersion, StageChange
from leadsift.qualification.stages import EVALUATED_STAGES, Stage

_EVALUATED = [s.value for s in EVALUATED_STAGES]


@dataclass(frozen=True)
class EvaluationSql:
    """A playbook compiled to SQL: eligibility, its leaf predicates, fit rules, field values."""

    eligibility: ColumnElement[bool]
    predicates: Sequence[ColumnElement[bool]]
    fit_rules: Sequence[tuple[ColumnElement[bool], int]]
    values: Sequence[ColumnElement[Any]]

    def outcome(self) -> ColumnElement[str]:
        """`lead` when the criteria hold, else `unqualified`."""
        return case((self.eligibility, Stage.LEAD.value), else_=Stage.UNQUALIFIED.value)

    def reason(self) -> ColumnElement[str]:
        """Why: met, not met, or unknown because a value the criteria need is missing."""
        return case(
            (self.eligibility, "criteria_met"),
            (not_(self.eligibility), "criteria_not_met"),
            else_="missing_information",
        )

    def fit(self) -> ColumnElement[int]:
        """The sum of the points of the fit rules that hold."""
        total: ColumnElement[int] = literal(0)
        for condition, points in self.fit_rules:
            total = total + case((condition, points), else_=0)
        return total

    def results(self) -> ColumnElement[Any]:
        """A JSON array: each eligibility predicate then each fit rule, true/false/null."""
        items = [*self.predicates, *(condition for condition, _ in self.fit_rules)]
        return json_list(*items)

    def field_values(self) -> ColumnElement[Any]:
        """A JSON array of the values the playbook read."""
        return json_list(*self.values)


def latest_version(session: Session, name: str) -> PlaybookVersion | None:
    """The newest stored version of the playbook called NAME."""
    query = (
        select(PlaybookVersion)
        .where(PlaybookVersion.name == name)
        .order_by(PlaybookVersion.version.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def add_version(session: Session, version: PlaybookVersion) -> PlaybookVersion:
    """Store a playbook version and flush so it has an id."""
    session.add(version)
    session.flush()
    return version


def get_version(session: Session, version_id: int) -> PlaybookVersion | None:
    """One playbook version by id."""
    return session.get(PlaybookVersion, version_id)


def outcome_counts(session: Session, plan: EvaluationSql) -> list[tuple[str, str, str, int]]:
    """(current stage, outcome, reason, contacts) for the contacts `qualify` evaluates."""
    outcome, reason = plan.outcome(), plan.reason()
    query = (
        select(Contact.stage, outcome, reason, func.count())
        .where(Contact.stage.in_(_EVALUATED))
        .group_by(Contact.stage, outcome, reason)
    )
    return [(row[0], row[1], row[2], row[3]) for row in session.execute(query)]


def write_evaluations(
    session: Session, plan: EvaluationSql, version_id: int, actor: str, at: datetime
) -> list[tuple[str, str, str, int]]:
    """Evaluate every contact in an evaluated stage with a few set-based statements.

    The evaluation is computed once, into `contact_evaluations`; the counts, the stage changes
    (with their explanation) and the contacts' new stage are then read from it, in this
    transaction. Returns (stage before, outcome, reason, contacts).
    """
    evaluated = Contact.stage.in_(_EVALUATED)
    _prepare(session)
    source = select(
        Contact.id,
        literal(version_id),
        plan.outcome(),
        plan.reason(),
        plan.fit(),
        plan.results(),
        plan.field_values(),
        literal(at, ContactEvaluation.evaluated_at.type),
    ).where(evaluated)
    columns = [
        "contact_id",
        "playbook_version_id",
        "outcome",
        "reason",
        "fit",
        "results",
        "field_values",
        "evaluated_at",
    ]
    upsert = _insert_for(session)(ContactEvaluation).from_select(columns, source)
    refreshed = {name: upsert.excluded[name] for name in columns[1:]}
    session.execute(upsert.on_conflict_do_update(index_elements=["contact_id"], set_=refreshed))
    counts = select(
        Contact.stage, ContactEvaluation.outcome, ContactEvaluation.reason, func.count()
    ).where(_this_run(version_id, at))
    grouped = counts.group_by(Contact.stage, ContactEvaluation.outcome, ContactEvaluation.reason)
    result = [(row[0], row[1], row[2], row[3]) for row in session.execute(grouped)]
    _write_stage_changes(session, version_id, actor, at)
    _apply_outcomes(session, version_id, at)
    return result


def _insert_for(session: Session) -> Any:
    """The dialect's INSERT, for ON CONFLICT DO UPDATE (an upsert: no delete, no re-insert)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql_insert
    return sqlite_insert


def _prepare(session: Session) -> None:
    """Drop evaluations of deleted contacts; refresh PostgreSQL's statistics after imports.

    `contact_evaluations.contact_id` has no foreign key (a check per row would cost a
    million-contact qualify seconds), so evaluations of contacts deleted since (an undone
    import) are removed here, before ids can be handed out again.
    """
    # NOT EXISTS (an anti-join): PostgreSQL runs `NOT IN (subquery)` over a million ids as a
    # nested loop once the ids outgrow work_mem.
    alive = select(Contact.id).where(Contact.id == ContactEvaluation.contact_id).exists()
    session.execute(delete(ContactEvaluation).where(~alive))
    if session.get_bind().dialect.name == "postgresql":
        # Bulk imports leave the planner guessing (~800 rows for a million) until autovacuum
        # runs, and nested loops over a million rows follow; ANALYZE samples in a fraction of
        # a second.
        session.execute(text("ANALYZE contacts"))


def _this_run(version_id: int, at: datetime) -> ColumnElement[bool]:
    return and_(
        ContactEvaluation.contact_id == Contact.id,
        ContactEvaluation.playbook_version_id == version_id,
        ContactEvaluation.evaluated_at == at,
        Contact.stage.in_(_EVALUATED),
    )


def _write_stage_changes(session: Session, version_id: int, actor: str, at: datetime) -> None:
    explanation = json_record(
        literal("playbook_version_id", String()),
        literal(version_id),
        literal("results", String()),
        stored_json(ContactEvaluation.results),
        literal("field_values", String()),
        stored_json(ContactEvaluation.field_values),
        literal("fit", String()),
        ContactEvaluation.fit,
    )
    source = select(
        Contact.id,
        Contact.stage,
        ContactEvaluation.outcome,
        ContactEvaluation.reason,
        literal(actor, String()),
        literal(version_id),
        explanation,
        literal(at, StageChange.changed_at.type),
    ).where(_this_run(version_id, at), Contact.stage != ContactEvaluation.outcome)
    columns = [
        "contact_id",
        "from_stage",
        "to_stage",
        "reason",
        "actor",
        "playbook_version_id",
        "explanation",
        "changed_at",
    ]
    session.execute(insert(StageChange).from_select(columns, source))


def _apply_outcomes(session: Session, version_id: int, at: datetime) -> None:
    changed = Contact.stage != ContactEvaluation.outcome
    # Only rows that change are written: a re-run over unchanged contacts rewrites nothing.
    differs = or_(
        changed,
        Contact.stage_reason.is_distinct_from(ContactEvaluation.reason),
        Contact.fit.is_distinct_from(ContactEvaluation.fit),
    )
    statement = (
        update(Contact)
        .where(_this_run(version_id, at), differs)
        .values(
            stage=ContactEvaluation.outcome,
            stage_reason=ContactEvaluation.reason,
            fit=ContactEvaluation.fit,
            stage_changed_at=case(
                (changed, literal(at, Contact.stage_changed_at.type)),
                else_=Contact.stage_changed_at,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(statement)


def update_fit(session: Session, plan: EvaluationSql, stages: Sequence[str]) -> int:
    """Recompute fit points of contacts in STAGES (those `qualify` does not move)."""
    fit = plan.fit()
    statement = (
        update(Contact)
        .where(Contact.stage.in_(stages), Contact.fit.is_distinct_from(fit))
        .values(fit=fit)
        .execution_options(synchronize_session=False)
    )
    return session.execute(statement).rowcount  # type: ignore[attr-defined, no-any-return]


def stage_counts(session: Session) -> dict[str, int]:
    """Contacts per stage, every stage listed."""
    counts = {stage.value: 0 for stage in Stage}
    query = select(Contact.stage, func.count()).group_by(Contact.stage)
    for stage, count in session.execute(query):
        counts[stage] = count
    return counts


def reason_counts(session: Session, stage: str) -> dict[str, int]:
    """Contacts in STAGE by the reason they are there."""
    query = (
        select(Contact.stage_reason, func.count())
        .where(Contact.stage == stage)
        .group_by(Contact.stage_reason)
        .order_by(func.count().desc())
    )
    return {reason or "unknown": count for reason, count in session.execute(query)}


def add_stage_change(session: Session, change: StageChange) -> None:
    """Record one stage change (the caller changed the contact in the same transaction)."""
    session.add(change)
    session.flush()


def history(session: Session, contact_id: int) -> list[StageChange]:
    """A contact's stage changes, oldest first."""
    query = select(StageChange).where(StageChange.contact_id == contact_id).order_by(StageChange.id)
    return list(session.scalars(query))


def evaluation_of(session: Session, contact_id: int) -> ContactEvaluation | None:
    """The last evaluation of a contact against a playbook."""
    return session.get(ContactEvaluation, contact_id)


def contact_row(session: Session, contact_id: int, *, for_update: bool = False) -> Contact | None:
    """One contact, locked for the transaction when FOR_UPDATE (PostgreSQL)."""
    query = select(Contact).where(Contact.id == contact_id)
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).first()
