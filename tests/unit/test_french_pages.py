"""Every English text the pages show has its French translation (French is the default)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import leadsift
from leadsift.web.i18n import choose_language, french, translator

_PACKAGE = Path(leadsift.__file__).resolve().parent
# _("text") or _('text') in templates and views, with or without values after the text.
_LITERAL = re.compile(r"""\b_\(\s*(?P<q>["'])(?P<text>(?:(?!(?P=q)).)+)(?P=q)""")
# Page titles, translated by the layout: {% set title = "text" %}.
_TITLE = re.compile(r"""\{%\s*set\s+title\s*=\s*(?P<q>["'])(?P<text>(?:(?!(?P=q)).)+)(?P=q)""")


def _page_modules() -> None:
    # Views register their translations when imported.
    for module in pkgutil.walk_packages([str(_PACKAGE)], prefix="leadsift."):
        if module.name.endswith("views") or module.name.startswith(
            ("leadsift.pages.", "leadsift.web.")
        ):
            importlib.import_module(module.name)


def _texts() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    sources = [*_PACKAGE.glob("*/templates/*.html"), *_PACKAGE.glob("*/*views.py")]
    sources += list((_PACKAGE / "pages").glob("*.py"))
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for match in [*_LITERAL.finditer(text), *_TITLE.finditer(text)]:
            found.setdefault(match.group("text"), set()).add(str(path.relative_to(_PACKAGE)))
    return found


def test_every_page_text_has_a_french_translation() -> None:
    _page_modules()
    known = french()
    texts = _texts()
    assert "Sign in" in texts  # the scan reads the templates
    missing = {text: sorted(where) for text, where in texts.items() if text not in known}
    assert missing == {}, "add these to add_french({...}) in the views module:\n" + "\n".join(
        f"  {text!r}  ({', '.join(where)})" for text, where in sorted(missing.items())
    )


def test_translations_fall_back_to_english_and_fill_values() -> None:
    assert translator("fr")("Sign in") == "Se connecter"
    assert translator("en")("Sign in") == "Sign in"
    assert translator("fr")("an untranslated {n} thing", n=3) == "an untranslated 3 thing"


def test_the_language_is_the_cookie_else_the_browser_else_french() -> None:
    assert choose_language("en", "fr-FR") == "en"
    assert choose_language(None, "de-DE, en-US;q=0.8") == "en"
    assert choose_language("xx", "de") == "fr"
    assert choose_language(None, None) == "fr"
