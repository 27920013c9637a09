"""Every domain's ORM models, gathered so Alembic sees one metadata."""

from __future__ import annotations

from leadsift.contacts import models as contacts_models
from leadsift.kit.orm import Base
from leadsift.qualification import models as qualification_models

metadata = Base.metadata

__all__ = ["contacts_models", "metadata", "qualification_models"]
