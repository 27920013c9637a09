"""The RFC 5322 message of an outgoing email, with one-click unsubscribe (RFC 8058); pure.

Every value is checked before it reaches a header: a line break or control character would let
a contact's data add headers of its own (header injection), so such values are refused rather
than cleaned.

The outbox sends hundreds of emails a second from one process, so the common case is built on
the light compat32 `Message`, each header rendered once here (checked, encoded, folded) and
written as is: a bare recipient address, an ASCII or RFC 2047 subject, quoted-printable
bodies. Anything less common (display names, non-ASCII addresses, long or non-ASCII extra
headers) is parsed and folded by the header registry of the modern email policy, as before.
"""

from __future__ import annotations

import binascii
import re
import secrets
from base64 import encodebytes
from dataclasses import dataclass
from datetime import datetime
from email.base64mime import header_encode
from email.errors import NonASCIILocalPartDefect
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.policy import SMTP, Compat32
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from typing import Final
from urllib.parse import urlsplit

from leadsift.errors import InvalidInputError
from leadsift.outreach.channels.base import OutgoingEmail


class _CachedHeaderRegistry(HeaderRegistry):
    """The standard header classes, made once per header name (HeaderRegistry makes a new class
    at every lookup)."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


class _AsRendered(Compat32):
    """compat32, writing each header exactly as `build_email` rendered it: already checked,
    encoded and folded (re-folding would split List-Unsubscribe inside a URL)."""

    def fold(self, name: str, value: str) -> str:
        """NAME: VALUE, unchanged."""
        return f"{name}: {value}{self.linesep}"

    def fold_binary(self, name: str, value: str) -> bytes:
        """NAME: VALUE, unchanged, in UTF-8 (only SMTPUTF8 messages have non-ASCII headers)."""
        return f"{name}: {value}{self.linesep}".encode()


# How a built message is written: CRLF lines, headers as rendered.
_WIRE_POLICY: Final = _AsRendered(linesep="\r\n", mangle_from_=False)
# The modern policy, for the less common headers: 7bit (encoded words), or UTF-8 headers for
# messages sent with SMTPUTF8.
_MODERN: Final = SMTP.clone(cte_type="7bit", header_factory=_CachedHeaderRegistry())
_MODERN_UTF8: Final = _MODERN.clone(utf8=True)
ONE_CLICK: Final = "List-Unsubscribe=One-Click"
# Headers the message builds itself; extra headers may not replace them.
RESERVED_HEADERS: Final = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "sender",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)
# Unicode categories Cc, Zl and Zp, tab excepted.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
# RFC 5322 field names: printable ASCII except the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]{1,76}")
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")
_ID_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,127}")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?")
# A bare ASCII dot-atom address (what email-validator leaves in contacts), not looking like an
# encoded word: one the full parser accepts unchanged; anything else goes through it.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_BARE_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_MAX_BARE_ADDRESS = 254
_LOCAL_HOSTS: Final = frozenset({"127.0.0.1", "localhost"})
MAX_URL_LENGTH: Final = 900  # a header line may not exceed 998 characters
_LINE = 78  # the recommended longest header line
# UTF-8 bytes per base64 encoded word: "=?utf-8?b?" + 56 characters + "?=" fits a folded line
# (RFC 2047: at most 75 characters per word).
_WORD_BYTES = 42
_TEXT_PLAIN: Final = 'text/plain; charset="utf-8"'
_TEXT_HTML: Final = 'text/html; charset="utf-8"'


@dataclass(frozen=True)
class _Mailbox:
    """One checked address: its addr-spec and its header value (7bit, and SMTPUTF8)."""

    addr_spec: str
    header: str
    header_utf8: str


class _BuiltEmail(Message):
    """A message made by `build_email`, which knows its envelope."""

    def __init__(self, sender: str, recipient: str) -> None:
        super().__init__(policy=_WIRE_POLICY)
        self.envelope = (sender, recipient)


def _check_header_value(value: str, where: str) -> str:
    found = _CONTROL.search(value)
    if found is not None:
        raise InvalidInputError(
            f"{where} contains a line break or control character ({found.group()!r}); "
            "remove it (header values are one line)"
        )
    return value


def _folded(header: BaseHeader, utf8: bool) -> str:
    """The value of HEADER as the modern policy writes it (folded, encoded unless UTF8)."""
    line: str = header.fold(policy=_MODERN_UTF8 if utf8 else _MODERN)
    value = line[len(header.name) + 1 : -2]  # after "Name:", before the final CRLF
    return value.removeprefix(" ")  # _WIRE_POLICY writes "Name: " + value


def _mailbox(name: str, value: str) -> _Mailbox:
    """VALUE checked by the full address parser: exactly one address, with a domain."""
    _check_header_value(value, name)
    try:
        header = _MODERN.header_factory(name, value)
        addresses = header.addresses
    except (ValueError, IndexError, AttributeError) as error:
        raise InvalidInputError(f"{name} {value!r} is not an email address: {error}") from None
    defects = [d for d in header.defects if not isinstance(d, NonASCIILocalPartDefect)]
    if len(addresses) != 1 or not addresses[0].domain or defects:
        raise InvalidInputError(
            f"{name} {value!r} is not one email address; give e.g. 'name@example.fr' "
            "or 'Name <name@example.fr>'"
        )
    return _Mailbox(addresses[0].addr_spec, _folded(header, False), _folded(header, True))


# From and Reply-To come from the settings: the same few values for every message.
_sender_mailbox = lru_cache(maxsize=64)(_mailbox)


def _recipient(value: str) -> _Mailbox:
    _check_header_value(value, "To")
    if len(value) <= _MAX_BARE_ADDRESS and _BARE_ADDRESS.fullmatch(value) and "=?" not in value:
        return _Mailbox(value, value, value)
    return _mailbox("To", value)


def _check_unsubscribe_url(url: str) -> str:
    _check_header_value(url, "the unsubscribe URL")
    parts = urlsplit(url)
    local = parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS
    if not (parts.scheme == "https" and parts.hostname) and not local:
        raise InvalidInputError(
            f"unsubscribe URL {url!r} must be https:// (mail providers ignore other one-click "
            "links); set LEADSIFT_PUBLIC_URL to the app's https address"
        )
    _check_list_entry(url, "unsubscribe URL")
    return url


def _check_list_entry(value: str, what: str) -> None:
    # Inside "<...>, <...>" these characters would end or split the entry.
    if any(char in value for char in " \t<>,") or len(value) > MAX_URL_LENGTH:
        raise InvalidInputError(
            f"{what} {value!r} contains a space, '<', '>' or ',' or is longer than "
            f"{MAX_URL_LENGTH} characters; percent-encode or shorten it"
        )


def _unsubscribe_mailto(value: str) -> str:
    _check_header_value(value, "the unsubscribe mailto")
    mailto = value if value.lower().startswith("mailto:") else f"mailto:{value}"
    if "@" not in mailto:
        raise InvalidInputError(
            f"unsubscribe mailto {value!r} has no address; give e.g. 'mailto:unsub@example.fr'"
        )
    _check_list_entry(mailto, "unsubscribe mailto")
    return mailto


def _list_unsubscribe(email: OutgoingEmail, utf8: bool) -> str:
    """The List-Unsubscribe value, one entry per line, never split inside a URL: folding would
    turn a long URL into encoded words that mail clients no longer recognise as a URL."""
    targets = [f"<{_check_unsubscribe_url(email.unsubscribe_url)}>"]
    if email.unsubscribe_mailto:
        targets.append(f"<{_unsubscribe_mailto(email.unsubscribe_mailto)}>")
    value = ",\r\n ".join(targets)
    if not utf8 and not value.isascii():
        # Written as is, it could only travel in UTF-8 headers (SMTPUTF8).
        raise InvalidInputError(
            f"List-Unsubscribe {value!r} has non-ASCII characters; percent-encode them"
        )
    return value


def _check_message_id(message_id: str) -> str:
    if not _MESSAGE_ID.fullmatch(message_id):
        raise InvalidInputError(
            f"Message-ID {message_id!r} is not '<unique@domain>' in printable ASCII; "
            "make it with new_message_id()"
        )
    return message_id


def _encoded_words(value: str) -> str:
    """VALUE as base64 RFC 2047 words, one per folded line, never splitting a character."""
    data = value.encode()
    words = []
    start = 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # inside a UTF-8 sequence
            end -= 1
        words.append(header_encode(data[start:end], "utf-8"))
        start = end
    return "\r\n ".join(words)


def _unstructured(name: str, value: str, utf8: bool) -> str:
    """The written value of an unstructured header: as is when short ASCII, else folded and
    encoded by the modern policy."""
    if value.isascii() and len(name) + len(value) + 2 <= _LINE:
        return value
    return _folded(_MODERN.header_factory(name, value), utf8)


def _subject(value: str, utf8: bool) -> str:
    """The written subject: a non-ASCII one (the usual French subject) as encoded words, and
    one with "=?" too (mail clients would decode it)."""
    if "=?" in value or not (utf8 or value.isascii()):
        return _encoded_words(value)
    return _unstructured("Subject", value, utf8)


def _extra_headers(headers: dict[str, str]) -> list[tuple[str, str]]:
    for name, value in headers.items():
        if not _FIELD_NAME.fullmatch(name):
            raise InvalidInputError(
                f"extra header name {name!r} is not a header name (printable ASCII, no ':' "
                "or space)"
            )
        if name.lower() in RESERVED_HEADERS:
            raise InvalidInputError(
                f"extra header {name!r} would replace one the message sets itself; "
                "use an X-Leadsift-* name"
            )
        _check_header_value(value, f"header {name}")
    # Content-* headers describe the body, which sets its own: they were always dropped (the
    # email package's set_content clears them) and still are.
    return [
        (name, value) for name, value in headers.items() if not name.lower().startswith("content-")
    ]


def _set_body(part: Message, content: str, content_type: str) -> None:
    """CONTENT with CRLF lines and a final line break, in quoted-printable or base64 (whichever
    is shorter, as the email package chooses), so no relay needs 8BITMIME."""
    if not content.endswith(("\n", "\r")):
        content += "\n"
    text = content.replace("\r\n", "\n").replace("\r", "\n")
    data = text.encode()
    body, encoding = binascii.b2a_qp(data), "quoted-printable"
    if len(body) > len(data) * 4 // 3:  # mostly non-Latin text: base64 may be shorter
        # Base64 keeps the line breaks it encodes: text's canonical CRLF (RFC 2046).
        encoded = encodebytes(text.replace("\n", "\r\n").encode())
        if len(encoded) < len(body):
            body, encoding = encoded, "base64"
    part.set_raw("Content-Type", content_type)
    part.set_raw("Content-Transfer-Encoding", encoding)
    part.set_payload(body.decode("ascii"))


def build_email(
    email: OutgoingEmail, *, from_address: str, reply_to: str | None, now: datetime
) -> Message:
    """The complete message of EMAIL (text, and html as an alternative when given)."""
    sender = _sender_mailbox("From", from_address)
    recipient = _recipient(email.to)
    answer = _sender_mailbox("Reply-To", reply_to) if reply_to else None
    subject = _check_header_value(email.subject, "the subject")
    message_id = _check_message_id(email.message_id)
    utf8 = not (sender.addr_spec + recipient.addr_spec).isascii()
    unsubscribe = _list_unsubscribe(email, utf8)
    extra = _extra_headers(dict(email.headers))

    message = _BuiltEmail(sender.addr_spec, recipient.addr_spec)
    message.set_raw("From", sender.header_utf8 if utf8 else sender.header)
    message.set_raw("To", recipient.header_utf8 if utf8 else recipient.header)
    if answer is not None:
        message.set_raw("Reply-To", answer.header_utf8 if utf8 else answer.header)
    message.set_raw("Subject", _subject(subject, utf8))
    message.set_raw("Date", format_datetime(now))
    message.set_raw("Message-ID", message_id)
    message.set_raw("List-Unsubscribe", unsubscribe)
    message.set_raw("List-Unsubscribe-Post", ONE_CLICK)
    for name, value in extra:
        message.set_raw(name, _unstructured(name, value, utf8))
    message.set_raw("MIME-Version", "1.0")
    if email.html is None:
        _set_body(message, email.text, _TEXT_PLAIN)
        return message
    # Parts are quoted-printable ("=" always before a hex digit or a line break) or base64, where
    # "=_" never occurs: the boundary cannot appear inside them.
    boundary = f"=_{secrets.token_hex(12)}"
    message.set_raw("Content-Type", f'multipart/alternative; boundary="{boundary}"')
    for content, content_type in ((email.text, _TEXT_PLAIN), (email.html, _TEXT_HTML)):
        part = Message(policy=_WIRE_POLICY)
        _set_body(part, content, content_type)
        message.attach(part)
    return message


def envelope_addresses(message: Message) -> tuple[str, str]:
    """(sender, recipient) of a built message: the bare addresses SMTP's MAIL and RCPT take."""
    if isinstance(message, _BuiltEmail):
        return message.envelope
    return parseaddr(str(message["From"]))[1], parseaddr(str(message["To"]))[1]


def needs_smtputf8(message: Message) -> bool:
    """Whether an address has non-ASCII characters (the server must offer SMTPUTF8)."""
    return not "".join(envelope_addresses(message)).isascii()


def message_bytes(message: Message) -> bytes:
    """The message as sent: CRLF lines; UTF-8 headers only when an address needs them."""
    if isinstance(message, _BuiltEmail):
        return message.as_bytes()  # its headers were rendered for the addresses it has
    return message.as_bytes(policy=_MODERN_UTF8 if needs_smtputf8(message) else _MODERN)


def new_message_id(domain: str, unique: str) -> str:
    """A new Message-ID, `<unique.random@domain>`: different at every call, even for one UNIQUE."""
    if not _ID_PART.fullmatch(unique):
        raise InvalidInputError(
            f"Message-ID part {unique!r} must be 1-128 letters, digits or '._+=-'"
        )
    if not _DOMAIN.fullmatch(domain) or ".." in domain:
        raise InvalidInputError(
            f"Message-ID domain {domain!r} is not a domain name; give e.g. 'mail.example.fr'"
        )
    return f"<{unique}.{secrets.token_hex(8)}@{domain}>"
