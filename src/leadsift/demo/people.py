"""The demo's web user: an admin called `demo` with a fresh password at every run."""

from __future__ import annotations

import secrets
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access import service as access
from leadsift.access import sessions
from leadsift.access.schemas import Role

USER: Final = "demo"
HOST: Final = "127.0.0.1"
PORT: Final = 8000


def demo_admin(session: Session, db_option: str) -> dict[str, Any]:
    """Make (or keep) the `demo` admin and give it a new password; how to open the web app."""
    if access_repository.user_by_name(session, USER) is None:
        access.add_user(session, USER, Role.ADMIN)
    # A new random password each run: the demo never ships a known one.
    password = secrets.token_urlsafe(12)
    sessions.set_password(session, USER, password, None)
    return {
        "serve": f"leadsift {db_option} serve --host {HOST} --port {PORT}",
        "url": f"http://{HOST}:{PORT}/",
        "user": USER,
        "password": password,
    }
