"""The lifecycle stages (DESIGN §2); the transition table arrives with lead generation."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """Where a contact stands in the funnel."""

    CONTACT = "contact"
    LEAD = "lead"
    QUALIFIED = "qualified"
    CUSTOMER = "customer"
    UNQUALIFIED = "unqualified"
    LOST = "lost"


INITIAL_STAGE = Stage.CONTACT
