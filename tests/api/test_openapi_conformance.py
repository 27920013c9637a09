"""The API keeps the promises of its own OpenAPI document (schemathesis, in-process).

Every operation of `/openapi.json` is called with generated requests, valid and invalid, under
an admin key, and every answer goes through schemathesis's default checks: no server error, a
documented status, content type, headers and body, an undocumented method refused with 405 and
`Allow`, invalid data refused with a 4xx, valid data not refused. The app runs in-process with
its lifespan (schemathesis starts it on the first request and its pytest plugin stops it when
each test ends), on one migrated database for the module. Hypothesis is derandomised: CI sends
the same requests on every run (until the document or this test changes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import negative_data_rejection
from starlette.types import Receive, Send
from starlette.types import Scope as AsgiScope

from leadsift.access.schemas import Scope
from leadsift.access.service import create_key
from leadsift.api import create_app
from leadsift.config import Settings
from leadsift.db import Database
from tests.conftest import BACKENDS, truncate_all

# Where a default check does not fit an operation, and why; every other check runs everywhere.
_PLAYBOOK = (
    "a playbook is YAML text that the playbook checker reads (structure, criteria, fields of "
    "the workspace): a schema-valid string that is no playbook is refused with 422"
)
_MULTIPART = (
    "a multipart form carries text only: a number or boolean where the document says string "
    "arrives as the text '1' or 'true', a valid string, so type mutations cannot be refused"
)
_PERIOD = (
    "`from` must be before `to` (ROI's default start is 2000-01-01) and days run from "
    "1900-01-01 to 9000-12-31: rules no JSON Schema states, refused with 422"
)
_CONTACT = (
    "email and phone validity (email-validator, libphonenumber), dates and at least one "
    "identifier are rules no JSON Schema states, refused with 422"
)
_CRITERIA = (
    "`where` is text in the criteria language, checked by its parser and the workspace's "
    "fields, and a cursor must come from the same order: refused with 422"
)
NOT_CHECKED: dict[str, dict[str, str]] = {
    "record_events": {
        "positive_data_acceptance": "a single event is refused with 422 (the result says why) "
        "when it names its contact more than one way or not at all, names an unknown contact, "
        "an email or phone that is not valid, or a time too far ahead: rules on the "
        "workspace's data no schema states",
    },
    "sms_inbound": {
        "positive_data_acceptance": "whether `from` is a phone number is libphonenumber's "
        "decision for the default region, which no JSON Schema states: a schema-valid '000' "
        "is rightly refused with 422",
    },
    "submit_form": {
        "positive_data_acceptance": "a form needs a valid email address or phone number "
        "(email-validator, libphonenumber) and consent needs its wording: rules no JSON Schema "
        "states, refused with 422",
    },
    "save_segment": {
        "positive_data_acceptance": "a segment's expression is text in the criteria language, "
        "checked by its parser and the workspace's fields: a schema-valid string that does not "
        "parse is refused with 422",
    },
    "start_qualification_run": {"positive_data_acceptance": _PLAYBOOK},
    "start_scoring_run": {"positive_data_acceptance": _PLAYBOOK},
    "import_contacts": {"negative_data_rejection": _MULTIPART},
    "import_events": {"negative_data_rejection": _MULTIPART},
    "add_webhook": {
        "positive_data_acceptance": "score_crossed needs a threshold and a threshold needs "
        "score_crossed, a probability lies in [0, 1], a URL's port is a number up to 65535: "
        "rules across fields or beyond what the JSON Schema states, refused with 422",
    },
    "dry_run_playbook": {"positive_data_acceptance": _PLAYBOOK},
    "upsert_contact": {"positive_data_acceptance": _CONTACT},
    "update_contact": {
        "positive_data_acceptance": _CONTACT + "; the change must keep one of the contact's "
        "identifiers",
    },
    "batch_upsert_contacts": {
        "negative_data_rejection": "each contact is checked on its own: a bad one is listed "
        "with its 422 in the 207 answer, by design",
    },
    **{
        operation: {"positive_data_acceptance": _CRITERIA}
        for operation in ("list_contacts", "count_contacts", "export_contacts")
    },
    "record_consent": {
        "positive_data_acceptance": "lifting a suppression needs the wording, and wording and "
        "lift_suppression go with a grant only: rules across fields, refused with 422",
    },
    "speed_to_lead_report": {
        "positive_data_acceptance": "`from` must be before `to`: a rule across fields",
    },
    "assign_contact": {
        "positive_data_acceptance": "exactly one of user and team, naming an existing one: "
        "rules across fields and of the workspace, refused with 422",
    },
    "add_cost": {
        "positive_data_acceptance": "the campaign must be one leadsift knows (its campaigns, or "
        "one named on events) and the amount at least a cent: rules of the workspace's data",
    },
    "create_campaign": {
        "positive_data_acceptance": "a campaign's target is text in the criteria language and "
        "its templates are Jinja2 checked against the workspace's fields (undefined variables, "
        "a marketing email without its unsubscribe link, a promo code without a program), and "
        "exactly one of target and stage is given: rules no JSON Schema states, refused with 422",
    },
    "create_promo_program": {
        "positive_data_acceptance": "valid_until must be later than valid_from, the discount "
        "must say something (not only spaces) and the prefix holds capital letters and digits "
        "only: rules across fields or of the service, refused with 422",
    },
    **{
        operation: {"positive_data_acceptance": _PERIOD}
        for operation in (
            "report_funnel",
            "report_stage_times",
            "report_reasons",
            "report_roi",
            "report_attribution",
            "report_sources",
            "report_agents",
        )
    },
}
# schemathesis's own list of what refusing invalid data may answer.
_REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]
CONFIG = SchemathesisConfig.from_dict(
    {
        # A body over the size limit is refused with 413 before it is read, whatever it says:
        # a rejection like the others (documented wherever a body is taken).
        "checks": {"negative_data_rejection": {"expected-statuses": [*_REFUSALS, "413"]}},
        "operations": [
            {
                "include-operation-id": operation,
                "checks": {check: {"enabled": False} for check in checks},
            }
            for operation, checks in NOT_CHECKED.items()
        ],
    }
)


def _document() -> dict[str, Any]:
    # The document does not depend on the database: an app built but never started (nothing
    # is opened) gives it at collection time; a test checks the served one is the same.
    return create_app(Settings(database_url="sqlite://")).openapi()


class AppUnderTest:
    """The ASGI app schemathesis calls (the schema is made at collection, the app by a
    fixture): it hands every request, and the lifespan, to the app the fixture set."""

    def __init__(self) -> None:
        self.app: FastAPI | None = None

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the `app` fixture sets the app under test"
        await self.app(scope, receive, send)


APP = AppUnderTest()
schema = schemathesis.openapi.from_dict(_document(), config=CONFIG)
# Requests go in-process to APP, as from_asgi() would send them (checks that send requests of
# their own, like ignored_auth's request without the key, go there too).
schema.app = APP


def _is_event_batch(case: Case) -> bool:
    """A batch of events: each is checked on its own and a refused one is listed in a 200
    answer (one bad event never spoils its batch), so invalid items are not a 4xx."""
    body = case.body
    return (
        case.operation.definition.raw.get("operationId") == "record_events"
        and isinstance(body, dict)
        and isinstance(body.get("events"), list)
    )


@pytest.fixture(scope="module", params=BACKENDS)
def api_db_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    databases: dict[str, Database],
) -> Iterator[str]:
    """One database for every operation of the module (migrated once: a fresh one per
    operation would double the run); what one operation writes, the next may read."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('conformance') / 'api.db'}"
        return
    database = databases["postgresql"]
    truncate_all(database)
    try:
        yield database.url
    finally:
        truncate_all(database)


@pytest.fixture(scope="module")
def admin_headers(api_db_url: str) -> dict[str, str]:
    """The header of an admin key (scope admin, acting for no user)."""
    database = Database(api_db_url, Settings(database_url=api_db_url)).ready()
    try:
        with database.unit_of_work() as session:
            key = create_key(session, "conformance", Scope.ADMIN).key
    finally:
        database.dispose()
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def app(api_db_url: str, admin_headers: dict[str, str]) -> Iterator[FastAPI]:
    """The app on that database (its key made first), set as the app under test:
    schemathesis starts its lifespan on the first request of each test and stops it when the
    test ends."""
    # A burst no test reaches: the public routes are tested, not their rate limit.
    APP.app = create_app(
        Settings(database_url=api_db_url, tracking_burst=1_000_000, api_burst=1_000_000)
    )
    try:
        yield APP.app
    finally:
        APP.app = None


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_its_documented_promises(
    case: Case, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    # Invalid items of a batch get a 200 listing their errors (documented), not a 4xx.
    excluded = [negative_data_rejection] if _is_event_batch(case) else []
    case.call_and_validate(headers=admin_headers, excluded_checks=excluded)


def test_the_tested_document_is_the_served_one(app_client: TestClient) -> None:
    served = app_client.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == _document()
    assert {"/api/v1/events", "/api/v1/contacts/{contact_id}"} <= set(served.json()["paths"])


def test_routing_refusals_answer_in_the_error_shape(
    app_client: TestClient, api_key: Callable[..., str]
) -> None:
    # GET and POST /u/{token} are two routes: the 405 lists both, not only the first's.
    refused = app_client.delete("/u/some-token")
    assert refused.status_code == 405
    assert refused.headers["Allow"] == "GET, POST"
    assert refused.json()["error"]["code"] == "method_not_allowed"
    nowhere = app_client.get("/api/v1/no-such-thing")
    assert nowhere.status_code == 404
    assert nowhere.json()["error"]["code"] == "not_found"
    # A body FastAPI cannot even decode (not UTF-8).
    headers = {"Authorization": f"Bearer {api_key('admin')}", "Content-Type": "application/json"}
    undecodable = app_client.post("/api/v1/promo/redeem", content=b"\x80{}", headers=headers)
    assert undecodable.status_code == 400
    assert undecodable.json()["error"]["code"] == "malformed_body"


def test_text_with_nul_is_refused_before_it_reaches_the_database(
    app_client: TestClient, api_key: Callable[..., str]
) -> None:
    """PostgreSQL cannot store NUL in text: a 422 naming the field, never a server error."""
    headers = {"Authorization": f"Bearer {api_key('admin')}"}
    attempts = {
        "code": ("/api/v1/promo/redeem", "POST", {"code": "AB\x00CD"}),
        "user": ("/api/v1/contacts/1/owner", "PUT", {"user": "ann\x00"}),
        "text": ("/api/v1/sms/inbound", "POST", {"from": "+33612345678", "text": "STOP\x00"}),
    }
    for field, (url, method, body) in attempts.items():
        answer = app_client.request(method, url, json=body, headers=headers)
        assert answer.status_code == 422, f"{url}: {answer.status_code} {answer.text}"
        assert answer.json()["error"]["details"][0]["field"] == field, url
