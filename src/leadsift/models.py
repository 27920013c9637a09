"""Every domain's ORM models, gathered so Alembic sees one metadata."""

from __future__ import annotations

from leadsift.access import models as access_models
from leadsift.agents import models as agents_models
from leadsift.analytics import models as analytics_models
from leadsift.contacts import models as contacts_models
from leadsift.engagement import models as engagement_models
from leadsift.interest import models as interest_models
from leadsift.jobs import models as jobs_models
from leadsift.kit.orm import Base
from leadsift.outreach import models as outreach_models
from leadsift.qualification import models as qualification_models
from leadsift.scoring import models as scoring_models
from leadsift.segments import models as segments_models
from leadsift.webhooks import models as webhooks_models

metadata = Base.metadata

__all__ = [
    "access_models",
    "agents_models",
    "analytics_models",
    "contacts_models",
    "engagement_models",
    "interest_models",
    "jobs_models",
    "metadata",
    "outreach_models",
    "qualification_models",
    "scoring_models",
    "segments_models",
    "webhooks_models",
]
