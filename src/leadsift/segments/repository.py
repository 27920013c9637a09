"""How segment criteria read a contact in SQL: the contact's row, scores and events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement

from leadsift.contacts.repository import ContactSqlFields
from leadsift.criteria import Moment
from leadsift.criteria.checker import CheckedAggregate
from leadsift.engagement.criteria_sql import aggregate_sql


class WorkspaceSqlFields(ContactSqlFields):
    """Contact fields plus aggregates over the contact's events."""

    def aggregate(self, aggregate: CheckedAggregate, moment: Moment) -> ColumnElement[Any]:
        """`count(…)`/`last(…)` as a subquery correlated with the contact row."""
        return aggregate_sql(aggregate, moment, self.table.c.id)
