"""Web pages (issue 10): every page and dashboard section ≤ 300 ms at p95 with 1,000,000 contacts.

The workspace is built with the generators of bench/analytics_speed.py and bench/agents_speed.py,
moved to today: N contacts over the last 12 months (with phones) and their stage changes, M
events (page views with UTM fields, campaign emails and clicks, purchases), 50 costs; teams, 100
agents and the agents' playbook; an admin; interest scores and predictions; the qualified
prospects assigned by the product's `assign`, 40 % of them with calls; the rollups built as the
worker builds them. It is kept and reused by the next run (--rebuild starts again).

The app is served in-process (TestClient over https://testserver, signed in through the sign-in
form), with the worker's rollup upkeep running every minute in a thread as `leadsift worker`
does. Each URL is requested 3 times to warm up, then timed 30 times (p50, p95 nearest rank).
Then 10,000 events and 1,000 qualifications are added and the first request of each dashboard
section is timed (before the worker's next pass: what a user sees right after new data).

    python bench/web_pages.py [--db URL] [--contacts N] [--events N] [--runs 30] [--warm 3]
                              [--only SUBSTRING] [--skip SUBSTRING] [--rebuild] [--no-upkeep]
                              [--no-new-data] [--profile DIR]

PostgreSQL: --db postgresql+psycopg://postgres@127.0.0.1:5432/bench_web (created if missing).
--profile DIR writes a pyinstrument profile of each URL's timed requests to DIR.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from fastapi.testclient import TestClient
from threadpoolctl import threadpool_limits

import agents_speed as agents
import analytics_speed as analytics
from _common import machine, reset, server
from agents_speed import profiled
from leadsift.access import service as access
from leadsift.access import sessions
from leadsift.access.schemas import Role
from leadsift.agents.service import assign
from leadsift.analytics.catalogue_views import REPORTS
from leadsift.analytics.cli import keep_rollups
from leadsift.api import create_app
from leadsift.config import Settings
from leadsift.db import Database
from leadsift.kit.clock import utcnow
from score import database_size, ensure_database, load, sql

DEFAULT_DB = "sqlite:////tmp/leadsift-bench-web/web.db"
TARGET_MS = 300.0
PASSWORD = "a bench password 42"  # noqa: S105 — the generated workspace's users
ADMIN, AGENT = "admin", "agent001"  # agent001 owns the largest queue (every "salon" prospect)
COUNT_QUERY = 'source = "salon" and region = "Bretagne"'
UPKEEP_SECONDS = 60.0
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def move_generators_to(now: datetime) -> None:
    """Date the generators' data up to NOW (they are written for a fixed day)."""
    analytics.NOW, analytics.NOW_S = now, now.timestamp()
    analytics.START_S = analytics.NOW_S - analytics.YEAR
    agents.NOW = now


def build(url: str, args: argparse.Namespace, now: datetime) -> dict[str, float]:
    """The whole workspace, from an empty database; seconds of each step."""
    reset(url)
    Database(url, Settings()).ready().dispose()
    sqlite, seconds, started = url.startswith("sqlite"), {}, time.perf_counter()
    people, changes, created = analytics.funnel_rows(args.contacts, sqlite)
    for number, row in enumerate(people):  # a phone each, so that agents have someone to call
        row.append(f"+336{number:08d}")
    seconds["generate_s"] = time.perf_counter() - started
    started = time.perf_counter()
    for table, columns, rows in (
        ("contacts", [*analytics.CONTACT_COLUMNS, "phone"], iter(people)),
        ("stage_changes", analytics.CHANGE_COLUMNS, iter(changes)),
        ("events", analytics.EVENT_COLUMNS, analytics.event_rows(args.events, created, sqlite)),
        ("costs", analytics.COST_COLUMNS, analytics.cost_rows(sqlite)),
        ("contact_scores", agents.SCORE_COLUMNS, agents.narrow_rows(args.contacts, sqlite, False)),
        ("contact_predictions", agents.PREDICTION_COLUMNS,
         agents.narrow_rows(args.contacts, sqlite, True)),
    ):  # fmt: skip
        load(url, table, columns, rows)
    del people, changes
    seconds["load_s"] = time.perf_counter() - started
    db = Database(url, Settings()).ready()
    started = time.perf_counter()
    agents.setup_workspace(db)
    with db.unit_of_work() as session:
        access.add_user(session, ADMIN, Role.ADMIN)
        for name in (ADMIN, AGENT):
            sessions.set_password(session, name, PASSWORD, None)
    with db.unit_of_work() as session:
        assign(session, now=now - timedelta(days=1))
    seconds["assign_s"] = time.perf_counter() - started
    members: dict[int, list[int]] = defaultdict(list)
    for team_id, user_id in sql(url, "SELECT team_id, user_id FROM team_members"):
        members[team_id].append(user_id)
    owners = sql(url, "SELECT contact_id, user_id, team_id FROM contact_owners ORDER BY 1")
    touches, states = agents.call_history(owners, members, sqlite)
    load(url, "touches", agents.TOUCH_COLUMNS, iter(touches))
    load(url, "call_states", agents.STATE_COLUMNS, iter(states))
    if not sqlite:  # as autovacuum would after bulk loads
        sql(url, "ANALYZE contacts, stage_changes, events, contact_owners, touches")
    started = time.perf_counter()
    keep_rollups(db, now)
    seconds["rollups_s"] = time.perf_counter() - started
    if not sqlite:
        analytics.vacuum(db)
    db.dispose()
    return seconds


def built(url: str, contacts: int) -> bool:
    """Whether URL holds a finished workspace of CONTACTS contacts (its rollups built)."""
    if url.startswith("sqlite") and not Path(url.removeprefix("sqlite:///")).exists():
        return False
    try:
        rows = sql(url, "SELECT last_id FROM rollup_cursors WHERE name = 'contacts'")
        users = sql(
            url,
            "SELECT count(*) FROM users WHERE name IN (:admin, :agent)",
            {"admin": ADMIN, "agent": AGENT},
        )
    except Exception:  # no such table: not built
        return False
    return bool(rows) and rows[0][0] >= contacts and users[0][0] == 2


def sizes(url: str) -> str:
    """What the workspace holds."""
    tables = ("contacts", "stage_changes", "events", "touches", "contact_owners", "users",
              "funnel_facts", "event_days")  # fmt: skip
    query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in tables)  # noqa: S608
    stages = sql(url, "SELECT 'stage ' || stage, count(*) FROM contacts GROUP BY 1 ORDER BY 1")
    listed = ", ".join(f"{name} {n:,}" for name, n in [*sql(url, query), *stages])
    return f"{listed}; {database_size(url)}"


class Upkeep(threading.Thread):
    """The worker's rollup upkeep every minute (its pass at start is timed apart)."""

    def __init__(self, db: Database) -> None:
        super().__init__(daemon=True)
        self.db, self.stopped = db, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(UPKEEP_SECONDS):
            keep_rollups(self.db, utcnow())


def signed_in_cookie(client: TestClient, name: str) -> str:
    """Sign NAME in through the form; the session cookie."""
    client.cookies.clear()
    form = client.get("/sign-in")
    token = _CSRF.search(form.text)
    if token is None:
        raise SystemExit("no CSRF token on the sign-in form")
    answer = client.post(
        "/sign-in", data={"name": name, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    if answer.status_code != 303:
        raise SystemExit(f"signing {name} in failed: {answer.text[:300]}")
    return str(client.cookies.get("leadsift_session"))


def targets(url: str) -> list[tuple[str, str]]:
    """(who, URL) of every page and dashboard section, with default filters."""
    owned = (
        "SELECT o.contact_id FROM contact_owners o JOIN users u ON u.id = o.user_id "
        "WHERE u.name = :agent ORDER BY 1 LIMIT 1"
    )
    contact = sql(url, owned, {"agent": AGENT})[0][0]
    sections = ("funnel", "trend", "roi", "speed", "waiting")
    found = [(ADMIN, "/dashboard"), *((ADMIN, f"/dashboard/{name}") for name in sections)]
    found += [
        (AGENT, "/dashboard"),
        *((AGENT, f"/dashboard/{n}") for n in ("funnel", "speed", "waiting")),
    ]
    found += [
        (ADMIN, "/contacts"),
        (ADMIN, f"/contacts/count?q={quote(COUNT_QUERY)}"),
        (ADMIN, f"/contacts/{contact}"),
        (AGENT, "/contacts"),
        (AGENT, f"/contacts/{contact}"),
        (AGENT, "/calls"),
        (ADMIN, "/reports"),
    ]
    found += [(ADMIN, f"/reports/{report.name}") for report in REPORTS]
    found += [(ADMIN, "/campaigns"), (ADMIN, "/playbook"), (ADMIN, "/import")]
    return found


def nearest_rank(values: list[float], fraction: float) -> float:
    """The FRACTION percentile of VALUES (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(len(ordered) * fraction) - 1))]


def timed_get(client: TestClient, url: str) -> tuple[float, int]:
    """Milliseconds and status of one GET."""
    started = time.perf_counter()
    answer = client.get(url)
    return (time.perf_counter() - started) * 1000, answer.status_code


@contextmanager
def served(url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The app in-process, and the session cookie of the admin and of the agent."""
    app = create_app(Settings(database_url=url))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        cookies = {name: signed_in_cookie(client, name) for name in (ADMIN, AGENT)}
        yield client, cookies


def measure(client: TestClient, cookies: dict[str, str], pages: list[tuple[str, str]],
            args: argparse.Namespace) -> list[tuple[str, str, float, float]]:  # fmt: skip
    """Warm up and time each page; print and return (who, URL, p50, p95)."""
    results = []
    for who, url in pages:
        client.cookies.set("leadsift_session", cookies[who])
        statuses = {timed_get(client, url)[1] for _ in range(args.warm)}
        slug = re.sub(r"\W+", "_", f"{who}{url}")[:80]
        with profiled(args.profile, slug):
            runs = [timed_get(client, url) for _ in range(args.runs)]
        statuses |= {status for _, status in runs}
        times = [ms for ms, _ in runs]
        p50, p95 = nearest_rank(times, 0.5), nearest_rank(times, 0.95)
        verdict = "ok" if p95 <= TARGET_MS else "MISSES"
        shown = "" if statuses == {200} else f"  status {sorted(statuses)}"
        print(f"  {who:8} {url:58} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {max(times):7.1f}"
              f" ms  {verdict}{shown}", flush=True)  # fmt: skip
        results.append((who, url, p50, p95))
    return results


def add_new_data(db: Database, events: int, qualified: int, now: datetime) -> float:
    """EVENTS events (the analytics generator's mix) in the half hour before NOW, and QUALIFIED
    leads qualified, as a running workspace writes them; seconds taken."""
    started, sqlite = time.perf_counter(), db.engine.dialect.name == "sqlite"
    rng = np.random.default_rng(int(now.timestamp()))  # new dedup keys at each run
    mark, start = "?" if sqlite else "%s", now.timestamp() - 1800
    with db.engine.begin() as conn:
        count = conn.exec_driver_sql("SELECT max(id) FROM contacts").scalar_one()
        leads = conn.exec_driver_sql(
            f"SELECT id FROM contacts WHERE stage = 'lead' LIMIT {qualified}"  # noqa: S608
        )
        ids, at = [row[0] for row in leads], analytics.stamps([now.timestamp() - 60], sqlite)[0]
        times = np.sort(start + rng.random(events) * 1700)
        rows = analytics.event_chunk(rng.integers(0, count, events), times, sqlite, rng)
        moves = [(i, "lead", "qualified", "interest_threshold", "bench", at) for i in ids]
        for table, columns, values in (
            ("events", analytics.EVENT_COLUMNS, [tuple(row) for row in rows]),
            ("stage_changes", analytics.CHANGE_COLUMNS, moves),
        ):
            marks = ", ".join([mark] * len(columns))
            conn.exec_driver_sql(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                values,
            )
        conn.exec_driver_sql(
            f"UPDATE contacts SET stage = 'qualified', stage_changed_at = {mark} "  # noqa: S608
            f"WHERE id IN ({', '.join(map(str, ids))})",
            (at,),
        )
    return time.perf_counter() - started


def after_new_data(client: TestClient, cookies: dict[str, str], db: Database) -> None:
    """Add 10,000 events and 1,000 qualifications, then time the first request of each
    dashboard section (and the funnel report) before the worker's next pass."""
    seconds = add_new_data(db, 10_000, 1_000, utcnow())
    print(f"after 10,000 new events + 1,000 qualifications (written in {seconds:.2f} s), the "
          "first request of each:")  # fmt: skip
    for who, url in ((ADMIN, "/dashboard/funnel"), (ADMIN, "/dashboard/trend"),
                     (ADMIN, "/dashboard/roi"), (ADMIN, "/dashboard/speed"),
                     (ADMIN, "/dashboard/waiting"), (AGENT, "/dashboard/funnel"),
                     (ADMIN, "/reports/funnel")):  # fmt: skip
        client.cookies.set("leadsift_session", cookies[who])
        ms, status = timed_get(client, url)
        print(f"  {who:8} {url:58} {ms:7.1f} ms{'' if status == 200 else f'  status {status}'}")
    started = time.perf_counter()
    keep_rollups(db, utcnow())
    print(f"then the worker's pass taking them in: {time.perf_counter() - started:.2f} s")


def main() -> None:
    """Build or reuse the workspace, serve it, time every page."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--profile", metavar="DIR")
    parser.add_argument("--only", default="", help="time only the URLs containing this")
    parser.add_argument("--skip", default=None, help="leave out the URLs containing this")
    for option, default in (("--contacts", 1_000_000), ("--events", 2_000_000), ("--runs", 30),
                            ("--warm", 3)):  # fmt: skip
        parser.add_argument(option, type=int, default=default)
    for flag in ("--rebuild", "--no-upkeep", "--no-new-data"):
        parser.add_argument(flag, action="store_true")
    args = parser.parse_args()
    threadpool_limits(1)  # BLAS pinned: figures that do not depend on its threads
    url: str = args.db
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    else:
        ensure_database(url)
    print(f"machine: {machine()}\nengine: {server(url)}")
    now = utcnow()
    move_generators_to(now)
    if args.rebuild or not built(url, args.contacts):
        steps = build(url, args, now)
        print("built: " + ", ".join(f"{k} {v:.1f}" for k, v in steps.items()))
    else:
        print("reusing the workspace built before (--rebuild to start again)")
    print(f"data: {sizes(url)}")
    db = Database(url, Settings()).ready()
    started = time.perf_counter()
    keep_rollups(db, utcnow())  # the worker's pass when it starts
    print(f"the worker's first pass: {time.perf_counter() - started:.1f} s")
    upkeep = Upkeep(db)
    if not args.no_upkeep:
        upkeep.start()
    pages = [
        (who, page)
        for who, page in targets(url)
        if args.only in page and (args.skip is None or args.skip not in page)
    ]
    try:
        with served(url) as (client, cookies):
            print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
                  f"{args.warm} warm-ups then {args.runs} timed requests per URL:")  # fmt: skip
            results = measure(client, cookies, pages, args)
            missed = [url for _, url, _, p95 in results if p95 > TARGET_MS]
            print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
                  f"{len(results) - len(missed)} of {len(results)} URLs within {TARGET_MS:g} ms "
                  f"at p95{'; missed: ' + ', '.join(missed) if missed else ''}")  # fmt: skip
            if not args.no_new_data:
                after_new_data(client, cookies, db)
    finally:
        upkeep.stopped.set()
        if upkeep.is_alive():
            upkeep.join()
        db.dispose()


if __name__ == "__main__":
    main()
