"""Errors in a criteria expression: where (line, column), the offending token, and what to do."""

from __future__ import annotations

from typing import Any

from leadsift.errors import InvalidInputError


class CriteriaError(InvalidInputError):
    """A criteria expression that cannot be parsed, resolved or typed; nothing was run."""

    code = "invalid_criteria"

    def __init__(self, reason: str, at: Any, token: str) -> None:
        line = getattr(at, "line", 1)
        column = getattr(at, "column", 1)
        super().__init__(f"line {line}, column {column}: {reason}")
        self.reason = reason
        self.line = line
        self.column = column
        self.token = token

    def as_json(self) -> dict[str, Any]:
        """The error as the API and `--json` report it."""
        return {
            "code": self.code,
            "message": self.message,
            "line": self.line,
            "column": self.column,
            "token": self.token,
        }
