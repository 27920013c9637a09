"""The API's rate limit (both engines): a token bucket per API key, `api_burst` requests at once
then `api_rate_per_second`; beyond it 429 in the error shape with `Retry-After`, for that key only
(another key, and the public tracking routes, keep their own limits); keys that are not valid are
refused with 401 before they cost anyone a token; the 429 is in the OpenAPI document of keyed
routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadsift.access import endpoints
from leadsift.config import Settings
from tests.api.test_route_policies import bearer


class Clock:
    """A monotonic clock the test moves (the key cache and the buckets read it)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        """The current time, in seconds."""
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The access module's clock, under the test's control."""
    fake = Clock()
    monkeypatch.setattr(endpoints, "time", fake)
    return fake


@pytest.fixture
def tight(make_client: Callable[..., TestClient]) -> TestClient:
    """The app with a burst of 2 requests per key, then one a second."""
    return make_client(api_rate_per_second=1, api_burst=2)


def _count(client: TestClient, headers: dict[str, str]) -> Any:
    return client.get("/api/v1/contacts:count", headers=headers)


def test_a_key_over_its_burst_waits_for_its_rate(
    tight: TestClient, api_key: Callable[..., str], clock: Clock
) -> None:
    mine = bearer(api_key("read"))
    assert [_count(tight, mine).status_code for _ in range(2)] == [200, 200]
    refused = _count(tight, mine)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.json() == {
        "error": {
            "code": "rate_limited",
            "message": "too many requests with this API key; retry in 1 s",
        }
    }
    # Any route of the key shares its bucket.
    assert tight.get("/api/v1/contact-fields", headers=mine).status_code == 429
    # Another key has its own.
    assert _count(tight, bearer(api_key("read"))).status_code == 200
    clock.now += 1.0
    assert _count(tight, mine).status_code == 200
    assert _count(tight, mine).status_code == 429
    clock.now += 10.0  # the bucket fills up to the burst, not beyond
    assert [_count(tight, mine).status_code for _ in range(3)] == [200, 200, 429]


def test_refused_keys_cost_nothing_and_scopes_are_still_checked(
    tight: TestClient, api_key: Callable[..., str], clock: Clock
) -> None:
    ingest = bearer(api_key("ingest"))
    for _ in range(5):
        assert _count(tight, bearer("lsk_" + "x" * 43)).status_code == 401
    assert [_count(tight, ingest).status_code for _ in range(3)] == [403, 403, 429]


def test_the_wait_is_rounded_up_to_whole_seconds(
    make_client: Callable[..., TestClient], api_key: Callable[..., str], clock: Clock
) -> None:
    slow = make_client(api_rate_per_second=0.25, api_burst=1)
    mine = bearer(api_key("read"))
    assert _count(slow, mine).status_code == 200
    refused = _count(slow, mine)
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "4")
    clock.now += 2.5
    assert _count(slow, mine).headers["Retry-After"] == "2"


def test_the_default_limit_lets_a_client_work(
    app_client: TestClient, api_key: Callable[..., str]
) -> None:
    settings = Settings()
    assert (settings.api_burst, settings.api_rate_per_second) == (200, 50.0)
    mine = bearer(api_key("read"))
    assert all(_count(app_client, mine).status_code == 200 for _ in range(50))


def test_settings_refuse_a_limit_that_cannot_be() -> None:
    with pytest.raises(ValueError, match="api_rate_per_second"):
        Settings(api_rate_per_second=0)
    with pytest.raises(ValueError, match="api_burst"):
        Settings(api_burst=0)


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/contacts", "get"),
        ("/api/v1/contacts", "post"),
        ("/api/v1/contacts:batch", "post"),
        ("/api/v1/contacts/{contact_id}/consent", "post"),
        ("/api/v1/users", "post"),
        ("/api/v1/speed-to-lead", "get"),
    ],
)
def test_the_429_is_documented_with_retry_after(
    app_client: TestClient, path: str, method: str
) -> None:
    operation = app_client.get("/openapi.json").json()["paths"][path][method]
    documented = operation["responses"]["429"]
    assert "API key" in documented["description"]
    assert documented["headers"]["Retry-After"]["required"] is True
