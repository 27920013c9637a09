"""Render a page: Jinja2 templates (autoescaped) found under the package, by domain."""

from __future__ import annotations

from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from leadsift.web.i18n import LANGUAGE_COOKIE, choose_language, translator

# Template names are paths under the package: "web/templates/base.html",
# "contacts/templates/list.html" — each domain keeps its pages beside its code.
_PACKAGE = Path(__file__).resolve().parent.parent


@cache
def environment() -> Environment:
    """The one Jinja2 environment (templates compiled once per process)."""
    env = Environment(
        loader=FileSystemLoader(_PACKAGE),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Asset URLs carry the version, so browsers fetch new files after an upgrade.
    env.globals["version"] = version("leadsift")
    env.filters["number"] = _number
    env.filters["percent"] = _percent
    return env


def language_of(request: Request) -> str:
    """The language of this request's pages."""
    return choose_language(
        request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
    )


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    """TEMPLATE rendered with CONTEXT, the request's language and who is signed in."""
    language = language_of(request)
    page = getattr(request.state, "page", None)
    values = {
        "request": request,
        "lang": language,
        "_": translator(language),
        "me": page,
        "csrf_token": page.csrf_token if page is not None else "",
        "path": request.url.path,
        **(context or {}),
    }
    html = environment().get_template(template).render(values)
    return HTMLResponse(html, status_code=status, headers={"Content-Language": language})


def _number(value: float | int | None, language: str = "en", digits: int = 0) -> str:
    if value is None:
        return "—"
    text = f"{value:,.{digits}f}"
    # French groups thousands with a narrow no-break space and uses a decimal comma.
    return text.replace(",", "\u202f").replace(".", ",") if language == "fr" else text


def _percent(value: float | None, language: str = "en", digits: int = 1) -> str:
    if value is None:
        return "—"
    text = f"{100 * value:.{digits}f}"
    return (text.replace(".", ",") + "\u00a0%") if language == "fr" else text + "%"
