"""The real-browser harness works end to end: Chromium, a page on another site, our script, the app.

A page served by the test (``serve_pages``, http://localhost:PORT) embeds ``/t/probe.js`` from
an app served by uvicorn (``serve_asgi``, http://127.0.0.1:PORT). The script keeps an anonymous
id in a first-party cookie on the page's site, reports the page view with
``navigator.sendBeacon`` and posts a form body with a cross-origin ``fetch(..., keepalive)``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse

from tests.web.servers import serve_asgi, serve_pages, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

PROBE_JS = """
(function () {
  var app = new URL(document.currentScript.src).origin;
  var match = document.cookie.match(/(?:^|; )ls_probe_id=([^;]+)/);
  var id = match ? match[1] : (crypto.randomUUID ? crypto.randomUUID()
                                                 : String(Math.random()).slice(2));
  document.cookie = "ls_probe_id=" + id + "; path=/; max-age=31536000; SameSite=Lax";
  var status = window.__probe = {id: id, beacon: null, form: null};
  status.beacon = navigator.sendBeacon(
    app + "/t/hit", JSON.stringify({url: location.href, id: id}));
  fetch(app + "/t/form", {
    method: "POST",
    body: new URLSearchParams({url: location.href, id: id, email: "probe@example.com"}),
    keepalive: true,
  }).then(function (r) { return r.text(); })
    .then(function (text) { status.form = text; },
          function (err) { status.form = "error: " + err; });
})();
"""

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<script src="{app}/t/probe.js" async></script></head>
<body><h1>{title}</h1></body></html>
"""


@dataclass
class Received:
    """What the app saw, written by uvicorn's thread and read by the test's."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)

    def of(self, kind: str, url: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["kind"] == kind and r["url"] == url]

    def both_from(self, url: str) -> Callable[[], bool]:
        return lambda: bool(self.of("hit", url) and self.of("form", url))


def probe_app(received: Received) -> FastAPI:
    app = FastAPI()

    @app.get("/t/probe.js")
    def probe_js() -> Response:
        return Response(PROBE_JS, media_type="application/javascript")

    @app.post("/t/hit")
    async def hit(request: Request) -> Response:
        body = json.loads(await request.body())
        received.add(
            {
                "kind": "hit",
                "url": body["url"],
                "id": body["id"],
                "content_type": request.headers.get("content-type"),
                "origin": request.headers.get("origin"),
                "cookie": request.headers.get("cookie"),
            }
        )
        return Response(status_code=204)

    @app.post("/t/form")
    async def form(request: Request) -> Response:
        # Parsed by hand: Request.form() needs python-multipart, which this harness does not.
        data = dict(parse_qsl((await request.body()).decode(), strict_parsing=True))
        received.add(
            {
                "kind": "form",
                "url": data["url"],
                "id": data["id"],
                "email": data["email"],
                "origin": request.headers.get("origin"),
                "cookie": request.headers.get("cookie"),
            }
        )
        return PlainTextResponse("ok", headers={"Access-Control-Allow-Origin": "*"})

    return app


def test_page_on_another_site_reports_views_and_form_to_the_app(
    browser_context: BrowserContext,
) -> None:
    received = Received()
    pages: dict[str, str] = {}
    with serve_asgi(probe_app(received)) as app_url, serve_pages(pages) as site_url:
        pages["/"] = PAGE.format(title="Home", app=app_url)
        pages["/pricing"] = PAGE.format(title="Pricing", app=app_url)
        page = browser_context.new_page()

        ids = []
        for path in ("/", "/pricing?plan=pro"):
            url = f"{site_url}{path}"
            page.goto(url)
            wait_until(received.both_from(url), what=f"the beacon and the form post from {url}")
            (hit,) = received.of("hit", url)
            (form,) = received.of("form", url)
            # The beacon's string body goes as text/plain: a CORS-safelisted request, no preflight.
            assert hit["content_type"].startswith("text/plain")
            assert form["email"] == "probe@example.com"
            assert hit["origin"] == form["origin"] == site_url
            assert hit["id"] == form["id"]
            # The page could read the form's answer only thanks to Access-Control-Allow-Origin.
            page.wait_for_function("window.__probe && window.__probe.form !== null")
            probe = page.evaluate("window.__probe")
            assert probe == {"id": hit["id"], "beacon": True, "form": "ok"}
            ids.append(hit["id"])

        # The anonymous id survives navigation in the page site's first-party cookie...
        assert ids[0] == ids[1]
        cookies = {c["name"]: c for c in browser_context.cookies(site_url)}
        assert cookies["ls_probe_id"]["value"] == ids[0]
        assert cookies["ls_probe_id"]["domain"] == "localhost"
        # ...which is never sent to the app, a different site: the id travels in the payload.
        assert all(r["cookie"] is None for r in received.requests)
