"""The Import pages: upload a file, check and fix its mapping on a preview, import it in the
background with its progress, download the rejected rows.

The import is the CLI's (`leadsift import contacts FILE`): the same reading, mapping,
normalisation, de-duplication and rejects report; the mapping chosen here is its `--map`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from leadsift.access.schemas import Role
from leadsift.access.sessions import SessionCaller
from leadsift.contacts import import_jobs as jobs
from leadsift.contacts.cli import RejectsWriter
from leadsift.contacts.mapping import plan_columns
from leadsift.contacts.normalise import Rejection
from leadsift.contacts.schemas import ImportOptions
from leadsift.contacts.service import check_region
from leadsift.errors import (
    ImportFileError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
)
from leadsift.kit.clock import utcnow
from leadsift.kit.web import database_of, settings_of
from leadsift.web.auth import signed_in
from leadsift.web.i18n import add_french
from leadsift.web.templating import render

router = APIRouter(include_in_schema=False)
IMPORTERS: Final = (Role.ADMIN, Role.MANAGER)
Importer = Annotated[SessionCaller, Depends(signed_in(IMPORTERS))]
MAX_UPLOAD_BYTES: Final = 50_000_000
# What a multipart body adds around the file (boundaries, the CSRF field, headers).
_FORM_OVERHEAD: Final = 64 * 1024
ACCEPT: Final = ".csv,.tsv,.txt,.gz,.xlsx,.jsonl,.ndjson"
_COLUMN_FIELD: Final = re.compile(r"col-(\d{1,4})")
_BAD_REGION: Final = "Unknown country code {code}: use two letters, such as FR."
_FORMATS: Final = "CSV (any delimiter, .gz), Excel (.xlsx) or JSON Lines; at most {mb} MB."
_NO_REJECTS: Final = "No rejected rows to download: run the import first."
_DOUBLED: Final = "Two columns are imported as {field}: choose one."
TOO_LARGE: Final = (
    "The file is over {mb} MB, the upload page's limit: split it, or import it with the "
    "command line (leadsift import contacts FILE)."
)
_TOO_LARGE_FR: Final = (
    "Le fichier dépasse {mb} Mo, la limite de la page d'import : découpez-le, ou importez-le "
    "en ligne de commande (leadsift import contacts FICHIER)."
)
# Each target's label in English and French.
_LABELS: Final = {
    "ignore": ("Ignore (do not import)", "Ignorer (ne pas importer)"),
    "external_id": ("External id", "Identifiant externe"),
    "email": ("Email", "E-mail"),
    "phone": ("Phone", "Téléphone"),
    "first_name": ("First name", "Prénom"),
    "last_name": ("Last name", "Nom"),
    "birth_date": ("Birth date", "Date de naissance"),
    "age": ("Age", "Âge"),
    "postal_code": ("Postal code", "Code postal"),
    "city": ("City", "Ville"),
    "region": ("Region", "Région"),
    "country": ("Country", "Pays"),
    "company": ("Company", "Société"),
    "job_title": ("Job title", "Fonction"),
    "source": ("Source", "Source"),
    "consent_email": ("Consent: email", "Consentement : e-mail"),
    "consent_sms": ("Consent: SMS", "Consentement : SMS"),
    "consent_phone": ("Consent: phone calls", "Consentement : appels"),
    "consent_ad_audience": ("Consent: ad audiences", "Consentement : audiences publicitaires"),
}
FIELD_LABELS: Final = {target: english for target, (english, _) in _LABELS.items()}
# Why a row or value is refused, by the import's reason code (else its English message).
_REASONS: Final = {
    "invalid_email": ("Not a valid email address", "Adresse e-mail invalide"),
    "invalid_phone": (
        "Not a valid phone number (check the default country)",
        "Numéro de téléphone invalide (vérifiez le pays par défaut)",
    ),
    "invalid_birth_date": (
        "Not a birth date (YYYY-MM-DD or DD/MM/YYYY, 1900 to today)",
        "Date de naissance invalide (AAAA-MM-JJ ou JJ/MM/AAAA, de 1900 à aujourd'hui)",
    ),
    "invalid_age": ("Not an age in years (0 to 130)", "Âge invalide (en années, de 0 à 130)"),
    "no_identifier": (
        "No email, phone or external id: the row cannot be imported",
        "Ni e-mail, ni téléphone, ni identifiant externe : la ligne ne peut pas être importée",
    ),
    "invalid_consent": ("Not a yes/no value (oui/non, yes/no, 1/0)", "Valeur oui/non attendue"),
}
REASONS: Final = {code: english for code, (english, _) in _REASONS.items()}
add_french(dict(_LABELS.values()))
add_french(dict(_REASONS.values()))
add_french(
    {
        "Import contacts": "Importer des contacts",
        "File to import": "Fichier à importer",
        _FORMATS: "CSV (tout séparateur, .gz), Excel (.xlsx) ou JSON Lines ; {mb} Mo au plus.",
        "Upload and preview": "Envoyer et prévisualiser",
        "Choose a file to import.": "Choisissez un fichier à importer.",
        "This file cannot be imported:": "Ce fichier ne peut pas être importé :",
        TOO_LARGE: _TOO_LARGE_FR,
        TOO_LARGE.format(mb=MAX_UPLOAD_BYTES // 1_000_000): _TOO_LARGE_FR.format(
            mb=MAX_UPLOAD_BYTES // 1_000_000
        ),
        "Nothing is imported before you check the preview.": "Rien n'est importé avant l'aperçu.",
        "Format": "Format",
        "Encoding": "Encodage",
        "Delimiter": "Séparateur",
        "Size": "Taille",
        "{n} KB": "{n} Ko",
        "Columns": "Colonnes",
        "Column in the file": "Colonne du fichier",
        "Imported as": "Importée comme",
        "Custom attribute ({key})": "Attribut personnalisé ({key})",
        "Default country of phone numbers": "Pays par défaut des numéros de téléphone",
        "Overwrite stored values (else fill empty fields only)": (
            "Remplacer les valeurs enregistrées (sinon remplir les champs vides seulement)"
        ),
        "Preview again": "Actualiser l'aperçu",
        "Import the file": "Importer le fichier",
        "Preview of the first rows": "Aperçu des premières lignes",
        "Row": "Ligne",
        "Verdict": "Verdict",
        "ignored": "ignorée",
        "Imported": "Importée",
        "yes": "oui",
        "no": "non",
        "{n} of these {total} rows would be rejected.": "{n} lignes sur {total} seraient rejetées.",
        "Values as they would be stored; refused ones are marked ✗.": (
            "Valeurs telles qu'enregistrées ; les valeurs refusées sont marquées ✗."
        ),
        "The mapping cannot be used:": "Cette correspondance ne peut pas être utilisée :",
        _DOUBLED: "Deux colonnes sont importées comme {field} : choisissez-en une.",
        _BAD_REGION: "Code pays inconnu {code} : indiquez deux lettres, par exemple FR.",
        "Importing the same file again is safe: nothing is duplicated.": (
            "Réimporter le même fichier est sans risque : rien n'est dupliqué."
        ),
        "This file was imported already.": "Ce fichier a déjà été importé.",
        "Import in progress": "Import en cours",
        "{percent} of the file read": "{percent} du fichier lu",
        "Import finished": "Import terminé",
        "Import failed": "Échec de l'import",
        "Nothing was written.": "Rien n'a été enregistré.",
        "Rows read": "Lignes lues",
        "Inserted": "Créés",
        "Updated": "Mis à jour",
        "Merged (duplicates within the file)": "Fusionnés (doublons dans le fichier)",
        "Unchanged": "Inchangés",
        "Rejected": "Rejetées",
        "Download rejected rows": "Télécharger les lignes rejetées",
        "No row was rejected.": "Aucune ligne n'a été rejetée.",
        "Rejected by reason": "Rejets par motif",
        "Reason": "Motif",
        "Back to the mapping": "Retour à la correspondance",
        "Import another file": "Importer un autre fichier",
        "Import batch {batch}": "Lot d'import {batch}",
        "This import has not been run yet.": "Cet import n'a pas encore été lancé.",
        jobs.NO_UPLOAD: "Fichier introuvable (gardé un jour) : envoyez-le à nouveau.",
        _NO_REJECTS: "Aucune ligne rejetée à télécharger : lancez d'abord l'import.",
        jobs.STOPPED: "L'import s'est arrêté avant la fin ; rien n'a été enregistré. Relancez-le.",
        jobs.UNEXPECTED: "Erreur inattendue ; voir le journal du serveur.",
    }
)


def declared_size(request: Request) -> None:
    """Refuse an upload whose declared size is over the limit before reading any of it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES + _FORM_OVERHEAD:
        raise PayloadTooLargeError(TOO_LARGE.format(mb=MAX_UPLOAD_BYTES // 1_000_000))


def _root(request: Request) -> Path:
    # Tests (and a deployment that wants them elsewhere) set app.state.import_uploads.
    return jobs.private_root(getattr(request.app.state, "import_uploads", None))


def _upload(request: Request, upload_id: str, page: SessionCaller) -> jobs.Upload:
    return jobs.find_upload(_root(request), upload_id, page.user.id)


def _reason(code: str, message: str | None = None) -> str:
    """A reason code's sentence (the page translates it), else the import's own message."""
    key = "invalid_consent" if code.startswith("invalid_consent") else code
    return REASONS.get(key, message or code)


def _why(rejection: Rejection) -> str:
    """Why the import refuses a row or a value."""
    return _reason(rejection.reason, rejection.message)


# --- upload ---------------------------------------------------------------------------------


def _upload_page(
    request: Request, error: str | None = None, detail: str | None = None, status: int = 200
) -> HTMLResponse:
    context = {"error": error, "detail": detail, "mb": MAX_UPLOAD_BYTES // 1_000_000}
    context |= {"accept": ACCEPT, "formats": _FORMATS}
    return render(request, "contacts/templates/import_upload.html", context, status)


@router.get("/import")
def upload_form(request: Request, _page: Importer) -> HTMLResponse:
    """The upload form."""
    return _upload_page(request)


@router.post("/import", dependencies=[Depends(declared_size)])
def upload(
    request: Request, page: Importer, file: Annotated[UploadFile | None, File()] = None
) -> Response:
    """Keep the file in a private folder, then show its mapping and preview."""
    if file is None or not file.filename:
        return _upload_page(request, "Choose a file to import.", status=400)
    try:
        stored = jobs.store_upload(
            _root(request), page.user.id, file.filename, file.file, MAX_UPLOAD_BYTES
        )
    except PayloadTooLargeError:
        return _upload_page(request, TOO_LARGE, status=413)
    except ImportFileError as refused:
        return _upload_page(request, "This file cannot be imported:", refused.message, 400)
    return RedirectResponse(f"/import/{stored.id}", status_code=303)


# --- mapping and preview -------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """What the mapping form says: a target per column (none: automatic), country, overwrite."""

    targets: dict[int, str]
    region: str
    update: bool = False


@dataclass(frozen=True)
class Resolved:
    """A choice checked against the file: the `--map` items, or why they cannot be used."""

    selected: list[str]
    mapping: tuple[str, ...] = ()
    error: tuple[str, dict[str, str]] | None = None


async def _choice(request: Request, page: SessionCaller) -> Choice:
    form = await request.form()
    targets = {}
    for name, value in form.multi_items():
        found = _COLUMN_FIELD.fullmatch(name)
        if found is not None and isinstance(value, str):
            targets[int(found.group(1))] = value
    region = form.get("region")
    update = page.caller.role is Role.ADMIN and form.get("update") == "1"
    chosen = region.strip().upper() if isinstance(region, str) else ""
    return Choice(targets, chosen or settings_of(request).default_region, update)


def _resolve(upload: jobs.Upload, choice: Choice) -> Resolved:
    """The chosen targets as `--map` items, checked as the import checks them."""
    auto = [plan.describe() for plan in plan_columns(upload.headers)]
    selected = [choice.targets.get(i, target) for i, target in enumerate(auto)]
    try:
        check_region(choice.region)
    except InvalidInputError:
        return Resolved(selected, error=(_BAD_REGION, {"code": choice.region}))
    doubled = jobs.doubled(selected)
    if doubled:
        return Resolved(selected, error=(_DOUBLED, {"field": FIELD_LABELS[doubled[0]]}))
    mapping = jobs.overrides(upload.headers, selected) if choice.targets else ()
    try:
        plan_columns(upload.headers, mapping)
    except InvalidInputError as refused:
        return Resolved(selected, error=(refused.message, {}))
    return Resolved(selected, mapping)


def _mapping_context(upload: jobs.Upload, choice: Choice, page: SessionCaller) -> dict[str, Any]:
    resolved = _resolve(upload, choice)
    auto = plan_columns(upload.headers)
    found = None
    if resolved.error is None:
        found = jobs.preview(upload.file, resolved.mapping, choice.region, utcnow().date())
    return {
        "title": "Import contacts",
        "upload": upload,
        # The automatic plan names the attribute keys offered, whatever is chosen.
        "auto": auto,
        "columns": list(zip(auto, resolved.selected, strict=True)),
        "choices": jobs.choices,
        "preview": found,
        "error": resolved.error,
        "labels": FIELD_LABELS,
        "why": _why,
        "choice": choice,
        "may_update": page.caller.role is Role.ADMIN,
        "state": jobs.read_state(upload.folder),
        "size_kb": (upload.file.stat().st_size + 1023) // 1024,
    }


@router.get("/import/{upload_id}")
def mapping_page(request: Request, upload_id: str, page: Importer) -> Response:
    """The proposed mapping and the preview of the first rows."""
    upload = _upload(request, upload_id, page)
    if jobs.read_state(upload.folder).phase == "running":
        return RedirectResponse(f"/import/{upload.id}/status", status_code=303)
    choice = Choice({}, settings_of(request).default_region)
    context = _mapping_context(upload, choice, page)
    return render(request, "contacts/templates/import_mapping.html", context)


@router.post("/import/{upload_id}/mapping")
async def remap(request: Request, upload_id: str, page: Importer) -> Response:
    """The preview again with the mapping as changed (a fragment for htmx, else the page)."""
    upload = await run_in_threadpool(_upload, request, upload_id, page)
    choice = await _choice(request, page)
    context = await run_in_threadpool(_mapping_context, upload, choice, page)
    fragment = request.headers.get("hx-request") == "true"
    name = "import_preview" if fragment else "import_mapping"
    status = 200 if context["error"] is None or fragment else 400
    return render(request, f"contacts/templates/{name}.html", context, status)


@router.post("/import/{upload_id}/run")
async def run(request: Request, upload_id: str, page: Importer) -> Response:
    """Import the file with the chosen mapping, in the background; then its progress."""
    upload = await run_in_threadpool(_upload, request, upload_id, page)
    choice = await _choice(request, page)
    resolved = await run_in_threadpool(_resolve, upload, choice)
    if resolved.error is not None:
        context = await run_in_threadpool(_mapping_context, upload, choice, page)
        return render(request, "contacts/templates/import_mapping.html", context, 400)
    options = ImportOptions(
        mapping=resolved.mapping, default_region=choice.region, update=choice.update
    )
    hooks = getattr(request.app.state, "after_import", ())
    await run_in_threadpool(
        partial(
            jobs.start_import,
            database_of(request),
            upload,
            options=options,
            settings=settings_of(request),
            sink=RejectsWriter,
            hooks=hooks,
        )
    )
    return RedirectResponse(f"/import/{upload.id}/status", status_code=303)


# --- progress and outcome ------------------------------------------------------------------


@router.get("/import/{upload_id}/status")
def status(request: Request, upload_id: str, page: Importer) -> Response:
    """The import's progress (polled by htmx while it runs), then its counts."""
    upload = _upload(request, upload_id, page)
    state = jobs.read_state(upload.folder)
    fragment = request.headers.get("hx-request") == "true"
    if state.phase == "new" and not fragment:
        return RedirectResponse(f"/import/{upload.id}", status_code=303)
    context = {"title": "Import contacts", "upload": upload, "state": state, "reason": _reason}
    name = "import_progress" if fragment else "import_status"
    return render(request, f"contacts/templates/{name}.html", context)


@router.get("/import/{upload_id}/rejected.csv")
def rejected(request: Request, upload_id: str, page: Importer) -> FileResponse:
    """The rejected rows of the last run: row, column, value, reason, message (as the CLI's)."""
    upload = _upload(request, upload_id, page)
    if jobs.read_state(upload.folder).phase != "done" or not upload.rejected.is_file():
        raise NotFoundError(_NO_REJECTS)
    stem = upload.name.split(".")[0] or "import"
    return FileResponse(
        upload.rejected, media_type="text/csv; charset=utf-8", filename=f"{stem}-rejected.csv"
    )
