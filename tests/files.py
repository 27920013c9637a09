"""Test files written on the fly, byte for byte as real exports look."""

from __future__ import annotations

from pathlib import Path

FRENCH_CRM_HEADER = (
    "Civilité;Prénom;Nom;Courriel;Téléphone;Date de naissance;Code postal;Ville;Société;"
    "Fonction;Consentement email;Origine"
)
# Each row says what the import must do with it.
FRENCH_CRM_ROWS = [
    # row 2: created
    "M.;Jérôme;Lefèvre;jerome.lefevre@exemple.fr;06 12 34 56 78;15/03/1988;69003;Lyon;"
    "Boulangerie Lefèvre;Gérant;oui;Salon",
    # row 3: created
    "Mme;Hélène;Dupré;Helene.Dupre@Exemple.fr;+33 (0)6 23 45 67 89;02/11/1992;75011;Paris;"
    "Café Dupré;Directrice;non;Site web",
    # row 4: created
    "M.;François;Garçon;f.garcon@exemple.fr;0033 7 34 56 78 90;;13001;Marseille;;;oui;Salon",
    # row 5: invalid_email (no dot in the domain)
    "Mme;Zoé;Noël;zoe.noel@exemple;06.45.67.89.01;01/01/1990;;;;;;Salon",
    # row 6: invalid_phone (too short)
    "M.;Loïc;Bénard;loic.benard@exemple.fr;01-23-45;;;;;;;Salon",
    # row 7: merged into row 3 (same email, other case; same phone, other notation)
    "Mme;Hélène;Dupré;HELENE.DUPRE@EXEMPLE.FR;06-23-45-67-89;;;;;;;",
    # row 8: no_identifier
    "M.;Inconnu;;;;;;;;;;Salon",
    # row 9: merged into row 2 through the phone alone
    "M.;Jérôme;Lefèvre;;+33612345678;;;;;;;Salon",
    # row 10: identity_conflict (email of row 2, phone of row 4)
    "M.;Jean;Valjean;jerome.lefevre@exemple.fr;07.34.56.78.90;;;;;;;Salon",
    # row 11: invalid_birth_date (31 February)
    "Mme;Élise;Carré;elise.carre@exemple.fr;06 98 76 54 32;31/02/1990;;;;;;Salon",
    # row 12: created, fills nothing special
    "Mme;Inès;Müller;ines.muller@exemple.fr;09 51 23 45 67;1985-07-14;67000;Strasbourg;;;oui;Salon",
]
FRENCH_CRM_EXPECTED = {
    "rows": 11,
    "created": 4,
    "merged": 2,
    "updated": 0,
    "unchanged": 0,
    "rejected": 5,
    "rejected_by_reason": {
        "identity_conflict": 1,
        "invalid_birth_date": 1,
        "invalid_email": 1,
        "invalid_phone": 1,
        "no_identifier": 1,
    },
}


def write_french_crm(path: Path) -> Path:
    """A French CRM export: Windows-1252, ';', CRLF, French headers, mixed phone notations."""
    text = "\r\n".join([FRENCH_CRM_HEADER, *FRENCH_CRM_ROWS]) + "\r\n"
    path.write_bytes(text.encode("cp1252"))
    return path


def write_csv(path: Path, header: list[str], rows: list[list[str]], delimiter: str = ",") -> Path:
    """A small UTF-8 CSV (values must not need quoting)."""
    lines = [delimiter.join(header)] + [delimiter.join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def synthetic_contacts(count: int, start: int = 0) -> tuple[list[str], list[list[str]]]:
    """COUNT distinct valid contacts with email and phone."""
    header = ["email", "phone", "first_name", "last_name", "city"]
    rows = [
        [f"person{i}@example.org", f"+336{i:08d}", f"First{i}", f"Last{i}", "Lyon"]
        for i in range(start, start + count)
    ]
    return header, rows
