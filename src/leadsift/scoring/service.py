"""Predictive scores in use: the active model scores everyone or a few contacts, and explains."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from leadsift.criteria import FieldSpec
from leadsift.errors import InvalidInputError, NotFoundError
from leadsift.qualification import promotion
from leadsift.qualification.playbook_schema import ValuePolicy
from leadsift.scoring import feature_repository, repository
from leadsift.scoring.feature_repository import FeatureFrame
from leadsift.scoring.features import FeatureSource, priorities, source_of
from leadsift.scoring.models import StoredModel
from leadsift.scoring.predictor import (
    ModelFeatures,
    ModelFileError,
    ModelSchemaError,
    PredictiveModel,
)
from leadsift.scoring.schemas import ModelView, ScoreRun
from leadsift.scoring.trees import import_in_background
from leadsift.segments.fields import field_registry

PROBABILITY_BARS = (0.1, 0.3, 0.5, 0.7)
_loaded: dict[tuple[str, int, str], PredictiveModel] = {}
# The active model's feature sources, resolved once per process and model (events score one
# contact at a time; resolving the workspace's fields each time cost milliseconds).
_sources: dict[tuple[str, int, str], tuple[FeatureSource, ...]] = {}
_loaded_lock = threading.Lock()


def _cache_key(session: Session, model_id: int, created_at: datetime) -> tuple[str, int, str]:
    return (str(session.get_bind().engine.url), model_id, created_at.isoformat())


def load(session: Session, stored: StoredModel) -> PredictiveModel:
    """The model of a stored row (cached), refused with a message when its document is damaged."""
    key = _cache_key(session, stored.id, stored.created_at)
    with _loaded_lock:
        found = _loaded.get(key)
    if found is not None:
        return found
    try:
        document = json.loads(stored.document)
    except ValueError:
        raise ModelFileError(
            f"model {stored.id} is damaged: its document is not valid JSON; train a new one"
        ) from None
    try:
        model = PredictiveModel.from_document(document)
    except ModelFileError as error:
        raise ModelFileError(f"model {stored.id}: {error.message}") from None
    with _loaded_lock:
        _loaded[key] = model
    return model


def _active_ready(
    session: Session,
) -> tuple[int, PredictiveModel, tuple[FeatureSource, ...]] | None:
    """The active model with its sources, from the caches when this process has seen it."""
    found = repository.active_model_key(session)
    if found is None:
        return None
    key = _cache_key(session, *found)
    with _loaded_lock:
        model, sources = _loaded.get(key), _sources.get(key)
    if model is None or sources is None:
        stored = get(session, found[0])
        model = load(session, stored)
        sources = tuple(sources_for(session, model, f"model {stored.id}"))
        with _loaded_lock:
            _sources[key] = sources
    return found[0], model, sources


def sources_for(session: Session, model: ModelFeatures, what: str) -> list[FeatureSource]:
    """Where each of the model's features is read in this workspace; refused when one is gone."""
    fields: dict[str, FieldSpec] = dict(field_registry(session).fields)
    sources: list[FeatureSource] = []
    missing: list[str] = []
    for name in model.feature_names:
        source = source_of(name, fields)
        if source is None:
            missing.append(name)
        else:
            sources.append(source)
    if missing:
        raise ModelSchemaError(
            f"{what} was trained on another schema: "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not a field here; "
            "train a new model"
        )
    model.check_schema({s.name: s.kind for s in sources})
    return sources


def value_policy(session: Session) -> ValuePolicy:
    """The active playbook's deal value and action costs (defaults without a playbook)."""
    found = repository.active_playbook_value(session)
    return ValuePolicy() if found is None else ValuePolicy.model_validate(found)


def _predict(
    session: Session,
    model: PredictiveModel,
    sources: Sequence[FeatureSource],
    now: datetime,
    contact_ids: Sequence[int] | None,
) -> tuple[FeatureFrame, np.ndarray, np.ndarray]:
    """Features, probabilities and priorities of every contact (or CONTACT_IDS)."""
    frame = feature_repository.feature_frame(session, sources, now, contact_ids=contact_ids)
    probabilities = model.predict(frame.columns) if len(frame.ids) else np.zeros(0)
    return frame, probabilities, priorities(probabilities, frame.stages, value_policy(session))


def active(session: Session) -> StoredModel:
    """The active model, or a message saying how to get one."""
    stored = repository.active_model(session)
    if stored is None:
        raise NotFoundError(
            "no active model: train one with `leadsift model train` (or activate one with "
            "`leadsift model activate ID`)"
        )
    return stored


def score_everyone(session: Session, now: datetime) -> ScoreRun:
    """Write every contact's probability and priority under the active model."""
    started = time.perf_counter()
    stored = active(session)
    features = _features(session, stored)
    sources = sources_for(session, features, f"model {stored.id}")
    kept = {e.name: e.categories for e in features.encodings if e.kind == "category"}
    frame = feature_repository.feature_frame(session, sources, now, categories=kept)
    model = load(session, stored)  # LightGBM was imported meanwhile (see `_features`)
    probabilities = model.predict(frame.columns) if len(frame.ids) else np.zeros(0)
    ranks = np.asarray(priorities(probabilities, frame.stages, value_policy(session)), float)
    repository.replace_predictions(
        session,
        stored.id,
        now,
        contact_ids=frame.ids,
        probabilities=probabilities,
        priorities=ranks,
    )
    contacts = len(frame.ids)
    return ScoreRun(
        model_id=stored.id,
        contacts=contacts,
        mean_probability=float(probabilities.mean()) if contacts else None,
        above={f"{bar:g}": int((probabilities >= bar).sum()) for bar in PROBABILITY_BARS},
        seconds=round(time.perf_counter() - started, 3),
    )


def _features(session: Session, stored: StoredModel) -> ModelFeatures:
    """The stored model's features, read before the model itself when it is not loaded yet:
    LightGBM is then imported in a thread while the features are read."""
    with _loaded_lock:
        found = _loaded.get(_cache_key(session, stored.id, stored.created_at))
    if found is not None:
        return found
    try:
        features = ModelFeatures.of_document(json.loads(stored.document))
    except (KeyError, TypeError, ValueError, IndexError):
        return load(session, stored)  # damaged: loading says how, with its own message
    if stored.kind == "lightgbm":
        import_in_background()
    return features


def score_contacts(session: Session, contact_ids: Collection[int], now: datetime) -> int:
    """Rescore CONTACT_IDS with the active model (nothing without one); how many were scored."""
    ready = _active_ready(session) if contact_ids else None
    if ready is None:
        return 0
    model_id, model, sources = ready
    frame, probabilities, priorities = _predict(session, model, sources, now, sorted(contact_ids))
    rows = [
        {
            "contact_id": contact_id,
            "model_id": model_id,
            "probability": probability,
            "priority": priority,
            "predicted_at": now,
        }
        for contact_id, probability, priority in zip(
            frame.ids.tolist(), probabilities.tolist(), priorities.tolist(), strict=True
        )
    ]
    repository.upsert_predictions(session, rows)
    return len(rows)


def after_events(session: Session, contact_ids: set[int], now: datetime) -> None:
    """What follows newly recorded events: interest and stages, then the predictions."""
    promotion.after_events(session, contact_ids, now)
    score_contacts(session, contact_ids, now)


def explain(
    session: Session, contact_id: int, now: datetime, top: int = 5
) -> dict[str, Any] | None:
    """The active model's probability for one contact and the features that made it."""
    ready = _active_ready(session)
    if ready is None:
        return None
    model_id, model, sources = ready
    frame = feature_repository.feature_frame(session, sources, now, contact_ids=[contact_id])
    if not len(frame.ids):
        return None
    row = {name: _first(values) for name, values in frame.columns.items()}
    explained = model.explain(row, top=len(model.feature_names))
    shown = explained.contributions[:top]
    others = sum(c.contribution for c in explained.contributions[top:])
    return {
        "model_id": model_id,
        "kind": model.kind,
        "probability": explained.probability,
        "priority": float(
            priorities([explained.probability], frame.stages, value_policy(session))[0]
        ),
        "raw_output": explained.raw_output,
        "base": explained.base,
        "contributions": [
            {"feature": c.feature, "value": _plain(c.value), "contribution": c.contribution}
            for c in shown
        ],
        "others": others,
        "note": "contributions are in log-odds: base + contributions + others = raw_output",
    }


def _first(values: Any) -> Any:
    value = values[0]
    return value.item() if isinstance(value, np.generic) else value


def _plain(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(value, float) and math.isnan(value) else value


# The model store.


def _active_id(session: Session) -> int | None:
    found = repository.active_model_key(session)
    return None if found is None else found[0]


def _view(stored: StoredModel, active_id: int | None, *, with_card: bool = False) -> ModelView:
    """A stored model as the commands show it."""
    return ModelView(
        id=stored.id,
        kind=stored.kind,
        label=stored.label,
        rows=stored.rows,
        positives=stored.positives,
        roc_auc=stored.roc_auc,
        created_at=stored.created_at,
        activated_at=stored.activated_at,
        active=stored.id == active_id,
        card=stored.card if with_card else None,
    )


def list_models(session: Session) -> list[ModelView]:
    """Every stored model, newest first."""
    active_id = _active_id(session)
    return [_view(stored, active_id) for stored in repository.list_models(session)]


def show(session: Session, model_id: int) -> ModelView:
    """A stored model with its card."""
    return _view(get(session, model_id), _active_id(session), with_card=True)


def get(session: Session, model_id: int) -> StoredModel:
    """A stored model by id, or a message listing what exists."""
    stored = repository.get_model(session, model_id)
    if stored is None:
        ids = [m.id for m in repository.list_models(session)]
        known = ", ".join(map(str, ids[:10])) if ids else "none yet (train one)"
        raise NotFoundError(f"no model {model_id}; models: {known}")
    return stored


def activate(session: Session, model_id: int, now: datetime) -> ModelView:
    """Make a stored model the active one, once it loads and fits this workspace's fields."""
    stored = get(session, model_id)
    model = load(session, stored)
    sources_for(session, model, f"model {stored.id}")
    repository.activate(session, stored, now)
    return _view(stored, stored.id)


def import_model(session: Session, text: str, source: str, now: datetime) -> ModelView:
    """Store a model exported from a workspace (`model export`), checked like a trained one."""
    try:
        exported = json.loads(text)
    except ValueError:
        raise ModelFileError(f"{source} is not a model file: not valid JSON") from None
    if not isinstance(exported, dict) or not {"card", "document"} <= exported.keys():
        raise ModelFileError(f"{source} is not a model file: `card` and `document` are missing")
    card, document = exported["card"], exported["document"]
    try:
        model = PredictiveModel.from_document(document)
    except ModelFileError as error:
        raise ModelFileError(f"{source}: {error.message}") from None
    if not isinstance(card, dict):
        raise ModelFileError(f"{source}: the card must be a mapping")
    sources_for(session, model, source)  # refused before anything is stored
    stored = store(session, model, {**card, "imported_from": source}, now)
    return _view(stored, _active_id(session))


def store(
    session: Session, model: PredictiveModel, card: dict[str, Any], now: datetime
) -> StoredModel:
    """Keep a model (its document and its card) in the store, not active yet."""
    stored = StoredModel(
        kind=model.kind,
        label=str(card.get("label", "imported"))[:500],
        rows=int(card.get("rows", 0)),
        positives=int(card.get("positives", 0)),
        roc_auc=(card.get("metrics") or {}).get("roc_auc"),
        card=card,
        document=json.dumps(model.to_document(), separators=(",", ":")),
        created_at=now,
        activated_at=None,
    )
    return repository.add_model(session, stored)


def export_model(session: Session, model_id: int) -> dict[str, Any]:
    """A stored model and its card as one JSON document (checked: a damaged one is refused)."""
    stored = get(session, model_id)
    load(session, stored)
    return {"card": stored.card, "document": json.loads(stored.document)}


def check_fraction(value: float | None, order_by: str | None) -> None:
    """--order-by only means something with --holdout-last."""
    if order_by is not None and value is None:
        raise InvalidInputError("--order-by orders the rows for --holdout-last: give both")
