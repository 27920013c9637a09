"""The typed library facade: open a workspace by URL and call the same services as the CLI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from leadsift.agents import service as agents
from leadsift.config import Settings
from leadsift.contacts import lookup
from leadsift.contacts import service as contacts
from leadsift.contacts.schemas import ContactView, ImportOptions, ImportSummary, UndoSummary
from leadsift.db import Database
from leadsift.engagement import service as engagement
from leadsift.engagement.schemas import IngestResult
from leadsift.engagement.service import IngestOptions
from leadsift.kit.clock import utcnow
from leadsift.qualification import promotion
from leadsift.qualification import service as qualification
from leadsift.qualification.schemas import Explanation, QualifySummary, ScoreSummary
from leadsift.scoring import service as scoring
from leadsift.scoring.schemas import ScoreRun, TrainRequest, TrainSummary
from leadsift.segments import service as segments


class Workspace:
    """One leadsift database; each method is one transaction."""

    def __init__(self, url: str | None = None, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.database = Database(url or self.settings.database_url, self.settings).ready()

    def import_contacts(
        self, path: str | Path, options: ImportOptions | None = None
    ) -> ImportSummary:
        """Import a contact file as one batch (a dry run is rolled back)."""
        options = options or ImportOptions()
        with self.database.unit_of_work(dry_run=options.dry_run) as session:
            return contacts.import_contacts(session, Path(path), options, settings=self.settings)

    def undo_import(self, batch_id: int) -> UndoSummary:
        """Undo the latest import batch."""
        with self.database.unit_of_work() as session:
            return contacts.undo_import(session, batch_id)

    def contact(self, ref: str | int) -> ContactView:
        """A contact by id, email, phone or external id."""
        with self.database.unit_of_work() as session:
            return lookup.find_contact(session, str(ref), self.settings.default_region)

    def count_contacts(self, where: str | None = None) -> int:
        """How many contacts the workspace holds, or match a criteria expression."""
        with self.database.unit_of_work() as session:
            return segments.count(session, where)

    def qualify(self, playbook: str | Path, *, dry_run: bool = False) -> QualifySummary:
        """Apply a playbook file: contacts become leads or unqualified, with their reasons."""
        path = Path(playbook)
        text = path.read_text(encoding="utf-8")
        with self.database.unit_of_work(dry_run=dry_run) as session:
            return qualification.qualify(session, text, path.name, dry_run=dry_run)

    def explain(self, ref: str | int) -> Explanation:
        """Why a contact is in its stage: history, last evaluation, interest and prediction."""
        with self.database.unit_of_work() as session:
            found = qualification.explain(session, str(ref), self.settings.default_region)
            predicted = scoring.explain(session, found.contact_id, utcnow())
            return found.model_copy(update={"prediction": predicted})

    def train_model(self, request: TrainRequest | None = None) -> TrainSummary:
        """Learn who converts from the workspace's history; the new model becomes active."""
        from leadsift.scoring.training import train_model  # noqa: PLC0415 — ~2.5 s of imports

        with self.database.unit_of_work() as session:
            return train_model(session, request or TrainRequest(), utcnow())

    def score_model(self) -> ScoreRun:
        """Write every contact's probability and priority with the active model."""
        with self.database.unit_of_work() as session:
            return scoring.score_everyone(session, utcnow())

    def record_events(self, events: Sequence[Mapping[str, Any]]) -> IngestResult:
        """Record events (dicts shaped like the API's), then rescore and move their contacts."""
        options = IngestOptions(
            default_region=self.settings.default_region,
            future_tolerance=timedelta(seconds=self.settings.event_future_tolerance_s),
        )
        with self.database.unit_of_work() as session:
            now = utcnow()
            recorded = engagement.ingest(session, list(events), now=now, options=options)
            agents.after_events(session, recorded.contact_ids, now)
            return recorded.result

    def score(self, playbook: str | Path | None = None) -> ScoreSummary:
        """Rescore everyone now and apply the active playbook's policy (or PLAYBOOK's)."""
        given = None
        if playbook is not None:
            path = Path(playbook)
            given = (path.read_text(encoding="utf-8"), path.name)
        with self.database.unit_of_work() as session:
            summary = promotion.score(session, playbook=given)
            # Those it qualified go to their agents in the same transaction.
            agents.assign_new(session, None, utcnow())
            return summary

    def close(self) -> None:
        """Release connections."""
        self.database.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
