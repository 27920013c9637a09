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
from sqlalchemy.orm import Session

from leadsift.contacts.models import Contact
from leadsift.kit.bulk import dialect_insert
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


def active_version(session: Session) -> PlaybookVersion | None:
    """The playbook version applied last (None before any playbook is applied)."""
    query = (
        select(PlaybookVersion)
        .where(PlaybookVersion.activated_at.is_not(None))
        .order_by(PlaybookVersion.activated_at.desc(), PlaybookVersion.id.desc())
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


_EVALUATION_COLUMNS = (
    "contact_id",
    "playbook_version_id",
    "previous_stage",
    "outcome",
    "reason",
    "fit",
    "results",
    "field_values",
    "evaluated_at",
)
STAGE_CHANGE_COLUMNS = (
    "contact_id",
    "from_stage",
    "to_stage",
    "reason",
    "actor",
    "playbook_version_id",
    "explanation",
    "changed_at",
)
Counts = list[tuple[str, str, str, int]]


def write_evaluations(
    session: Session, plan: EvaluationSql, version_id: int, actor: str, at: datetime
) -> Counts:
    """Evaluate every contact in an evaluated stage, set-based, and apply the outcomes.

    The criteria run once: each evaluation is upserted into `contact_evaluations` (with the
    stage the contact had), and the stage changes (with their explanation), the contacts' new
    stage and the counts are read from those rows, in this transaction, without joining back
    to the contacts. Returns (stage before, outcome, reason, contacts).
    """
    _prepare(session)
    source = select(
        Contact.id,
        literal(version_id),
        Contact.stage,
        plan.outcome(),
        plan.reason(),
        plan.fit(),
        plan.results(),
        plan.field_values(),
        literal(at, ContactEvaluation.evaluated_at.type),
    ).where(Contact.stage.in_(_EVALUATED))
    upsert = dialect_insert(session)(ContactEvaluation).from_select(_EVALUATION_COLUMNS, source)
    refreshed = {name: upsert.excluded[name] for name in _EVALUATION_COLUMNS[1:]}
    upsert = upsert.on_conflict_do_update(index_elements=["contact_id"], set_=refreshed)
    session.execute(upsert)
    _analyze(session, "contact_evaluations")  # the rows just written steer the joins below
    run = ContactEvaluation.__table__.alias("run")
    this_run = and_(run.c.playbook_version_id == version_id, run.c.evaluated_at == at)
    moves = _stage_changes(run, actor, version_id, at).where(this_run)
    session.execute(insert(StageChange).from_select(STAGE_CHANGE_COLUMNS, moves))
    session.execute(_outcomes_update(run, at).where(this_run))
    return _counts(session, _counts_query(run).where(this_run))


def _counts_query(run: Any) -> Any:
    columns = (run.c.previous_stage, run.c.outcome, run.c.reason)
    return select(*columns, func.count()).group_by(*columns)


def _counts(session: Session, query: Any) -> Counts:
    return [(row[0], row[1], row[2], row[3]) for row in session.execute(query)]


def _stage_changes(run: Any, actor: str, version_id: int, at: datetime) -> Any:
    """Rows for `stage_changes`: the moves of this run, with their explanation."""
    explanation = json_record(
        literal("playbook_version_id", String()),
        literal(version_id),
        literal("results", String()),
        stored_json(run.c.results),
        literal("field_values", String()),
        stored_json(run.c.field_values),
        literal("fit", String()),
        run.c.fit,
    )
    return select(
        run.c.contact_id,
        run.c.previous_stage,
        run.c.outcome,
        run.c.reason,
        literal(actor, String()),
        literal(version_id),
        explanation,
        literal(at, StageChange.changed_at.type),
    ).where(run.c.previous_stage != run.c.outcome)


def _outcomes_update(run: Any, at: datetime) -> Any:
    """Move the contacts; only rows whose stage, reason or fit change are written."""
    changed = run.c.previous_stage != run.c.outcome
    differs = or_(
        changed,
        Contact.stage_reason.is_distinct_from(run.c.reason),
        Contact.fit.is_distinct_from(run.c.fit),
    )
    return (
        update(Contact)
        .where(Contact.id == run.c.contact_id, differs)
        .values(
            stage=run.c.outcome,
            stage_reason=run.c.reason,
            fit=run.c.fit,
            stage_changed_at=case(
                (changed, literal(at, Contact.stage_changed_at.type)),
                else_=Contact.stage_changed_at,
            ),
        )
        .execution_options(synchronize_session=False)
    )


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
    _analyze(session, "contacts")


def _analyze(session: Session, table: str) -> None:
    """Fresh planner statistics on PostgreSQL.

    After a bulk write the planner guesses a few hundred rows until autovacuum runs, and nested
    loops over a million rows follow; ANALYZE samples in a fraction of a second. JIT is off for
    the transaction: compiling these one-pass statements costs more than it saves.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text(f"ANALYZE {table}"))


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


def last_stage_change_id(session: Session) -> int:
    """The id of the latest stage change (0 when none): moves after it are this run's."""
    return int(session.scalar(select(func.max(StageChange.id))) or 0)


def moves_since(session: Session, after_id: int) -> list[tuple[str, str, str, int]]:
    """(from, to, reason, contacts) of the stage changes written after AFTER_ID, most first."""
    count = func.count(StageChange.contact_id.distinct())
    query = (
        select(StageChange.from_stage, StageChange.to_stage, StageChange.reason, count)
        .where(StageChange.id > after_id)
        .group_by(StageChange.from_stage, StageChange.to_stage, StageChange.reason)
        .order_by(count.desc(), StageChange.from_stage, StageChange.to_stage)
    )
    return [(f, t, r, int(n)) for f, t, r, n in session.execute(query)]


def movers_since(
    session: Session, after_id: int, move: tuple[str, str, str], limit: int
) -> list[int]:
    """A few contacts that made MOVE (from, to, reason) after AFTER_ID, first moved first."""
    source, target, reason = move
    query = (
        select(StageChange.contact_id)
        .where(
            StageChange.id > after_id,
            StageChange.from_stage == source,
            StageChange.to_stage == target,
            StageChange.reason == reason,
        )
        .order_by(StageChange.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def contacts_moved_since(session: Session, after_id: int) -> int:
    """How many contacts changed stage after AFTER_ID."""
    query = select(func.count(StageChange.contact_id.distinct())).where(StageChange.id > after_id)
    return int(session.scalar(query) or 0)
