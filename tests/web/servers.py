"""Servers for real-browser tests: the app under test, and "another site's" pages.

``serve_asgi`` runs an ASGI app (the leadsift FastAPI app, or a tiny one in a test) under a real
uvicorn in a background thread; ``serve_pages`` serves fixed HTML bodies from a plain
``http.server`` on another port, standing in for a customer's website that embeds our script.

By default the two are on different *sites*, not just different origins: the app is reached as
``http://127.0.0.1:PORT`` and the pages as ``http://localhost:PORT``. Cookies ignore ports, so two
ports on one host would share cookies and count as same-site, which a real embedding never is.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def wait_until(
    predicate: Callable[[], bool], *, timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or predicate}")
        time.sleep(interval)


def _bound_socket(host: str = LOOPBACK) -> socket.socket:
    """A listening-ready socket on a free port, held open so no other process can take the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


@contextmanager
def serve_asgi(app: ASGIApp, *, host: str = LOOPBACK) -> Iterator[str]:
    """Run ``app`` under uvicorn (lifespan on) in a thread; yield its URL: http://127.0.0.1:PORT.

    The port is bound here and handed to uvicorn, so there is no window in which another
    process could take it. On exit the server is asked to stop and its thread is joined.
    """
    import uvicorn

    sock = _bound_socket(host)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn:{port}", daemon=True
    )
    thread.start()
    try:
        # A failed startup (e.g. lifespan raising) ends the thread without ever starting.
        wait_until(
            lambda: server.started or not thread.is_alive(),
            timeout=START_TIMEOUT,
            what=f"uvicorn to start on port {port}",
        )
        if not server.started:
            raise RuntimeError(f"uvicorn on port {port} did not start (see the log above)")
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        if thread.is_alive():
            server.force_exit = True
            thread.join(STOP_TIMEOUT)
        sock.close()
        if thread.is_alive():
            raise RuntimeError(f"uvicorn on port {port} did not stop within {2 * STOP_TIMEOUT:g}s")


class _PagesServer(ThreadingHTTPServer):
    daemon_threads = True
    pages: dict[str, str]

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        """Quiet about a browser dropping its connection (closed tab, favicon), loud otherwise."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _PagesHandler(BaseHTTPRequestHandler):
    server: _PagesServer

    def do_GET(self) -> None:
        body = self.server.pages.get(self.path.split("?", 1)[0].split("#", 1)[0])
        if body is None:
            self.send_error(404)
            return
        data = body.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: no line per request on stderr."""


@contextmanager
def serve_pages(pages: dict[str, str], *, url_host: str = "localhost") -> Iterator[str]:
    """Serve ``pages`` (path -> HTML body; query strings ignored) on a free loopback port.

    Yields the base URL, ``http://localhost:PORT`` by default: another *site* than an app served
    on 127.0.0.1, as a customer's website is (Chromium resolves localhost to loopback itself).
    ``pages`` is read live, so a test may add pages after the server has started.
    """
    server = _PagesServer((LOOPBACK, 0), _PagesHandler)
    server.pages = pages
    port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"pages:{port}",
        daemon=True,
    )
    thread.start()
    try:
        yield f"http://{url_host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(STOP_TIMEOUT)
