"""French and English for the web pages: English text is the key, French its translation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

LANGUAGES: Final = ("fr", "en")
DEFAULT_LANGUAGE: Final = "fr"
# The user's choice, remembered by the browser (no personal data).
LANGUAGE_COOKIE: Final = "leadsift_lang"

# English -> French; each domain's views add theirs with `add_french` when imported.
_FRENCH: dict[str, str] = {
    "Dashboard": "Tableau de bord",
    "Contacts": "Contacts",
    "Import": "Import",
    "Playbook": "Playbook",
    "Campaigns": "Campagnes",
    "Calls": "Appels",
    "Reports": "Rapports",
    "Sign in": "Se connecter",
    "Sign out": "Se déconnecter",
    "Name": "Identifiant",
    "Password": "Mot de passe",
    "Signed in as": "Connecté en tant que",
    "Language": "Langue",
    "Main navigation": "Navigation principale",
    "Skip to content": "Aller au contenu",
    "Something went wrong": "Un problème est survenu",
    "Back to the dashboard": "Retour au tableau de bord",
    "Page not found": "Page introuvable",
    "You may not see this page": "Vous n'avez pas accès à cette page",
    "wrong name or password, or the user is disabled": (
        "identifiant ou mot de passe incorrect, ou utilisateur désactivé"
    ),
    "Your session has expired, or the form is stale: reload the page and try again.": (
        "Votre session a expiré ou le formulaire est périmé : rechargez la page et réessayez."
    ),
    "Too many attempts; wait a moment and try again.": (
        "Trop de tentatives ; patientez un instant puis réessayez."
    ),
    "Lead qualification": "Qualification de leads",
}


def add_french(translations: Mapping[str, str]) -> None:
    """Add a domain's French translations (English text -> French)."""
    _FRENCH.update(translations)


def french() -> Mapping[str, str]:
    """Every French translation known (for the completeness test)."""
    return dict(_FRENCH)


def translator(language: str) -> Callable[..., str]:
    """`_(text, **values)` in LANGUAGE: the translation (English when missing), formatted."""

    def translate(text: str, **values: object) -> str:
        found = _FRENCH.get(text, text) if language == "fr" else text
        return found.format(**values) if values else found

    return translate


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The page language: the remembered choice, else the browser's first known, else French."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE
