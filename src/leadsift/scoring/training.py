"""`model train`: read the workspace's history as features and a label, learn, store the model."""

from __future__ import annotations

import importlib
import platform
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from leadsift.criteria import CriteriaError, FieldRegistry, FieldSpec, compile_criteria
from leadsift.criteria.ast import Field
from leadsift.errors import InvalidInputError
from leadsift.qualification.policy import CONVERSION_EVENTS
from leadsift.scoring import feature_repository, repository, service, trees
from leadsift.scoring.dataset import FeatureColumn, TrainingData, TrainingOptions
from leadsift.scoring.features import FeatureSource, candidate_sources
from leadsift.scoring.imports import without
from leadsift.scoring.models import StoredModel
from leadsift.scoring.schemas import ExcludedField, TrainRequest, TrainSummary
from leadsift.scoring.screening import Exclusion
from leadsift.segments.fields import field_registry

if TYPE_CHECKING:
    from leadsift.scoring.learning import TrainingOutcome

DEFAULT_LABEL = "became a customer (stage history), against lost or never converted"


@dataclass(frozen=True)
class Label:
    """What the model learns to predict: a SQL value per contact and how to read it."""

    description: str
    value: ColumnElement[Any]
    positive: str | None  # compare the value's text with it; None: the value is true/false
    fields: frozenset[str]  # the fields it reads (never features)
    outcome_events: frozenset[str]  # the events that are the outcome itself


def label_of(request: TrainRequest, registry: FieldRegistry, now: datetime) -> Label:
    """The label asked for: a field with --positive, a criteria expression, or the default."""
    text = (request.label or "").strip()
    if not text:
        if request.positive is not None:
            raise InvalidInputError("--positive needs --label FIELD (the field it is a value of)")
        value = repository.became_customer()
        return Label(DEFAULT_LABEL, value, None, frozenset(), frozenset(CONVERSION_EVENTS))
    if text.isidentifier() or request.positive is not None:
        spec = registry.resolve(Field(text))  # unknown names get a did-you-mean
        return _field_label(spec, text, request.positive)
    try:
        criteria = compile_criteria(text, registry)
    except CriteriaError as error:
        raise InvalidInputError(f"--label: {error.message}") from None
    value = repository.matches(criteria, now)
    return Label(text, value, None, frozenset(criteria.field_names()), frozenset())


def _field_label(spec: FieldSpec, name: str, positive: str | None) -> Label:
    if spec.kind in ("aggregate", "property", "age"):
        raise InvalidInputError(f"--label {spec.name}: give a stored field or an expression")
    if positive is None and spec.value_type != "boolean":
        raise InvalidInputError(
            f"--label {name} is a {spec.value_type} field: say which value is the positive "
            "outcome with --positive VALUE (or give an expression such as "
            f"'{name} = \"yes\"')"
        )
    shown = f"{name} = {positive}" if positive is not None else f"{name} is true"
    value = repository.field_value(spec)
    return Label(shown, value, positive, frozenset({spec.name, spec.key}), frozenset())


def labels_from(values: list[Any], label: Label, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows that have a label, 1/0 per such row); refuses a positive value that never occurs."""
    if label.positive is None:
        known = np.asarray([v is not None for v in values], dtype=bool)
        return known, np.asarray([bool(v) for v in values if v is not None], dtype=np.int8)
    wanted = label.positive.strip().casefold()
    if any(isinstance(v, bool) for v in values):  # a yes/no column imported as a boolean
        wanted = "true" if wanted in _TRUE_WORDS else "false" if wanted in _FALSE_WORDS else wanted
    texts = [None if v is None else _text(v) for v in values]
    known = np.asarray([t is not None for t in texts], dtype=bool)
    positives = np.asarray([t == wanted for t in texts if t is not None], dtype=np.int8)
    if not positives.any():
        found = sorted({t for t in texts if t is not None})
        shown = ", ".join(found[:10]) + (" …" if len(found) > 10 else "") or "none (always empty)"
        raise InvalidInputError(
            f"--positive {label.positive}: no contact has {name} = {label.positive}; "
            f"values found: {shown}"
        )
    return known, positives


_TRUE_WORDS = frozenset({"true", "yes", "y", "1", "oui", "vrai"})
_FALSE_WORDS = frozenset({"false", "no", "n", "0", "non", "faux"})


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().casefold()


def _chosen_sources(
    request: TrainRequest, registry: FieldRegistry, label: Label, event_types: list[str]
) -> tuple[list[FeatureSource], list[Exclusion]]:
    specs = list({spec.name: spec for spec in registry.fields.values()}.values())
    short = {s.name: s.key for s in specs if registry.fields.get(s.key) is s}
    sources, excluded = candidate_sources(
        specs,
        event_types,
        outcome_fields=label.fields,
        outcome_events=label.outcome_events,
        short_names=short,
    )
    known = {s.name for s in sources} | {e.field for e in excluded}
    for name in [*request.exclude, *request.include]:
        if name not in known:
            registry.resolve(Field(name))  # an unknown name gets a did-you-mean
            raise InvalidInputError(f"{name} is not a feature a model can learn from")
    dropped = set(request.exclude)
    excluded += [Exclusion(name, "excluded on request (--exclude)") for name in request.exclude]
    return [s for s in sources if s.name not in dropped], excluded


def _uninformative(values: Any) -> str | None:
    """Why a column cannot teach anything (empty, or one value for everyone), else None."""
    if isinstance(values, np.ndarray):
        present = values[~np.isnan(values)]
        distinct = 0 if present.size == 0 else 1 if present.min() == present.max() else 2
    else:
        distinct = _distinct_up_to_two(values)
    if distinct == 0:
        return "empty for every contact: nothing to learn"
    return "the same for every contact: nothing to learn" if distinct == 1 else None


def _distinct_up_to_two(values: Sequence[Any]) -> int:
    """0, 1 or 2 (two or more) distinct values besides None; stops at the second one."""
    first: Any = None
    for value in values:
        if value is None:
            continue
        if first is None:
            first = value
        elif value != first:
            return 2
    return 0 if first is None else 1


def _import_learning() -> None:
    """LightGBM (without its scikit-learn layer, see `trees`), then scikit-learn and the
    training code; a failure is left for the importer that needs the module to report."""
    try:
        trees.import_lightgbm()
        # scikit-learn imports pandas when installed (a test dependency here) for DataFrame
        # input and output, which training never uses (numpy arrays in and out): 0.2–0.3 s.
        with without("pandas"):
            importlib.import_module("leadsift.scoring.learning")
    except ImportError:
        return


def train_model(session: Session, request: TrainRequest, now: datetime) -> TrainSummary:
    """Learn who converts from the workspace's history, evaluate it honestly, store it."""
    started = time.perf_counter()
    # The learning libraries' import (~1.3 s of CPU, scikit-learn's mostly) runs in a thread
    # while the database reads the training rows, which it does without the GIL.
    importing = threading.Thread(target=_import_learning, name="import-learning", daemon=True)
    importing.start()
    registry = field_registry(session)
    label = label_of(request, registry, now)
    sources, excluded = _chosen_sources(request, registry, label, repository.event_types(session))
    extras: dict[str, ColumnElement[Any]] = {"label": label.value}
    if request.order_by is not None:
        extras["order"] = repository.field_value(registry.resolve(Field(request.order_by)))
    # Only contacts with a label are read (a field label leaves the others out in SQL).
    where = label.value.is_not(None) if label.positive is not None else None
    frame = feature_repository.feature_frame(session, sources, now, where=where, extras=extras)
    known, labels = labels_from(frame.extras["label"], label, request.label or "label")
    order = _row_order(frame.extras.get("order"), known)
    columns: list[FeatureColumn] = []
    for source in sources:
        values = frame.columns[source.name]
        why = _uninformative(values[known] if isinstance(values, np.ndarray) else values)
        if why is not None:
            excluded.append(Exclusion(source.name, why))
            continue
        columns.append(FeatureColumn(source.name, source.kind, _rows(values, known, order)))
    _check_history(label, labels, columns)
    data = TrainingData(columns, [bool(v) for v in labels[order]])
    options = TrainingOptions(
        cv_folds=request.cv,
        holdout_last=request.holdout_last,
        include=frozenset(request.include),
        reference_time=now,
    )
    importing.join()
    from leadsift.scoring.learning import train  # noqa: PLC0415 — imported by `importing`

    outcome = train(data, options)
    stored = _store(
        session,
        request=request,
        label=label,
        outcome=outcome,
        excluded=excluded,
        now=now,
        seconds=time.perf_counter() - started,
    )
    if request.activate:
        repository.activate(session, stored, now)
    return _summary(stored, outcome, excluded, request.activate)


MIN_POSITIVES = 50


def _check_history(label: Label, labels: np.ndarray, columns: list[FeatureColumn]) -> None:
    """Refuse, with what to do, a history a model cannot learn from."""
    positives = int(labels.sum())
    if len(labels) and positives in (0, len(labels)):
        outcome = "positive" if positives else "negative"
        raise InvalidInputError(
            f"label {label.description!r}: all {len(labels):,} contacts are {outcome} — one class "
            "only; a model needs contacts of both outcomes"
        )
    if positives < MIN_POSITIVES:
        raise InvalidInputError(
            f"label {label.description!r}: {positives} positive contacts, at least "
            f"{MIN_POSITIVES} are needed to learn from history; until then the rule scores "
            "(fit, interest) stay in charge"
        )
    if not columns:
        raise InvalidInputError(
            "no feature left to learn from: every field is excluded (see --exclude) or the "
            "same for every contact"
        )


def _row_order(order_values: list[Any] | None, known: np.ndarray) -> np.ndarray:
    """Rows with a label, in contact id order or by --order-by's values (unknown last)."""
    rows = np.flatnonzero(known)
    if order_values is None:
        return np.arange(len(rows))
    keys = [order_values[i] for i in rows]
    return np.asarray(
        sorted(
            range(len(rows)), key=lambda i: (keys[i] is None, keys[i] if keys[i] is not None else 0)
        )
    )


def _rows(values: Any, known: np.ndarray, order: np.ndarray) -> Any:
    if isinstance(values, np.ndarray):
        return values[known][order]
    return list(map(values.__getitem__, np.flatnonzero(known)[order].tolist()))


def _store(
    session: Session,
    *,
    request: TrainRequest,
    label: Label,
    outcome: TrainingOutcome,
    excluded: list[Exclusion],
    now: datetime,
    seconds: float,
) -> StoredModel:
    model = outcome.model
    card = {
        "label": label.description,
        "positive": label.positive,
        "rows": outcome.rows,
        "positives": outcome.positives,
        "features": [{"name": n, "kind": model.feature_kinds[n]} for n in model.feature_names],
        "excluded": [
            {"field": e.field, "reason": e.reason} for e in [*excluded, *outcome.excluded]
        ],
        "kind": model.kind,
        "calibration": outcome.calibration,
        "metrics": outcome.metrics,
        "holdout": outcome.holdout,
        "candidates": outcome.candidates,
        "warnings": outcome.warnings,
        "options": request.model_dump(mode="json"),
        "trained_at": now.isoformat(),
        "training_seconds": round(seconds, 3),
        "versions": _versions(),
    }
    return service.store(session, model, card, now)


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("leadsift", "lightgbm", "scikit-learn", "numpy"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "unknown"
    return found


def _summary(
    stored: StoredModel, outcome: TrainingOutcome, excluded: list[Exclusion], activated: bool
) -> TrainSummary:
    return TrainSummary(
        model_id=stored.id,
        kind=stored.kind,
        label=stored.label,
        rows=outcome.rows,
        positives=outcome.positives,
        features=list(outcome.features),
        excluded=[
            ExcludedField(field=e.field, reason=e.reason) for e in [*excluded, *outcome.excluded]
        ],
        metrics=outcome.metrics,
        holdout=outcome.holdout,
        candidates=outcome.candidates,
        calibration=outcome.calibration,
        warnings=outcome.warnings,
        activated=activated,
        seconds=round(float(stored.card["training_seconds"]), 3),
    )
