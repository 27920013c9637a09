"""What each kind of job runs: the service functions of its command, with the hooks `cli.py`
gives that command, in the session the runner hands it (services flush, the runner commits)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, TypeVar

from pydantic import BaseModel
from sqlalchemy.orm import Session

from leadsift.agents import service as agents
from leadsift.config import Settings
from leadsift.contacts import service as contacts
from leadsift.contacts.cli import RejectsWriter
from leadsift.contacts.schemas import ImportOptions
from leadsift.engagement.cli import RejectsFile
from leadsift.engagement.importing import EventImportOptions, import_events
from leadsift.errors import NotFoundError
from leadsift.jobs.schemas import JobKind
from leadsift.jobs.service import REJECTS_NAME
from leadsift.kit.cli import AtomicCsv
from leadsift.kit.clock import utcnow
from leadsift.qualification import promotion
from leadsift.qualification import service as qualification
from leadsift.scoring import service as scoring
from leadsift.scoring.schemas import TrainRequest

Report = TypeVar("Report", bound=AtomicCsv)


@dataclass
class Run:
    """What a running job's task shares with the runner: settings, progress, reports, notes."""

    settings: Settings
    folder: Path | None
    progress: tuple[int, int] | None = None
    reports: list[AtomicCsv] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def report_progress(self, done: int, total: int) -> None:
        """The import's progress callback."""
        self.progress = (done, total)

    def rejects(self, make: Callable[[Path], Report]) -> Report | None:
        """The rejected rows report, in the job's folder (moved into place if the job commits)."""
        if self.folder is None:
            return None
        report = make(self.folder / REJECTS_NAME)
        self.reports.append(report)
        return report

    def after_moves(self, session: Session) -> None:
        """What `cli.py` runs after stages or scores moved: assignment and the call order."""
        problem = agents.assign_new(session, None, utcnow())
        if isinstance(problem, str):
            self.warnings.append(problem)


def _upload(parameters: dict[str, Any]) -> Path:
    path = Path(parameters["file"]["path"])
    if not path.is_file():
        raise NotFoundError(
            f"the uploaded file {parameters['file']['name']!r} is no longer on this server "
            "(uploads stay on the host that received them): upload it again",
            code="upload_missing",
        )
    return path


def _import_contacts(session: Session, p: dict[str, Any], run: Run) -> BaseModel:
    options = ImportOptions(
        mapping=tuple(p["map"]),
        default_region=p["default_region"],
        generate_ids=p["generate_ids"],
        update=p["update"],
        dry_run=p["dry_run"],
        encoding=p["encoding"],
    )
    summary = contacts.import_contacts(
        session,
        _upload(p),
        options,
        settings=run.settings,
        progress=run.report_progress,
        on_rejections=run.rejects(RejectsWriter),
    )
    if summary.batch_id is not None and not options.dry_run:
        # `import contacts`'s hook in cli.py: the active model scores what the import touched.
        touched = contacts.contacts_of_batch(session, summary.batch_id)
        scoring.score_contacts(session, touched, utcnow())
    return summary


def _import_events(session: Session, p: dict[str, Any], run: Run) -> BaseModel:
    options = EventImportOptions(
        default_region=p["default_region"],
        source=p["source"],
        campaign=p["campaign"],
        encoding=p["encoding"],
        dry_run=p["dry_run"],
        future_tolerance=timedelta(seconds=run.settings.event_future_tolerance_s),
    )
    return import_events(
        session,
        _upload(p),
        options,
        after=agents.after_events,  # the hook cli.py gives `import events`
        progress=run.report_progress,
        on_rejections=run.rejects(RejectsFile),
    )


def _playbook(p: dict[str, Any]) -> tuple[str, str] | None:
    given = p.get("playbook")
    return (given["text"], given["source"]) if given else None


def _score(session: Session, p: dict[str, Any], run: Run) -> BaseModel:
    summary = promotion.score(session, playbook=_playbook(p), dry_run=p["dry_run"])
    if not p["dry_run"]:
        run.after_moves(session)
    return summary


def _qualify(session: Session, p: dict[str, Any], run: Run) -> BaseModel:
    text, source = p["playbook"]["text"], p["playbook"]["source"]
    summary = qualification.qualify(session, text, source, dry_run=p["dry_run"])
    if not p["dry_run"]:
        run.after_moves(session)
    return summary


def _model_score(session: Session, p: dict[str, Any], run: Run) -> BaseModel:
    summary = scoring.score_everyone(session, utcnow())
    run.after_moves(session)
    return summary


def _model_train(session: Session, p: dict[str, Any], run: Run) -> BaseModel:
    # scikit-learn and LightGBM (~2.5 s to import): only training pays for them.
    from leadsift.scoring.training import train_model  # noqa: PLC0415

    return train_model(session, TrainRequest.model_validate(p), utcnow())


TASKS: Final[dict[JobKind, Callable[[Session, dict[str, Any], Run], BaseModel]]] = {
    JobKind.IMPORT_CONTACTS: _import_contacts,
    JobKind.IMPORT_EVENTS: _import_events,
    JobKind.SCORE: _score,
    JobKind.QUALIFY: _qualify,
    JobKind.MODEL_SCORE: _model_score,
    JobKind.MODEL_TRAIN: _model_train,
}
