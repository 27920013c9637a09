"""Header auto-mapping (English and French names) and explicit `--map` overrides; pure."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Final, Literal

from leadsift.contacts.fields import CONSENT_FIELDS, IGNORE_TARGETS, RESERVED_KEYS, STANDARD_FIELDS
from leadsift.errors import InvalidInputError

TargetKind = Literal["standard", "consent", "attr", "ignore"]

_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "email": (
        "email",
        "e mail",
        "courriel",
        "mail",
        "adresse email",
        "adresse e mail",
        "adresse mail",
        "email address",
        "e mail address",
        "adresse courriel",
    ),
    "phone": (
        "phone",
        "telephone",
        "tel",
        "mobile",
        "portable",
        "phone number",
        "numero de telephone",
        "telephone mobile",
        "telephone portable",
        "tel portable",
        "tel mobile",
        "mobile phone",
        "cell",
        "cellphone",
        "gsm",
        "num tel",
    ),
    "first_name": ("first name", "firstname", "given name", "prenom"),
    "last_name": ("last name", "lastname", "surname", "family name", "nom", "nom de famille"),
    "birth_date": (
        "birth date",
        "birthdate",
        "date of birth",
        "dob",
        "date de naissance",
        "naissance",
        "ne le",
        "nee le",
    ),
    "age": ("age",),
    "postal_code": ("postal code", "postcode", "zip", "zip code", "code postal", "cp"),
    "city": ("city", "town", "ville", "commune", "localite"),
    "region": ("region", "state", "province"),
    "country": ("country", "pays"),
    "company": (
        "company",
        "company name",
        "organisation",
        "organization",
        "societe",
        "entreprise",
        "raison sociale",
        "nom de la societe",
    ),
    "job_title": ("job title", "jobtitle", "fonction", "poste", "intitule de poste"),
    "source": ("source", "lead source", "origine", "provenance"),
    "external_id": (
        "external id",
        "externalid",
        "id",
        "identifiant",
        "customer id",
        "client id",
        "contact id",
        "id client",
        "id contact",
        "reference client",
    ),
    "consent_email": (
        "consent email",
        "email consent",
        "consentement email",
        "consentement e mail",
        "consentement courriel",
        "optin email",
        "opt in email",
        "email opt in",
        "email optin",
    ),
    "consent_sms": (
        "consent sms",
        "sms consent",
        "consentement sms",
        "optin sms",
        "opt in sms",
        "sms opt in",
        "sms optin",
    ),
    "consent_phone": (
        "consent phone",
        "phone consent",
        "consentement telephone",
        "consentement tel",
        "optin telephone",
        "opt in phone",
        "phone opt in",
    ),
    "consent_ad_audience": (
        "consent ad audience",
        "ad audience consent",
        "consent ads",
        "ads consent",
        "consentement publicite",
        "optin ads",
        "opt in ads",
    ),
}
HEADER_ALIASES: Final[dict[str, str]] = {
    alias: field for field, aliases in _ALIASES.items() for alias in aliases
}
MAPPABLE_TARGETS: Final[tuple[str, ...]] = (*STANDARD_FIELDS, *CONSENT_FIELDS)


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """Where one file column goes: a standard field, a consent channel, an attribute, or nowhere."""

    index: int
    header: str
    kind: TargetKind
    target: str

    def describe(self) -> str:
        """The target as written in `--map` and in the batch's recorded mapping."""
        return f"attrs.{self.target}" if self.kind == "attr" else self.target


def _fold(text: str) -> str:
    """Fold a header for matching: 'Téléphone' -> 'telephone', 'E-mail' -> 'e mail'."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(re.findall(r"[a-z0-9]+", ascii_text))


def attribute_key(header: str) -> str:
    """A snake_case identifier for a header: 'emp.var.rate' -> 'emp_var_rate'."""
    key = _fold(header).replace(" ", "_")
    if not key:
        return "column"
    if key[0].isdigit():
        key = f"c_{key}"
    return key[:100]


def _parse_overrides(overrides: Sequence[str], headers: Sequence[str]) -> dict[str, str]:
    """Parse `Header=field` items and check both sides exist."""
    parsed: dict[str, str] = {}
    for item in overrides:
        header, sep, target = item.partition("=")
        header, target = header.strip(), target.strip()
        if not sep or not header or not target:
            raise InvalidInputError(f'--map {item!r}: write it as "Header=field"')
        if header not in headers:
            raise InvalidInputError(
                f"--map {item!r}: the file has no column {header!r}; its columns are: "
                + ", ".join(headers)
            )
        parsed[header] = target
    return parsed


def _explicit_target(item: str, header: str, target: str) -> tuple[TargetKind, str]:
    """Resolve an explicit --map target or raise listing the valid ones."""
    if target in IGNORE_TARGETS:
        return "ignore", "ignore"
    if target in CONSENT_FIELDS:
        return "consent", target
    if target in STANDARD_FIELDS:
        return "standard", target
    if target.startswith("attrs.") and re.fullmatch(r"[a-z][a-z0-9_]{0,99}", target[6:]):
        if target[6:] in RESERVED_KEYS:
            raise InvalidInputError(f"--map {header}={target}: {target[6:]!r} is a standard name")
        return "attr", target[6:]
    hint = get_close_matches(target, MAPPABLE_TARGETS, n=1)
    suggestion = f" — did you mean '{hint[0]}'?" if hint else ""
    raise InvalidInputError(
        f"--map {item}: unknown field {target!r}{suggestion} Valid fields: "
        + ", ".join(MAPPABLE_TARGETS)
        + ", attrs.<name> (custom attribute), ignore"
    )


def _unique_key(key: str, taken: set[str]) -> str:
    """Suffix KEY until it collides with neither a standard name nor an earlier attribute."""
    base = f"{key}_attr" if key in RESERVED_KEYS else key
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def plan_columns(headers: Sequence[str], overrides: Sequence[str] = ()) -> list[ColumnPlan]:
    """Map every header to a target: explicit --map first, then known names, else an attribute."""
    explicit = _parse_overrides(overrides, headers)
    used: set[str] = set()
    resolved: dict[int, tuple[TargetKind, str]] = {}
    for index, header in enumerate(headers):
        if header in explicit:
            kind, target = _explicit_target(
                f"{header}={explicit[header]}", header, explicit[header]
            )
            if kind in ("standard", "consent") and target in used:
                raise InvalidInputError(f"--map: two columns are mapped to {target!r}")
            used.add(target)
            resolved[index] = (kind, target)
    for index, header in enumerate(headers):
        if index in resolved:
            continue
        field = HEADER_ALIASES.get(_fold(header)) or HEADER_ALIASES.get(
            _fold(header.replace("_", " "))
        )
        # First column wins a field; a second 'Mobile' after 'Téléphone' stays an attribute.
        if field is not None and field not in used:
            used.add(field)
            resolved[index] = ("consent" if field in CONSENT_FIELDS else "standard", field)
    taken = {target for kind, target in resolved.values() if kind == "attr"}
    plans = []
    for index, header in enumerate(headers):
        kind, target = resolved.get(index) or ("attr", _unique_key(attribute_key(header), taken))
        plans.append(ColumnPlan(index, header, kind, target))
    return plans


def mapping_record(plans: Sequence[ColumnPlan]) -> dict[str, str]:
    """The mapping as {header: target}, stored on the batch and shown to the user."""
    return {plan.header: plan.describe() for plan in plans}


def headers_by_target(mapping: Mapping[str, str]) -> dict[str, str]:
    """Invert a recorded mapping: {target: header}, used to export with the import's names."""
    return {target: header for header, target in mapping.items() if target not in IGNORE_TARGETS}
