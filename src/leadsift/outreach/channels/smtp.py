"""Email over SMTP: one connection for many messages, each outcome classified by the step it
reached.

The transaction is driven step by step (MAIL, RCPT, DATA, the content, the final reply) rather
than through `sendmail`, because only the step tells a retryable failure from an ambiguous one:
until the content's terminating "." has been written the server cannot have accepted the
message (soft failure), while a connection lost after it may have delivered it (ambiguous).
The DATA step mirrors CPython's `SMTP.data()` with that boundary made visible.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Callable, Sequence
from datetime import datetime
from email.message import Message
from email.utils import parseaddr
from typing import Final

from leadsift.config import Settings
from leadsift.errors import ConfigurationError
from leadsift.kit.clock import utcnow
from leadsift.outreach.channels.base import EmailChannel, OutgoingEmail, SendResult, SendStatus
from leadsift.outreach.channels.email_message import (
    build_email,
    envelope_addresses,
    message_bytes,
    needs_smtputf8,
)

_QUEUED_AS = re.compile(r"queued as ([^\s;,]+)", re.IGNORECASE)
_LINE_START_DOT = re.compile(rb"(?m)^\.")
# The server is closing the connection (RFC 5321 4.2.3); -1: smtplib could not read a code.
_CLOSING: Final = frozenset({421, -1})
_MAX_DETAIL = 300
# An ASCII dot-atom address, which smtplib's quoteaddr (a full RFC 5322 parse, a sizeable share
# of a message's time) returns unchanged between angle brackets.
_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_PLAIN_ADDRESS = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


class _Stop(Exception):
    """The transaction ended before "sent"; `drop` when the connection is no longer usable,
    `stale` when the failure could come from a connection the server had already closed."""

    def __init__(self, result: SendResult, *, drop: bool, stale: bool = False) -> None:
        super().__init__(result.detail)
        self.result = result
        self.drop = drop
        self.stale = stale


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:_MAX_DETAIL]


_ADDRESS_STATUS = re.compile(r"[45]\.[12]\.\d{1,3}\b")


def _describe(error: OSError) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_text(error.smtp_error)}"
    # smtplib reports a read timeout as SMTPServerDisconnected raised while handling it.
    if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
        return "timeout"
    return _text(f"{type(error).__name__}: {error}")


def _refusal(step: str, code: int, reply: bytes) -> SendResult:
    # 5xx is permanent; 4xx, and anything unexpected, leaves the message unaccepted.
    status: SendStatus = "hard_bounce" if 500 <= code < 600 else "soft_failure"
    text = _text(reply)
    # About the address: a refusal at RCPT, or after the content with an enhanced status of
    # the address (x.1.x) or mailbox (x.2.x) classes (RFC 3463); not a refusal of our sender
    # (MAIL) or of the content's policy (x.7.x).
    about_recipient = step == "RCPT" or bool(_ADDRESS_STATUS.match(text))
    return SendResult(status, f"{code} {text} (at {step})", about_recipient=about_recipient)


def _dot_stuffed(content: bytes) -> bytes:
    stuffed = _LINE_START_DOT.sub(b"..", content)
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


def _ehlo_name(from_address: str) -> str:
    # The sender's domain names the client; socket.getfqdn() (smtplib's default) can wait on DNS.
    domain = parseaddr(from_address)[1].rpartition("@")[2]
    return domain if "." in domain and domain.isascii() else "localhost"


class SmtpChannel(EmailChannel):
    """Delivers emails to one SMTP server (a relay or a provider's submission port)."""

    name = "smtp"

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if settings.smtp_username and settings.smtp_password is None:
            raise ConfigurationError(
                "LEADSIFT_SMTP_USERNAME is set but LEADSIFT_SMTP_PASSWORD is not; set both "
                "or neither"
            )
        self._settings = settings
        self._clock = clock
        self._ssl_context = ssl_context
        self._ehlo_name = _ehlo_name(settings.email_from)
        self._connection: smtplib.SMTP | None = None

    def close(self) -> None:
        """Say QUIT (best effort) and close the connection."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except OSError:
            pass
        finally:
            connection.close()

    def send(self, email: OutgoingEmail) -> SendResult:
        """Deliver EMAIL over the open connection (made, or made again, when needed)."""
        settings = self._settings
        message = build_email(
            email,
            from_address=settings.email_from,
            reply_to=settings.email_reply_to,
            now=self._clock(),
        )
        reused = self._connection is not None
        try:
            return self._deliver(message)
        except _Stop as stop:
            self._after_failure(stop)
            if not (stop.stale and reused):
                return stop.result
        # The server had closed an idle connection before MAIL: nothing was handed over, so
        # a fresh connection may try again, once.
        try:
            return self._deliver(message)
        except _Stop as stop:
            self._after_failure(stop)
            return stop.result

    def _after_failure(self, stop: _Stop) -> None:
        if stop.drop:
            self._drop()
        else:
            self._reset()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _reset(self) -> None:
        # A refused transaction leaves the server in the middle of one; RSET or start afresh.
        connection = self._connection
        if connection is None:
            return
        try:
            code, _reply = connection.rset()
        except OSError:
            code = -1
        if code != 250:
            self._drop()

    def _connected(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        settings = self._settings
        if self._ssl_context is None:
            # Made once: loading the system's certificate authorities takes a while.
            self._ssl_context = ssl.create_default_context()
        context = self._ssl_context
        where = f"{settings.smtp_host}:{settings.smtp_port}"
        try:
            connection = self._new_connection(context)
        except OSError as error:
            raise _Stop(
                SendResult("soft_failure", f"cannot connect to {where}: {_describe(error)}"),
                drop=True,
            ) from None
        try:
            connection.ehlo_or_helo_if_needed()
            if settings.smtp_security == "starttls":
                connection.starttls(context=context)
                connection.ehlo()
            if settings.smtp_username and settings.smtp_password is not None:
                connection.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        except OSError as error:
            connection.close()
            raise _Stop(
                SendResult("soft_failure", f"session with {where} failed: {_describe(error)}"),
                drop=True,
            ) from None
        self._connection = connection
        return connection

    def _new_connection(self, context: ssl.SSLContext) -> smtplib.SMTP:
        settings = self._settings
        if settings.smtp_security == "tls":
            return smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                local_hostname=self._ehlo_name,
                timeout=settings.smtp_timeout_s,
                context=context,
            )
        return smtplib.SMTP(
            settings.smtp_host,
            settings.smtp_port,
            local_hostname=self._ehlo_name,
            timeout=settings.smtp_timeout_s,
        )

    def _deliver(self, message: Message) -> SendResult:
        connection = self._connected()
        sender, recipient = envelope_addresses(message)
        options: Sequence[str] = ()
        if needs_smtputf8(message):
            if not connection.has_extn("smtputf8"):
                raise _Stop(
                    SendResult(
                        "hard_bounce",
                        f"the server does not offer SMTPUTF8, which {recipient!r} needs",
                    ),
                    drop=False,
                )
            options = ("SMTPUTF8", "BODY=8BITMIME")
        content = _dot_stuffed(message_bytes(message))
        _step("MAIL", lambda: _command(connection, "mail", "FROM:", sender, options), {250})
        _step("RCPT", lambda: _command(connection, "rcpt", "TO:", recipient, ()), {250, 251})
        _step("DATA", lambda: connection.docmd("DATA"), {354})
        try:
            connection.send(content)
        except OSError as error:
            # sendall failed, so the terminating "." never left: the server cannot accept.
            raise _Stop(
                SendResult("soft_failure", f"connection lost sending the message: {error}"),
                drop=True,
            ) from None
        return _final_reply(connection)


def _command(
    connection: smtplib.SMTP, verb: str, prefix: str, address: str, options: Sequence[str]
) -> tuple[int, bytes]:
    """MAIL or RCPT as smtplib sends them; a plain address is quoted without its parser."""
    if options or not _PLAIN_ADDRESS.fullmatch(address):
        return connection.mail(address, options) if verb == "mail" else connection.rcpt(address)
    connection.putcmd(verb, f"{prefix}<{address}>")
    return connection.getreply()


def _step(step: str, command: Callable[[], tuple[int, bytes]], accepted: set[int]) -> None:
    """Run one command before the content; any failure here is certainly not an acceptance."""
    try:
        code, reply = command()
    except OSError as error:
        raise _Stop(
            SendResult("soft_failure", f"{_describe(error)} (at {step})"),
            drop=True,
            stale=step == "MAIL",
        ) from None
    if code not in accepted:
        closing = code in _CLOSING
        raise _Stop(_refusal(step, code, reply), drop=closing, stale=closing and step == "MAIL")


def _final_reply(connection: smtplib.SMTP) -> SendResult:
    """Read the answer to the content; from here a lost connection is ambiguous."""
    try:
        code, reply = connection.getreply()
    except OSError as error:
        raise _Stop(
            SendResult("ambiguous", f"{_describe(error)} (after the message was sent)"),
            drop=True,
        ) from None
    if 200 <= code < 300:
        found = _QUEUED_AS.search(_text(reply))
        return SendResult("sent", f"{code} {_text(reply)}", found.group(1) if found else None)
    if 400 <= code < 600:
        # Refused: the transaction is over and, unless the server is closing, the connection
        # carries the next message.
        raise _Stop(_refusal("end of data", code, reply), drop=code in _CLOSING)
    raise _Stop(
        SendResult("ambiguous", f"unexpected reply {code} {_text(reply)} to the message"),
        drop=True,
    )
