"""The RFC 5322 message of an outgoing email, with one-click unsubscribe (RFC 8058); pure.

Every value is checked before it reaches a header: a line break or control character would let
a contact's data add headers of its own (header injection), so such values are refused rather
than cleaned.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import datetime
from email.errors import NonASCIILocalPartDefect
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Final
from urllib.parse import urlsplit

from leadsift.errors import InvalidInputError
from leadsift.outreach.channels.base import OutgoingEmail


class _CachedHeaderRegistry(HeaderRegistry):
    """The standard header classes, made once per header name (HeaderRegistry makes a new class
    at every lookup: half the time spent building a message)."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


# Bodies in quoted-printable or base64 (7bit), so no relay needs 8BITMIME. `refold_source`
# "none" keeps List-Unsubscribe as written: folding it would turn a long URL into encoded words
# that mail clients no longer recognise as a URL.
POLICY: Final = SMTP.clone(
    cte_type="7bit", refold_source="none", header_factory=_CachedHeaderRegistry()
)
# For non-ASCII addresses (sent with SMTPUTF8): headers in UTF-8.
_POLICY_UTF8: Final = POLICY.clone(utf8=True)
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
# RFC 5322 field names: printable ASCII except the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]{1,76}")
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")
_ID_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,127}")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?")
_LOCAL_HOSTS: Final = frozenset({"127.0.0.1", "localhost"})
MAX_URL_LENGTH: Final = 900  # a header line may not exceed 998 characters


def _check_header_value(value: str, where: str) -> str:
    for char in value:
        if char != "\t" and unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            raise InvalidInputError(
                f"{where} contains a line break or control character ({char!r}); "
                "remove it (header values are one line)"
            )
    return value


def _check_address(message: EmailMessage, name: str, value: str) -> None:
    _check_header_value(value, name)
    try:
        message[name] = value
        header = message[name]
        addresses = header.addresses
    except (ValueError, IndexError, AttributeError) as error:
        raise InvalidInputError(f"{name} {value!r} is not an email address: {error}") from None
    defects = [d for d in header.defects if not isinstance(d, NonASCIILocalPartDefect)]
    if len(addresses) != 1 or not addresses[0].domain or defects:
        raise InvalidInputError(
            f"{name} {value!r} is not one email address; give e.g. 'name@example.fr' "
            "or 'Name <name@example.fr>'"
        )


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


def _check_message_id(message_id: str) -> str:
    if not _MESSAGE_ID.fullmatch(message_id):
        raise InvalidInputError(
            f"Message-ID {message_id!r} is not '<unique@domain>' in printable ASCII; "
            "make it with new_message_id()"
        )
    return message_id


def _add_extra_headers(message: EmailMessage, headers: dict[str, str]) -> None:
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
        message[name] = _check_header_value(value, f"header {name}")


def build_email(
    email: OutgoingEmail, *, from_address: str, reply_to: str | None, now: datetime
) -> EmailMessage:
    """The complete message of EMAIL (text, and html as an alternative when given)."""
    message = EmailMessage(policy=POLICY)
    _check_address(message, "From", from_address)
    _check_address(message, "To", email.to)
    if reply_to:
        _check_address(message, "Reply-To", reply_to)
    message["Subject"] = _check_header_value(email.subject, "the subject")
    message["Date"] = format_datetime(now)
    message["Message-ID"] = _check_message_id(email.message_id)
    targets = [f"<{_check_unsubscribe_url(email.unsubscribe_url)}>"]
    if email.unsubscribe_mailto:
        targets.append(f"<{_unsubscribe_mailto(email.unsubscribe_mailto)}>")
    # Written raw (see POLICY): one entry per line, never split inside a URL.
    message.set_raw("List-Unsubscribe", ",\r\n ".join(targets))
    message["List-Unsubscribe-Post"] = ONE_CLICK
    _add_extra_headers(message, dict(email.headers))
    message.set_content(email.text)
    if email.html is not None:
        message.add_alternative(email.html, subtype="html")
    return message


def envelope_addresses(message: EmailMessage) -> tuple[str, str]:
    """(sender, recipient) of a built message: the bare addresses SMTP's MAIL and RCPT take."""
    sender: str = message["From"].addresses[0].addr_spec
    recipient: str = message["To"].addresses[0].addr_spec
    return sender, recipient


def needs_smtputf8(message: EmailMessage) -> bool:
    """Whether an address has non-ASCII characters (the server must offer SMTPUTF8)."""
    return not "".join(envelope_addresses(message)).isascii()


def message_bytes(message: EmailMessage) -> bytes:
    """The message as sent: CRLF lines; UTF-8 headers only when an address needs them."""
    return message.as_bytes(policy=_POLICY_UTF8 if needs_smtputf8(message) else POLICY)


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
