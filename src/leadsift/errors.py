"""Errors that reach users: each has a stable code, an HTTP status and an actionable message."""

from __future__ import annotations


class LeadsiftError(Exception):
    """Base of every error a user can cause; rendered as one line by the CLI, API and web."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConfigurationError(LeadsiftError):
    """The settings or the database URL cannot be used."""

    code = "configuration"
    http_status = 500


class DatabaseError(LeadsiftError):
    """The database is unreachable, locked or not what leadsift expects."""

    code = "database"
    http_status = 503


class NotFoundError(LeadsiftError):
    """A referenced object (contact, batch, file) does not exist."""

    code = "not_found"
    http_status = 404


class InvalidInputError(LeadsiftError):
    """A value, option or file given by the user is not usable."""

    code = "invalid_input"
    http_status = 422


class MalformedJsonError(InvalidInputError):
    """A request body that is not JSON at all."""

    code = "malformed_json"
    http_status = 400


class ImportFileError(InvalidInputError):
    """A file to import cannot be read as a table; nothing was written."""

    code = "import_file"


class ConflictError(LeadsiftError):
    """The request contradicts the current state (e.g. undoing a batch twice)."""

    code = "conflict"
    http_status = 409


class AuthenticationError(LeadsiftError):
    """No credentials, or credentials that are not valid."""

    code = "unauthenticated"
    http_status = 401


class PermissionDeniedError(LeadsiftError):
    """Valid credentials that do not allow this action."""

    code = "forbidden"
    http_status = 403


class PayloadTooLargeError(LeadsiftError):
    """A request body (or batch) larger than the limit."""

    code = "payload_too_large"
    http_status = 413


class RateLimitedError(LeadsiftError):
    """Too many requests from one client; retry after the given number of seconds."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
