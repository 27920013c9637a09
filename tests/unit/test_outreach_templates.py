"""Campaign message templates: parsing, checks against the campaign, sandboxed rendering, SMS."""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml

from leadsift.errors import InvalidInputError
from leadsift.outreach.templates import (
    TEMPLATE_NAMES,
    LanguageTemplate,
    MessageTemplate,
    RenderedMessage,
    check_template,
    choose_language,
    parse_template,
    render,
    sms_text,
)

EXAMPLE = """\
channel: email
default_language: fr
marketing: true
fr:
  subject: "{{ contact.first_name or 'Bonjour' }}, -20 % sur votre première commande"
  text: |
    Bonjour {{ contact.first_name }},
    Votre code personnel : {{ promo_code }} — {{ offer.name }}.
    Découvrir : {{ link }}
    Se désinscrire : {{ unsubscribe_url }}
  html: |-
    <p>Bonjour {{ contact.first_name }}</p><a href="{{ unsubscribe_url }}">Se désinscrire</a>
en:
  subject: "{{ contact.first_name or 'Hello' }}, 20% off your first order"
  text: |
    Hello {{ contact.first_name }},
    Your code: {{ promo_code }} — {{ offer.name }}.
    Discover: {{ link }}
    Unsubscribe: {{ unsubscribe_url }}
"""
FIELDS = ("first_name", "last_name", "email", "city")


def _document() -> dict[str, Any]:
    document = yaml.safe_load(EXAMPLE)
    assert isinstance(document, dict)
    return document


def _context(**changes: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "contact": {"first_name": "Léa", "last_name": "Martin", "email": "lea@example.fr"},
        "offer": {"name": "Paniers Lyon", "currency": "EUR"},
        "campaign": {"name": "Rentrée", "key": "rentree"},
        "link": "https://t.example.com/t/c/abc",
        "promo_code": "LEA-7Q2X",
        "unsubscribe_url": "https://t.example.com/u/tok?a=1&b=2",
        "sender": "Paniers Lyon",
    }
    context.update(changes)
    return context


def _sms(text: str, **extra: Any) -> MessageTemplate:
    return parse_template(
        {"channel": "sms", "default_language": "en", "en": {"text": text}, **extra}
    )


def _error(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(InvalidInputError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def _check(template: MessageTemplate, *, uses_promo: bool = True, has_link: bool = True) -> None:
    check_template(template, contact_fields=FIELDS, uses_promo=uses_promo, has_link=has_link)


# --- parsing ---------------------------------------------------------------------------------


def test_the_example_parses_and_round_trips_through_json() -> None:
    template = parse_template(_document(), source="template.yaml")
    assert (template.channel, template.default_language, template.marketing) == (
        "email",
        "fr",
        True,
    )
    assert set(template.languages) == {"fr", "en"}
    assert template.languages["en"].html is None
    assert template.to_json() == {
        "channel": "email",
        "default_language": "fr",
        "marketing": True,
        "fr": _document()["fr"],
        "en": _document()["en"],
    }
    assert parse_template(template.to_json()) == template


def test_marketing_defaults_to_true_and_sms_has_only_a_text() -> None:
    template = _sms("Hi {{ contact.first_name }}")
    assert template.marketing is True
    assert template.languages == {"en": LanguageTemplate(None, "Hi {{ contact.first_name }}", None)}
    assert template.to_json()["en"] == {"text": "Hi {{ contact.first_name }}"}


def _without(key: str) -> dict[str, Any]:
    document = _document()
    del document[key]
    return document


def _with(path: str, value: Any) -> dict[str, Any]:
    document = _document()
    *parents, last = path.split(".")
    target = document
    for parent in parents:
        target = target[parent]
    target[last] = value
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (["channel"], "template.yaml: expected a mapping with channel, default_language and"),
        (
            _with("chanel", "email"),
            "template.yaml: unknown key 'chanel' — did you mean 'channel'?",
        ),
        (
            _with("zz", 1),
            "template.yaml: unknown key 'zz': remove it (expected channel, default_language,",
        ),
        (_without("channel"), "template.yaml: channel is missing: add 'channel: email' (or sms)"),
        (
            _with("channel", "mail"),
            "template.yaml: channel 'mail' is not one of email, sms; did you mean 'email'?",
        ),
        (
            _without("default_language"),
            "template.yaml: default_language is missing: add 'default_language: fr' (or en)",
        ),
        (_with("default_language", "de"), "template.yaml: default_language 'de' is not one of fr"),
        (_with("marketing", "yes"), "template.yaml: marketing must be true or false, got 'yes'"),
        (_without("fr"), "template.yaml: no 'fr' section: the default language needs one"),
        (_with("fr", "Bonjour"), "template.yaml, fr: expected a mapping of subject, text and html"),
        (
            _with("fr.txt", "x"),
            "template.yaml, fr: unknown key 'txt' — did you mean 'text'?",
        ),
        (
            _with("en.subject", None),
            "template.yaml, en.subject: missing or empty: write the subject of the email",
        ),
        (_with("fr.text", "  \n"), "template.yaml, fr.text: missing or empty: write the text"),
        (_with("fr.html", 3), "template.yaml, fr.html: missing or empty: write the html"),
        (
            _with("fr.text", "Bonjour\n{{ contact.first_name }"),
            "template.yaml, fr.text: line 2: unexpected '}' — fix the template syntax",
        ),
        (
            _with("en.html", "{% if link %}<p>"),
            "template.yaml, en.html: line 1: Unexpected end of template.",
        ),
    ],
)
def test_parse_errors_name_the_source_language_and_part(document: Any, message: str) -> None:
    assert _error(parse_template, document, source="template.yaml").startswith(message)


@pytest.mark.parametrize(("part", "value"), [("subject", "Promo"), ("html", "<p>Promo</p>")])
def test_an_sms_refuses_a_subject_or_html(part: str, value: str) -> None:
    document = {"channel": "sms", "default_language": "fr", "fr": {"text": "x", part: value}}
    message = _error(parse_template, document, source="sms.yaml")
    assert message == f"sms.yaml, fr.{part}: an SMS has no {part}: remove fr.{part}"


# --- checks against the campaign ------------------------------------------------------------


def test_the_example_passes_its_checks() -> None:
    _check(parse_template(_document()))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{{ promo }} {{ unsubscribe_url }}",
            "undefined variable 'promo'; did you mean 'promo_code'?",
        ),
        ("{{ contct.city }} {{ unsubscribe_url }}", "undefined variable 'contct'; did you mean"),
        (
            "{{ zzz }} {{ unsubscribe_url }}",
            "undefined variable 'zzz' (available: campaign, contact,",
        ),
        ("{{ contact.unknown }} {{ unsubscribe_url }}", "contact has no field 'unknown'"),
        ("{{ contact.frist_name }} {{ unsubscribe_url }}", "did you mean 'first_name'?"),
        ("{{ offer.price }} {{ unsubscribe_url }}", "offer has no field 'price'"),
    ],
)
def test_undefined_names_are_refused(text: str, message: str) -> None:
    template = parse_template(_with("fr.text", text), source="t.yaml")
    error = _error(_check, template)
    assert error.startswith("t.yaml, fr.text: ")
    assert message in error


def test_names_set_or_looped_in_the_template_and_jinja_globals_are_fine() -> None:
    text = "{% set n = 3 %}{% for i in range(n) %}{{ i }}{% endfor %}{{ unsubscribe_url }}"
    _check(parse_template(_with("en.text", text)))


def test_an_undefined_contact_field_in_a_condition_is_refused() -> None:
    text = "{% if contact.vip %}VIP{% endif %} {{ unsubscribe_url }}"
    template = parse_template(_with("en.text", text))
    assert "en.text: contact has no field 'vip'" in _error(_check, template)


@pytest.mark.parametrize(
    ("uses_promo", "has_link", "message"),
    [
        (False, True, "fr.text: uses promo_code but the campaign has no promo program"),
        (True, False, "fr.text: uses link but the campaign has no link"),
    ],
)
def test_promo_code_and_link_need_the_campaign_to_have_them(
    uses_promo: bool, has_link: bool, message: str
) -> None:
    template = parse_template(_document())
    assert message in _error(_check, template, uses_promo=uses_promo, has_link=has_link)


def test_a_template_without_promo_code_or_link_passes_without_them() -> None:
    template = _sms("{{ sender }}: -20 % ce week-end")
    _check(template, uses_promo=False, has_link=False)


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        ("fr.text", "Bonjour {{ contact.first_name }}", "fr.text"),
        ("en.text", "Hello{% if false %} {{ unsubscribe_url }}{% endif %}", "en.text"),
        ("fr.html", "<p>Bonjour</p>", "fr.html"),
        ("fr.html", '<a href="{# {{ unsubscribe_url }} #}">x</a>', "fr.html"),
    ],
)
def test_a_marketing_email_needs_its_unsubscribe_link(path: str, value: str, where: str) -> None:
    template = parse_template(_with(path, value), source="template.yaml")
    assert _error(_check, template) == (
        f"template.yaml, {where}: a marketing email needs a visible unsubscribe link: "
        f"add {{{{ unsubscribe_url }}}} to {where}"
    )


def test_a_non_marketing_email_and_an_sms_need_no_unsubscribe_link() -> None:
    transactional = _with("marketing", False)
    transactional["fr"]["text"] = "Votre commande est prête."
    transactional["fr"].pop("html")
    _check(parse_template(transactional))
    _check(_sms("Votre commande est prête"))


# --- rendering -------------------------------------------------------------------------------


def test_render_the_example_in_french() -> None:
    message = render(parse_template(_document()), "fr", _context())
    assert message == RenderedMessage(
        language="fr",
        subject="Léa, -20 % sur votre première commande",
        text=(
            "Bonjour Léa,\n"
            "Votre code personnel : LEA-7Q2X — Paniers Lyon.\n"
            "Découvrir : https://t.example.com/t/c/abc\n"
            "Se désinscrire : https://t.example.com/u/tok?a=1&b=2"
        ),
        html=(
            '<p>Bonjour Léa</p><a href="https://t.example.com/u/tok?a=1&amp;b=2">Se désinscrire</a>'
        ),
    )


@pytest.mark.parametrize(
    ("wanted", "chosen"),
    [("fr", "fr"), ("en", "en"), ("EN", "en"), ("en-GB", "en"), ("fr_FR", "fr"), ("de", "fr")],
)
def test_choose_language(wanted: str, chosen: str) -> None:
    assert choose_language(parse_template(_document()), wanted) == chosen


@pytest.mark.parametrize("wanted", [None, "", "en"])
def test_a_missing_language_falls_back_to_the_default(wanted: str | None) -> None:
    document = _document()
    del document["en"]
    template = parse_template(document)
    assert choose_language(template, wanted) == "fr"
    assert render(template, wanted, _context()).subject == "Léa, -20 % sur votre première commande"


def test_render_in_english_and_none_prints_as_nothing() -> None:
    contact = {"first_name": None}
    message = render(parse_template(_document()), "en", _context(contact=contact))
    assert message.language == "en"
    assert message.subject == "Hello, 20% off your first order"
    assert message.text.startswith("Hello ,\nYour code: LEA-7Q2X")
    assert message.html is None


def test_html_is_escaped_and_text_is_not() -> None:
    contact = {"first_name": "<script>alert(1)</script>"}
    message = render(parse_template(_document()), "fr", _context(contact=contact))
    assert message.html is not None
    assert "<p>Bonjour &lt;script&gt;alert(1)&lt;/script&gt;</p>" in message.html
    assert message.text.startswith("Bonjour <script>alert(1)</script>,")
    assert message.subject == "<script>alert(1)</script>, -20 % sur votre première commande"


def test_a_subject_is_one_line_whatever_the_contact_holds() -> None:
    contact = {"first_name": "Léa\r\nBcc: victim@example.com"}
    message = render(parse_template(_document()), "fr", _context(contact=contact))
    assert message.subject == "Léa Bcc: victim@example.com, -20 % sur votre première commande"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi\n\n  \n\t\n", "Hi"),
        ("  Hi  \n  there  \n\n", "  Hi  \n  there  "),
        ("Hi\r\n\r\n", "Hi"),
        ("{% if true %}\nHi\n{% endif %}\nBye\n", "Hi\nBye"),
    ],
)
def test_only_trailing_blank_lines_are_stripped(text: str, expected: str) -> None:
    assert render(_sms(text), None, _context()).text == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{{ promo }}",
            "template, en.text: undefined variable 'promo'; did you mean 'promo_code'?",
        ),
        ("{{ contact.city }}", "template, en.text: contact has no field 'city'"),
        ("{{ contact.city.name }}", "template, en.text: contact has no field 'city'"),
        ("{{ 1 / 0 }}", "template, en.text: cannot be rendered: division by zero"),
    ],
)
def test_render_errors_name_what_is_undefined(text: str, message: str) -> None:
    assert _error(render, _sms(text), None, _context()) == message


@pytest.mark.parametrize(
    "text",
    [
        "{{ contact.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.mro() }}",
        "{{ contact['__class__'] }}",
        "{{ contact | attr('__class__') }}",
        "{{ '{0.__class__}'.format(contact) }}",
        "{{ lipsum.__globals__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ contact.clear() }}",
        "{{ contact.update({'email': 'x'}) }}",
        "{% set codes = [] %}{{ codes.append(1) }}",
        "{{ 'x' * 100000000 }}",
        "{{ 9 ** 999999 }}",
    ],
)
def test_sandbox_escapes_fail_cleanly(text: str) -> None:
    context = _context()
    message = _error(render, _sms(text), None, context)
    assert message.startswith("template, en.text: ")
    assert "not allowed in a template" in message
    assert context["contact"] == _context()["contact"]


def test_a_template_built_directly_is_compiled_on_first_render() -> None:
    parts = LanguageTemplate(None, "Hi {{ contact.first_name }}", None)
    template = MessageTemplate("sms", "en", True, {"en": parts})
    assert render(template, "en", _context()).text == "Hi Léa"
    broken = MessageTemplate("sms", "en", True, {"en": LanguageTemplate(None, "{{ x", None)})
    assert _error(render, broken, "en", _context()).startswith("template, en.text: line 1:")


def test_render_speed() -> None:
    template = parse_template(_document())
    context = _context()
    render(template, "fr", context)
    count = 2_000
    started = time.perf_counter()
    for _ in range(count):
        render(template, "fr", context)
    per_render = (time.perf_counter() - started) / count * 1e6
    print(f"\nrender of a typical email (subject, text, html): {per_render:.1f} µs")
    assert per_render < 500


# --- SMS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("-20 % ce week-end", "fr", "Paniers Lyon: -20 % ce week-end STOP: répondez STOP"),
        ("20% off this weekend", "en", "Paniers Lyon: 20% off this weekend Reply STOP to opt out"),
        ("Paniers Lyon : -20 %", "fr", "Paniers Lyon : -20 % STOP: répondez STOP"),
        ("paniers lyon -20 %", "fr", "paniers lyon -20 % STOP: répondez STOP"),
        ("-20 %. Stop au 36111", "fr", "Paniers Lyon: -20 %. Stop au 36111"),
        ("-20 %, STOP: reply STOP", "en", "Paniers Lyon: -20 %, STOP: reply STOP"),
        ("Unstoppable deals", "en", "Paniers Lyon: Unstoppable deals Reply STOP to opt out"),
        ("  Hello \n", "en", "Paniers Lyon: Hello Reply STOP to opt out"),
    ],
)
def test_sms_text(text: str, language: str, expected: str) -> None:
    assert sms_text(text, sender=" Paniers Lyon ", language=language) == expected


def test_sms_text_is_never_truncated() -> None:
    long = "x" * 300
    assert sms_text(long, sender="Acme", language="en") == f"Acme: {long} Reply STOP to opt out"


@pytest.mark.parametrize(
    ("sender", "language", "message"),
    [
        ("  ", "fr", "SMS: the sender's name is empty; set the sender of the campaign"),
        ("Acme", "de", "SMS: language 'de' is not one of fr, en"),
    ],
)
def test_sms_text_refusals(sender: str, language: str, message: str) -> None:
    assert _error(sms_text, "Hi", sender=sender, language=language) == message


def test_template_names_are_the_documented_ones() -> None:
    assert {"contact", "offer", "campaign", "link", "promo_code"} < TEMPLATE_NAMES
    assert {"unsubscribe_url", "sender"} < TEMPLATE_NAMES
