"""The outgoing email's message: headers, parts, French text, one-click unsubscribe, and header
injection refused."""

from __future__ import annotations

import email
import re
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default

import pytest

from leadsift.errors import InvalidInputError
from leadsift.outreach.channels.base import OutgoingEmail
from leadsift.outreach.channels.email_message import (
    build_email,
    envelope_addresses,
    message_bytes,
    needs_smtputf8,
    new_message_id,
)

NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
# As long as a real signed token makes it: longer than a folded header line.
UNSUBSCRIBE = "https://track.example.fr/u/" + "eyJjIjoxMjM0NSwiayI6ImV0ZS0yMDI1In0" * 3 + ".AbCd"
EMAIL = OutgoingEmail(
    to="Élodie Martin <elodie@exemple.fr>",
    subject="Votre offre spéciale – été 2025 : -20 % sur les paniers bio 🎉",
    text="Bonjour Élodie,\n.une ligne qui commence par un point\nÀ bientôt !",
    html="<p>Bonjour <b>Élodie</b></p>",
    message_id="<outbox-42.0123456789abcdef@mail.exemple.fr>",
    unsubscribe_url=UNSUBSCRIBE,
    unsubscribe_mailto="mailto:desabonnement@exemple.fr?subject=unsubscribe",
    headers={"X-Leadsift-Campaign": "ete-2025"},
)


def _build(mail: OutgoingEmail = EMAIL, reply_to: str | None = "contact@exemple.fr") -> bytes:
    message = build_email(
        mail, from_address="Bio Lyon <news@exemple.fr>", reply_to=reply_to, now=NOW
    )
    return message_bytes(message)


def _parsed(
    mail: OutgoingEmail = EMAIL, reply_to: str | None = "contact@exemple.fr"
) -> EmailMessage:
    parsed = email.message_from_bytes(_build(mail, reply_to), policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _lines(content: str) -> str:
    # Bodies travel with CRLF line ends; the content read back keeps them.
    return content.replace("\r\n", "\n")


def test_headers_as_built() -> None:
    parsed = _parsed()
    assert parsed["From"] == "Bio Lyon <news@exemple.fr>"
    assert parsed["To"] == "Élodie Martin <elodie@exemple.fr>"
    assert parsed["Reply-To"] == "contact@exemple.fr"
    assert parsed["Date"] == "Mon, 02 Jun 2025 09:30:00 +0000"
    assert parsed["Message-ID"] == EMAIL.message_id
    assert parsed["List-Unsubscribe"] == (
        f"<{UNSUBSCRIBE}>, <mailto:desabonnement@exemple.fr?subject=unsubscribe>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["X-Leadsift-Campaign"] == "ete-2025"


def test_french_subject_round_trips() -> None:
    raw = _build()
    assert raw.isascii(), "headers are encoded words and bodies 7bit: any relay accepts them"
    assert _parsed()["Subject"] == EMAIL.subject


def test_unsubscribe_url_is_never_folded_or_encoded() -> None:
    raw = _build().decode("ascii")
    line = next(line for line in raw.split("\r\n") if line.startswith("List-Unsubscribe:"))
    assert line == f"List-Unsubscribe: <{UNSUBSCRIBE}>,"
    assert "=?utf-8?" not in line


def test_without_mailto_and_reply_to() -> None:
    parsed = _parsed(replace(EMAIL, unsubscribe_mailto=None), reply_to=None)
    assert parsed["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert parsed["Reply-To"] is None


def test_bare_mailto_address_gets_its_scheme() -> None:
    parsed = _parsed(replace(EMAIL, unsubscribe_mailto="stop@exemple.fr"))
    assert parsed["List-Unsubscribe"].endswith(", <mailto:stop@exemple.fr>")


def test_text_and_html_alternatives() -> None:
    parsed = _parsed()
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in parsed.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert plain is not None and html is not None
    assert _lines(plain.get_content()) == EMAIL.text + "\n"
    assert _lines(html.get_content()) == f"{EMAIL.html}\n"


def test_text_only() -> None:
    parsed = _parsed(replace(EMAIL, html=None))
    assert parsed.get_content_type() == "text/plain"
    assert not parsed.is_multipart()
    assert _lines(parsed.get_content()) == EMAIL.text + "\n"


def test_envelope_and_smtputf8() -> None:
    message = build_email(EMAIL, from_address="Bio <news@exemple.fr>", reply_to=None, now=NOW)
    assert envelope_addresses(message) == ("news@exemple.fr", "elodie@exemple.fr")
    assert not needs_smtputf8(message)
    international = build_email(
        replace(EMAIL, to="josé@exemple.fr"), from_address="news@exemple.fr", reply_to=None, now=NOW
    )
    assert needs_smtputf8(international)
    assert b"To: jos\xc3\xa9@exemple.fr\r\n" in message_bytes(international)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/u/abc", "http://localhost/u/abc", "https://t.exemple.fr/u?t=a%20b"],
)
def test_accepted_unsubscribe_urls(url: str) -> None:
    assert _parsed(replace(EMAIL, unsubscribe_url=url))["List-Unsubscribe"].startswith(f"<{url}>")


BAD_URL = re.compile(r"unsubscribe URL|line break")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"unsubscribe_url": "http://track.exemple.fr/u/abc"}, "must be https"),
        ({"unsubscribe_url": "ftp://track.exemple.fr/u"}, "must be https"),
        ({"unsubscribe_url": "https:///u/abc"}, "must be https"),
        ({"unsubscribe_url": "https://t.exemple.fr/u/a>b"}, "contains a space"),
        ({"unsubscribe_url": "https://t.exemple.fr/u/" + "a" * 900}, "longer than"),
        ({"unsubscribe_mailto": "mailto:"}, "has no address"),
        ({"message_id": "outbox-42@mail.exemple.fr"}, "is not '<unique@domain>'"),
        ({"message_id": "<outbox 42@mail.exemple.fr>"}, "is not '<unique@domain>'"),
        ({"to": "not an address"}, "is not one email address"),
        ({"to": "a@exemple.fr, b@exemple.fr"}, "is not one email address"),
        ({"headers": {"Bcc": "spy@exemple.fr"}}, "would replace one"),
        ({"headers": {"List-Unsubscribe": "<https://evil.example/>"}}, "would replace one"),
        ({"headers": {"X Bad": "v"}}, "is not a header name"),
        ({"headers": {"X-Colon:": "v"}}, "is not a header name"),
    ],
)
def test_refused_values(change: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        _build(replace(EMAIL, **change))  # type: ignore[arg-type]


INJECTION = "x\r\nBcc: victim@exemple.fr"


@pytest.mark.parametrize(
    "change",
    [
        {"to": f"elodie@exemple.fr{INJECTION}"},
        {"subject": f"Promo{INJECTION}"},
        {"subject": "Promo\nBcc: victim@exemple.fr"},
        {"subject": "Promo\rBcc: victim@exemple.fr"},
        {"subject": "Promo\u2028Bcc: victim@exemple.fr"},
        {"message_id": f"<a@b>{INJECTION}"},
        {"unsubscribe_url": f"https://t.exemple.fr/u{INJECTION}"},
        {"unsubscribe_mailto": f"mailto:stop@exemple.fr{INJECTION}"},
        {"headers": {"X-Leadsift-Campaign": f"ete{INJECTION}"}},
    ],
)
def test_header_injection_refused(change: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError, match=r"line break or control character|not '<"):
        _build(replace(EMAIL, **change))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("from_address", "reply_to"),
    [(f"news@exemple.fr{INJECTION}", None), ("news@exemple.fr", f"contact@exemple.fr{INJECTION}")],
)
def test_injection_in_sender_settings_refused(from_address: str, reply_to: str | None) -> None:
    with pytest.raises(InvalidInputError, match="line break or control character"):
        build_email(EMAIL, from_address=from_address, reply_to=reply_to, now=NOW)


def test_new_message_id_is_unique_and_well_formed() -> None:
    ids = {new_message_id("mail.exemple.fr", "outbox-42") for _ in range(100)}
    assert len(ids) == 100
    for message_id in ids:
        assert re.fullmatch(r"<outbox-42\.[0-9a-f]{16}@mail\.exemple\.fr>", message_id)
        assert _parsed(replace(EMAIL, message_id=message_id))["Message-ID"] == message_id


@pytest.mark.parametrize(
    ("domain", "unique"),
    [("mail.exemple.fr", "a b"), ("mail.exemple.fr", ""), ("exemple..fr", "x"), ("ex@mple", "x")],
)
def test_new_message_id_refuses_unsafe_parts(domain: str, unique: str) -> None:
    with pytest.raises(InvalidInputError, match="Message-ID"):
        new_message_id(domain, unique)


FRENCH = replace(
    EMAIL,
    subject="Élodie, votre offre spéciale « été 2025 » : -20 % sur les paniers bio et légumes 🎉",
    text="Bonjour Élodie,\n\nÀ très bientôt à la boutique de Lyon !\nL'équipe Bio Lyon\n",
)


@pytest.mark.parametrize("html", [None, "<p>Bonjour <b>Élodie</b>, à très bientôt !</p>"])
@pytest.mark.parametrize("to", ["elodie.martin@exemple.fr", "Élodie Martin <elodie@exemple.fr>"])
def test_french_message_parses_back_as_built(html: str | None, to: str) -> None:
    mail = replace(FRENCH, to=to, html=html)
    raw = _build(mail)
    assert raw.isascii()
    assert all(
        len(line) <= 78 for line in raw.split(b"\r\n") if not line.startswith(b"List-Unsubscribe:")
    )
    parsed = _parsed(mail)
    assert parsed.defects == [] and all(not part.defects for part in parsed.walk())
    assert parsed["Subject"] == mail.subject
    assert parsed["To"] == to
    assert parsed["From"] == "Bio Lyon <news@exemple.fr>"
    assert parsed["Reply-To"] == "contact@exemple.fr"
    assert parsed["Date"] == "Mon, 02 Jun 2025 09:30:00 +0000"
    assert parsed["Message-ID"] == mail.message_id
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["List-Unsubscribe"] == (
        f"<{UNSUBSCRIBE}>, <mailto:desabonnement@exemple.fr?subject=unsubscribe>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["X-Leadsift-Campaign"] == "ete-2025"
    plain = parsed.get_body(("plain",))
    assert plain is not None and _lines(plain.get_content()) == mail.text
    assert plain["Content-Transfer-Encoding"] in ("quoted-printable", "base64")
    if html is None:
        assert parsed.get_content_type() == "text/plain"
    else:
        assert parsed.get_content_type() == "multipart/alternative"
        body = parsed.get_body(("html",))
        assert body is not None and _lines(body.get_content()) == f"{html}\n"


@pytest.mark.parametrize(
    "text",
    ["Привет! Это письмо на русском языке.\nДо свидания.", "ligne 1\r\nligne 2\rligne 3", ""],
)
def test_any_body_text_round_trips_with_normalised_line_ends(text: str) -> None:
    parsed = _parsed(replace(EMAIL, html=None, text=text))
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    assert _lines(parsed.get_content()) == expected + "\n"


def test_mostly_non_latin_text_is_base64_with_crlf_lines() -> None:
    text = "Привет! Это письмо на русском языке.\nДо свидания."
    parsed = _parsed(replace(EMAIL, html=None, text=text))
    assert parsed["Content-Transfer-Encoding"] == "base64"
    assert parsed.get_payload(decode=True) == (text + "\n").replace("\n", "\r\n").encode()


@pytest.mark.parametrize("subject", ["", "Promo", "a" * 100, "=?utf-8?q?x?=", "é" * 100, "🎉" * 30])
def test_subjects_round_trip(subject: str) -> None:
    assert _parsed(replace(EMAIL, subject=subject))["Subject"] == subject


def test_non_ascii_unsubscribe_url_refused_without_smtputf8() -> None:
    with pytest.raises(InvalidInputError, match="percent-encode"):
        _build(replace(EMAIL, unsubscribe_url="https://t.exemple.fr/désinscription"))


@pytest.mark.parametrize("to", ["=?utf-8?q?x?=@exemple.fr", "a..b@exemple.fr", "a@exemple.fr;"])
def test_unusual_recipients_go_through_the_full_parser(to: str) -> None:
    with pytest.raises(InvalidInputError, match="is not one email address"):
        _build(replace(EMAIL, to=to))
