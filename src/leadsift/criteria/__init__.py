"""The criteria language: one syntax for eligibility, fit rules, segments and filters.

`compile_criteria(text, registry)` parses and checks an expression; `evaluate` runs it on one
contact in Python and `to_sql` turns it into one SQL condition; both give the same answer.
"""

from leadsift.criteria.ast import Expr, from_json, to_json, to_text
from leadsift.criteria.checker import Criteria, check, compile_criteria
from leadsift.criteria.errors import CriteriaError
from leadsift.criteria.evaluate import Facts, Moment, Truth, evaluate
from leadsift.criteria.fields import FieldRegistry, FieldSpec
from leadsift.criteria.grammar import parse

__all__ = [
    "Criteria",
    "CriteriaError",
    "Expr",
    "Facts",
    "FieldRegistry",
    "FieldSpec",
    "Moment",
    "Truth",
    "check",
    "compile_criteria",
    "evaluate",
    "from_json",
    "parse",
    "to_json",
    "to_text",
]
