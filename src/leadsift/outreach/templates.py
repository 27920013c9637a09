"""Message templates of campaigns: parsed from the user's document, checked against what a
campaign can fill in, and rendered per contact in a Jinja sandbox; pure.

A template is one subject/text/html set per language. Rendering is sandboxed (no attribute
starting with `_`, no method that mutates, no huge repetitions) and strict (a name the context
does not give is an error, never an empty string); html parts are autoescaped, text parts are
not. A value that is None prints as nothing, so a contact without a first name never reads
"Bonjour None".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from types import MappingProxyType
from typing import Any, Final, NoReturn

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.meta import find_undeclared_variables
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from leadsift.errors import InvalidInputError

LANGUAGES: Final = ("fr", "en")
CHANNELS: Final = ("email", "sms")
# The names a template may use (see the brief of the service for what fills them).
TEMPLATE_NAMES: Final = frozenset(
    {"contact", "offer", "campaign", "link", "promo_code", "unsubscribe_url", "sender"}
)
PARTS: Final = ("subject", "text", "html")
TOP_LEVEL_KEYS: Final = ("channel", "default_language", "marketing", *LANGUAGES)
SMS_STOP: Final = {"fr": "STOP: répondez STOP", "en": "Reply STOP to opt out"}
# A repetition (`'x' * n`) or power longer than this is refused: a message never needs one.
MAX_REPEAT: Final = 10_000
MAX_EXPONENT: Final = 100

_STOP_WORD: Final = re.compile(r"\bSTOP\b", re.IGNORECASE)
_LINE_BREAK: Final = re.compile(r"[\r\n]")
_SAMPLE_LINK: Final = "https://example.invalid/sample-link"
_UNSUBSCRIBE_SENTINEL: Final = "https://unsubscribe.invalid/b41e7c05d9"


class _Unresolved(UndefinedError):
    """An undefined value, with the name looked up and the object it was looked up on."""

    def __init__(self, message: str, *, name: Any, obj: Any) -> None:
        super().__init__(message)
        self.name, self.obj = name, obj


class _Undefined(StrictUndefined):
    __slots__ = ()

    def __init__(
        self, hint: str | None = None, obj: Any = missing, name: str | None = None, exc: Any = None
    ) -> None:
        # Jinja raises `exc(message)`; a partial keeps what was looked up for a precise message.
        # The sandbox passes its own SecurityError, kept as is.
        if exc is None or exc is UndefinedError:
            exc = functools.partial(_Unresolved, name=name, obj=obj)
        super().__init__(hint, obj, name, exc)


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, also refusing repetitions and powers no message needs."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Apply OPERATOR unless it would build a huge value."""
        if operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"an exponent above {MAX_EXPONENT}")
        if operator == "*":
            size = _repeat_size(left, right) or _repeat_size(right, left)
            if size > MAX_REPEAT:
                raise SecurityError(f"a repetition longer than {MAX_REPEAT}")
        return super().call_binop(context, operator, left, right)


def _repeat_size(sequence: Any, times: Any) -> int:
    if isinstance(sequence, str | list | tuple) and isinstance(times, int):
        return len(sequence) * times
    return 0


def _finalize(value: Any) -> Any:
    return "" if value is None else value


def _environment(*, autoescape: bool) -> _Sandbox:
    # trim/lstrip blocks: a `{% if %}` on its own line leaves no blank line in a text message.
    return _Sandbox(
        undefined=_Undefined,
        autoescape=autoescape,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )


_TEXT_ENV: Final = _environment(autoescape=False)
_HTML_ENV: Final = _environment(autoescape=True)


@dataclass(frozen=True)
class LanguageTemplate:
    """The parts of a template in one language (an SMS has only a text)."""

    subject: str | None
    text: str
    html: str | None

    def parts(self) -> dict[str, str]:
        """The parts present, by name, in the order subject, text, html."""
        found = {"subject": self.subject, "text": self.text, "html": self.html}
        return {name: source for name, source in found.items() if source is not None}


@dataclass(frozen=True)
class MessageTemplate:
    """A campaign's message template: channel, languages and their parts."""

    channel: str
    default_language: str
    marketing: bool
    languages: Mapping[str, LanguageTemplate]
    # Where the template came from, named by every error message.
    source: str = field(default="template", compare=False)
    # Compiled parts by (language, part): compiled once, rendered many times.
    _compiled: dict[tuple[str, str], Template] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def to_json(self) -> dict[str, Any]:
        """The document this template was parsed from, in canonical form."""
        document: dict[str, Any] = {
            "channel": self.channel,
            "default_language": self.default_language,
            "marketing": self.marketing,
        }
        for language, parts in self.languages.items():
            document[language] = parts.parts()
        return document


@dataclass(frozen=True)
class RenderedMessage:
    """One contact's message, in the language chosen for them."""

    language: str
    subject: str | None
    text: str
    html: str | None


def _fail(source: str, where: str | None, message: str) -> NoReturn:
    prefix = f"{source}, {where}" if where else source
    raise InvalidInputError(f"{prefix}: {message}")


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _compile(source: str, language: str, part: str, text: str) -> Template:
    env = _HTML_ENV if part == "html" else _TEXT_ENV
    try:
        return env.from_string(text)
    except TemplateSyntaxError as error:
        _fail(
            source,
            f"{language}.{part}",
            f"line {error.lineno}: {error.message} — fix the template syntax",
        )


def _check_keys(document: Mapping[str, Any], allowed: tuple[str, ...], source: str) -> None:
    for key in document:
        if key not in allowed:
            close = get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            if close:
                _fail(source, None, f"unknown key '{key}' — did you mean '{close[0]}'?")
            _fail(source, None, f"unknown key '{key}': remove it (expected {', '.join(allowed)})")


def _choice(document: Mapping[str, Any], key: str, allowed: tuple[str, ...], source: str) -> str:
    value = document.get(key)
    if value is None:
        _fail(source, None, f"{key} is missing: add '{key}: {allowed[0]}' (or {allowed[1]})")
    if value not in allowed:
        hint = _did_you_mean(str(value), allowed)
        _fail(source, None, f"{key} {value!r} is not one of {', '.join(allowed)}{hint}")
    return str(value)


def _language(section: Any, language: str, channel: str, source: str) -> LanguageTemplate:
    if not isinstance(section, Mapping):
        _fail(source, language, "expected a mapping of subject, text and html")
    _check_keys(section, PARTS, f"{source}, {language}")
    required = ("subject", "text") if channel == "email" else ("text",)
    for part in PARTS:
        value = section.get(part)
        where = f"{language}.{part}"
        if value is None and part not in required:
            continue
        if channel == "sms" and part != "text":
            _fail(source, where, f"an SMS has no {part}: remove {where}")
        if not isinstance(value, str) or not value.strip():
            _fail(source, where, f"missing or empty: write the {part} of the {channel}")
    return LanguageTemplate(section.get("subject"), section["text"], section.get("html"))


def parse_template(document: Mapping[str, Any], *, source: str = "template") -> MessageTemplate:
    """Check a template document (parsed YAML/JSON) and compile each of its parts."""
    if not isinstance(document, Mapping):
        _fail(source, None, "expected a mapping with channel, default_language and languages")
    _check_keys(document, TOP_LEVEL_KEYS, source)
    channel = _choice(document, "channel", CHANNELS, source)
    default_language = _choice(document, "default_language", LANGUAGES, source)
    marketing = document.get("marketing", True)
    if not isinstance(marketing, bool):
        _fail(source, None, f"marketing must be true or false, got {marketing!r}")
    if document.get(default_language) is None:
        _fail(source, None, f"no '{default_language}' section: the default language needs one")
    languages = {
        language: _language(document[language], language, channel, source)
        for language in LANGUAGES
        if document.get(language) is not None
    }
    template = MessageTemplate(
        channel, default_language, marketing, MappingProxyType(languages), source
    )
    for language, parts in languages.items():
        for part, text in parts.parts().items():
            template._compiled[language, part] = _compile(source, language, part, text)
    return template


def _compiled(template: MessageTemplate, language: str, part: str, text: str) -> Template:
    compiled = template._compiled.get((language, part))
    if compiled is None:
        compiled = template._compiled[language, part] = _compile(
            template.source, language, part, text
        )
    return compiled


def _unresolved_message(error: _Unresolved, context: Mapping[str, Any]) -> str:
    if error.obj is missing:
        return f"undefined variable '{error.name}'" + _did_you_mean(str(error.name), TEMPLATE_NAMES)
    owner = next((name for name, value in context.items() if value is error.obj), None)
    if owner is None:
        return str(error)
    keys = [str(key) for key in error.obj] if isinstance(error.obj, Mapping) else []
    return f"{owner} has no field '{error.name}'" + _did_you_mean(str(error.name), keys)


def _render_part(
    template: MessageTemplate, language: str, part: str, text: str, context: Mapping[str, Any]
) -> str:
    compiled = _compiled(template, language, part, text)
    try:
        rendered = compiled.render(context)
    except SecurityError as error:
        message = f"{str(error).rstrip('.')} — not allowed in a template; remove it"
    except _Unresolved as error:
        message = _unresolved_message(error, context)
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as error:
        message = f"cannot be rendered: {error}"
    else:
        return _without_trailing_blank_lines(rendered)
    _fail(template.source, f"{language}.{part}", message)


def _without_trailing_blank_lines(text: str) -> str:
    # Only the whitespace after the last line with content goes; indentation stays.
    end = len(text.rstrip())
    cut = _LINE_BREAK.search(text, end)
    return text if cut is None else text[: cut.start()]


def choose_language(template: MessageTemplate, wanted: str | None) -> str:
    """WANTED ('fr', 'en', 'fr-FR'...) when the template has it, else its default language."""
    if wanted:
        primary = wanted.strip().lower().replace("_", "-").partition("-")[0]
        if primary in template.languages:
            return primary
    return template.default_language


def render(
    template: MessageTemplate, language: str | None, context: Mapping[str, Any]
) -> RenderedMessage:
    """Render a template for one contact, in LANGUAGE when available, else the default."""
    chosen = choose_language(template, language)
    parts = template.languages[chosen]
    subject = None
    if parts.subject is not None:
        # A subject is one header line, whatever a contact's fields contain.
        subject = " ".join(
            _render_part(template, chosen, "subject", parts.subject, context).split()
        )
    text = _render_part(template, chosen, "text", parts.text, context)
    html = None
    if parts.html is not None:
        html = _render_part(template, chosen, "html", parts.html, context)
    return RenderedMessage(chosen, subject, text, html)


def _sample_context(
    contact_fields: Iterable[str], *, uses_promo: bool, has_link: bool
) -> dict[str, Any]:
    return {
        "contact": {name: f"sample {name}" for name in contact_fields},
        "offer": {"name": "Sample offer", "currency": "EUR"},
        "campaign": {"name": "Sample campaign", "key": "sample"},
        "link": _SAMPLE_LINK if has_link else None,
        "promo_code": "SAMPLE-CODE" if uses_promo else None,
        "unsubscribe_url": _UNSUBSCRIBE_SENTINEL,
        "sender": "Sample sender",
    }


def _check_names(template: MessageTemplate, language: str, part: str, text: str) -> set[str]:
    env = _HTML_ENV if part == "html" else _TEXT_ENV
    names = find_undeclared_variables(env.parse(text))
    for name in sorted(names - TEMPLATE_NAMES - set(env.globals)):
        hint = (
            _did_you_mean(name, TEMPLATE_NAMES)
            or f" (available: {', '.join(sorted(TEMPLATE_NAMES))})"
        )
        _fail(template.source, f"{language}.{part}", f"undefined variable '{name}'{hint}")
    return names


def _check_part(
    template: MessageTemplate, language: str, part: str, text: str, sample: Mapping[str, Any]
) -> None:
    where = f"{language}.{part}"
    names = _check_names(template, language, part, text)
    if "promo_code" in names and sample["promo_code"] is None:
        _fail(
            template.source,
            where,
            "uses promo_code but the campaign has no promo program: "
            "attach a promo program or remove {{ promo_code }}",
        )
    if "link" in names and sample["link"] is None:
        _fail(
            template.source,
            where,
            "uses link but the campaign has no link: "
            "add a link to the campaign or remove {{ link }}",
        )
    rendered = _render_part(template, language, part, text, sample)
    needs_unsubscribe = template.channel == "email" and template.marketing and part != "subject"
    if needs_unsubscribe and _UNSUBSCRIBE_SENTINEL not in rendered:
        _fail(
            template.source,
            where,
            "a marketing email needs a visible unsubscribe link: "
            f"add {{{{ unsubscribe_url }}}} to {where}",
        )


def check_template(
    template: MessageTemplate, *, contact_fields: Iterable[str], uses_promo: bool, has_link: bool
) -> None:
    """Refuse a template using a name, a contact field, a promo code or a link the campaign lacks,
    or a marketing email without its unsubscribe link."""
    sample = _sample_context(contact_fields, uses_promo=uses_promo, has_link=has_link)
    for language, parts in template.languages.items():
        for part, text in parts.parts().items():
            _check_part(template, language, part, text, sample)


def sms_text(rendered_text: str, *, sender: str, language: str) -> str:
    """A promotional SMS with the sender's name first and a STOP instruction (never truncated)."""
    sender = sender.strip()
    if not sender:
        raise InvalidInputError("SMS: the sender's name is empty; set the sender of the campaign")
    if language not in SMS_STOP:
        raise InvalidInputError(f"SMS: language {language!r} is not one of {', '.join(LANGUAGES)}")
    text = rendered_text.strip()
    if not text.casefold().startswith(sender.casefold()):
        text = f"{sender}: {text}"
    if not _STOP_WORD.search(text):
        text = f"{text} {SMS_STOP[language]}"
    return text
