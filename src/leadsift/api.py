"""The REST API and the public tracking endpoints: `create_app(settings)` builds the app.

Nothing is global: the app owns its database (engine and migrations checked at start-up) and
its event writer thread, both made when it starts and released when it stops.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, Final

from fastapi import APIRouter, Depends, FastAPI
from pydantic import TypeAdapter

from leadsift import __version__
from leadsift.access.endpoints import KeyCache, public
from leadsift.agents import endpoints as agents_endpoints
from leadsift.agents import people_endpoints
from leadsift.agents import views as agents_views
from leadsift.agents.service import after_events, assign_new
from leadsift.analytics import cost_endpoints
from leadsift.analytics import endpoints as reports_endpoints
from leadsift.analytics import views as analytics_views
from leadsift.config import Settings
from leadsift.contacts import endpoints as contacts_endpoints
from leadsift.contacts import import_views
from leadsift.contacts.import_views import MAX_UPLOAD_BYTES
from leadsift.db import Database, WalCheckpointer
from leadsift.engagement import endpoints as events_endpoints
from leadsift.engagement import tracking
from leadsift.engagement.service import IngestOptions
from leadsift.engagement.writer import EventWriter
from leadsift.jobs import endpoints as jobs_endpoints
from leadsift.kit.web import BodyLimit, install_error_handlers
from leadsift.outreach import campaign_endpoints, consent_endpoints, promo_endpoints
from leadsift.outreach import endpoints as outreach_endpoints
from leadsift.outreach import views as outreach_views
from leadsift.pages import contact as contact_page
from leadsift.pages import contacts as contacts_page
from leadsift.pages import segments as segments_page
from leadsift.qualification import endpoints as qualification_endpoints
from leadsift.qualification import views as qualification_views
from leadsift.scoring import endpoints as scoring_endpoints
from leadsift.scoring.service import score_contacts
from leadsift.segments import contact_endpoints as segment_contacts_endpoints
from leadsift.segments import endpoints as segments_endpoints
from leadsift.web.pages import install_pages

# The web pages, by domain. The contacts list comes before the contact page: its /contacts/…
# paths are not contact ids.
PAGE_ROUTERS: Final[tuple[APIRouter, ...]] = (
    agents_views.router,
    qualification_views.router,
    analytics_views.router,
    contacts_page.router,
    segments_page.router,
    contact_page.router,
    import_views.router,
    outreach_views.router,
)
# The REST API (/api/v1) and the public tracking and unsubscribe routes.
API_ROUTERS: Final[tuple[APIRouter, ...]] = (
    events_endpoints.router,
    contacts_endpoints.router,
    tracking.router,
    outreach_endpoints.unsubscribe_links,
    outreach_endpoints.api,
    agents_endpoints.router,
    jobs_endpoints.router,
    segments_endpoints.router,
    segment_contacts_endpoints.router,
    people_endpoints.router,
    consent_endpoints.router,
    campaign_endpoints.router,
    promo_endpoints.router,
    qualification_endpoints.router,
    scoring_endpoints.router,
    reports_endpoints.router,
    cost_endpoints.router,
)


def _body_limits(settings: Settings) -> list[tuple[str, int]]:
    """The largest request body per path prefix (the longest prefix decides)."""
    return [
        ("/api/", settings.api_max_body_bytes),
        # Files uploaded to be imported by the worker.
        ("/api/v1/imports/", settings.import_max_upload_bytes + 65_536),
        ("/t/", settings.tracking_max_body_bytes),
        ("/u/", settings.tracking_max_body_bytes),
        # Uploads through the import page (the form's other fields fit in the margin).
        ("/import", MAX_UPLOAD_BYTES + 65_536),
        # Other pages send small forms.
        ("/", settings.api_max_body_bytes),
    ]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app for one workspace database (settings.database_url)."""
    settings = (settings or Settings()).model_copy(update={"sqlite_background_checkpoints": True})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The event writer and the event loop share one interpreter lock: handing it over
        # every millisecond (not every 5) keeps answers flowing while the writer works.
        sys.setswitchinterval(0.001)
        database = Database(settings.database_url, settings).ready()
        checkpointer = WalCheckpointer(database)
        options = IngestOptions(
            default_region=settings.default_region,
            future_tolerance=timedelta(seconds=settings.event_future_tolerance_s),
        )
        writer = EventWriter(database, after_events, options)
        app.state.database = database
        app.state.event_writer = writer
        writer.start()
        checkpointer.start()
        # Everything made at start-up (models, routes, compiled statements) lives as long as
        # the app: kept out of the collector's full passes, which otherwise stall an answer
        # for tens of milliseconds now and then.
        gc.collect()
        gc.freeze()
        # Fewer, larger young collections: a request makes thousands of short-lived objects.
        gc.set_threshold(50_000, 20, 100)
        try:
            yield
        finally:
            writer.stop()
            checkpointer.stop()
            database.dispose()

    app = FastAPI(
        title="leadsift",
        version=__version__,
        summary="Lead qualification: events in, scores and stages out.",
        lifespan=lifespan,
        # The interactive docs pages load their scripts from a CDN: off (no network at run
        # time). The OpenAPI document is served below, under a declared policy like every route.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.api_keys = KeyCache()
    app.state.after_events = after_events
    # What follows stage moves made from the web pages (playbook apply), as after `qualify`.
    app.state.after_moves = assign_new
    # What follows an import made from the web pages, as `leadsift import contacts` does.
    app.state.after_import = (score_contacts,)
    app.state.rate_limiter = tracking.rate_limiter(settings)
    install_error_handlers(app)
    install_pages(app)
    for router in (*PAGE_ROUTERS, *API_ROUTERS):
        app.include_router(router)
    app.add_middleware(BodyLimit, limits=_body_limits(settings))
    _document_models(app, events_endpoints.DOCUMENTED_MODELS)

    @app.get(
        "/openapi.json",
        include_in_schema=False,
        dependencies=[Depends(public("the API's own description, for integrators"))],
    )
    def openapi_document() -> dict[str, Any]:
        return app.openapi()

    return app


def _document_models(app: FastAPI, models: tuple[type[Any], ...]) -> None:
    """Add models that hand-written request bodies refer to into the OpenAPI components."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
