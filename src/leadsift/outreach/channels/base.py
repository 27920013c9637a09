"""The delivery channels' plugin bases and the values they exchange with the outbox worker.

A `SendResult` decides what the worker does next, so its status must be exact: "sent" and
"hard_bounce" are final answers, "soft_failure" is certainly not accepted (safe to retry), and
"ambiguous" means the content left us without a final answer (never retried: a retry could
deliver twice).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import ClassVar, Literal, Self

SendStatus = Literal["sent", "hard_bounce", "soft_failure", "ambiguous"]


@dataclass(frozen=True)
class OutgoingEmail:
    """One email to one person, as the outbox hands it to a channel."""

    to: str
    subject: str
    text: str
    html: str | None
    # "<...@domain>", made by the caller: unique per outbox row, stable across retries.
    message_id: str
    # The https one-click URL (RFC 8058).
    unsubscribe_url: str
    unsubscribe_mailto: str | None = None
    # Extra headers, e.g. X-Leadsift-Campaign.
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutgoingSms:
    """One SMS to one phone number."""

    to: str  # E.164
    text: str
    sender: str  # the sender id shown to the person


@dataclass(frozen=True)
class SendResult:
    """What became of one send: the status, the server's words, the provider's message id."""

    status: SendStatus
    detail: str  # e.g. "250 2.0.0 Ok queued as ABC", "550 5.1.1 user unknown", "timeout"
    provider_id: str | None = None
    # The refusal is about this recipient's address (unknown user, mailbox full), not about our
    # server, settings or content: only then may the address be suppressed. A server that
    # refuses our sender or is misconfigured must never cost people their place on the list.
    about_recipient: bool = False


class _Channel:
    """Open/close and the context manager shared by every channel."""

    name: ClassVar[str]

    def open(self) -> None:
        """Prepare the channel (a network channel connects lazily, on the first send)."""

    def close(self) -> None:
        """Release the connection, if any; the channel may be opened again."""

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class EmailChannel(_Channel, ABC):
    """Delivers emails; one instance keeps one connection across many sends (not thread-safe:
    one instance per worker thread)."""

    @abstractmethod
    def send(self, email: OutgoingEmail) -> SendResult:
        """Deliver EMAIL; raises InvalidInputError (before any I/O) when it cannot be built."""


class SmsChannel(_Channel, ABC):
    """Delivers SMS; one instance keeps one connection across many sends (not thread-safe)."""

    @abstractmethod
    def send(self, sms: OutgoingSms) -> SendResult:
        """Deliver SMS."""
