"""Criteria over events in SQL: event fields of a row, and aggregates of a contact's events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.sql.expression import FromClause

from leadsift.criteria import Moment
from leadsift.criteria.checker import CheckedAggregate
from leadsift.criteria.fields import FieldSpec
from leadsift.criteria.sql import to_sql
from leadsift.engagement.models import Event
from leadsift.kit.sqljson import json_value_at


class EventSqlFields:
    """How event fields read a row of `events` (or an alias of it) in SQL."""

    def __init__(self, table: FromClause | None = None) -> None:
        self.table = table if table is not None else Event.__table__

    def value(self, spec: FieldSpec) -> ColumnElement[Any]:
        """A column, or a property read as the type it is compared with."""
        if spec.kind == "column":
            column: ColumnElement[Any] = self.table.c[spec.key]
            return column
        if spec.kind == "property":
            return json_value_at(self.table.c.properties, spec.key, spec.value_type)
        raise ValueError(f"no event field {spec.name}")

    def birth_date(self) -> ColumnElement[Any]:
        """Events have no age."""
        raise ValueError("events have no birth date")

    def imported_age(self) -> ColumnElement[Any]:
        """Events have no age."""
        raise ValueError("events have no age")

    def aggregate(self, aggregate: CheckedAggregate, moment: Moment) -> ColumnElement[Any]:
        """Aggregates do not nest."""
        raise ValueError("aggregates over events of an event do not exist")


def event_condition(aggregate: CheckedAggregate, events: FromClause, moment: Moment) -> list[Any]:
    """The conditions selecting the events an aggregate counts (type, where, within)."""
    conditions: list[Any] = [events.c.type == aggregate.event]
    if aggregate.within is not None:
        conditions.append(events.c.occurred_at >= moment.now - aggregate.within)
    if aggregate.where is not None:
        conditions.append(to_sql(aggregate.where, EventSqlFields(events), moment))
    return conditions


def aggregate_sql(
    aggregate: CheckedAggregate, moment: Moment, contact_id: ColumnElement[Any]
) -> ColumnElement[Any]:
    """`count(…)` or `last(…)` of the events of the contact whose id is CONTACT_ID."""
    events = Event.__table__.alias("aggregated_events")
    conditions = [events.c.contact_id == contact_id, *event_condition(aggregate, events, moment)]
    measure = func.count() if aggregate.function == "count" else func.max(events.c.occurred_at)
    value: ColumnElement[Any] = select(measure).where(*conditions).scalar_subquery()
    return value
