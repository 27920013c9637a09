"""EventIn's checks on a plain dict, by pydantic-core alone: the same result, a third of the cost.

Validating an event as the EventIn model costs a model instance and a Python validator per event;
the same field schemas applied to a TypedDict run entirely in pydantic-core. `validated_fields`
answers EventIn's values when EventIn would accept the event, and None otherwise: the caller then
asks EventIn itself, so every refusal (and every case where the two might differ) is EventIn's.
tests/unit/test_event_fields.py compares both on generated events.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, NotRequired, Required

from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from leadsift.engagement.schemas import EventIn


def _fields_dict() -> Any:
    """A TypedDict with EventIn's fields, each with its type and constraints."""
    fields: dict[str, Any] = {}
    for name, info in EventIn.model_fields.items():
        annotation: Any = info.annotation
        if info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]
        fields[name] = Required[annotation] if info.is_required() else NotRequired[annotation]
    extra = EventIn.model_config.get("extra")
    return with_config(ConfigDict(extra=extra))(TypedDict("EventFields", fields))  # type: ignore[operator]


_FIELDS: Final = TypeAdapter(_fields_dict())


def _names_someone(fields: dict[str, Any]) -> bool:
    """EventIn's own rule: one contact reference at most, or else an anonymous id."""
    get = fields.get
    named = (get("contact_id") is not None) + (get("email") is not None)
    named += (get("phone") is not None) + (get("external_id") is not None)
    return named == 1 or (named == 0 and get("anonymous_id") is not None)


def validated_fields(raw: Any) -> dict[str, Any] | None:
    """RAW's fields as EventIn would hold them (absent ones left out), or None when EventIn
    would refuse RAW (or might: ask it)."""
    try:
        fields: dict[str, Any] = _FIELDS.validate_python(raw)
    except ValidationError:
        return None
    return fields if _names_someone(fields) else None
