"""Agents speed (issue 7): `calls next` with 1,000,000 contacts and 100 agents, and assignment
of 100,000 newly qualified prospects in one transaction.

N contacts are written with bulk SQL (executemany on SQLite, COPY on PostgreSQL): 1 in 5 is a
prospect, half qualified days ago and assigned by the product (timed for reference) then given
call history (touches; call states with call-backs due and later, refusals, wrong numbers, 4+
attempts), half just qualified (N/10, the timed `assign`: target ≤ 10 s for 100,000). Interest
scores for all, predictions (priority) for 60 %; teams lyon (10), ouest (10, a shared queue)
and everyone (100). `next_call` is timed for --agents agents at 10:30 Paris on a Wednesday, each
in a transaction rolled back (target p95 ≤ 50 ms), and on a Saturday (closed) for reference.

    python bench/agents_speed.py [--db URL] [--contacts N] [--agents 50] [--statements]
                                 [--profile DIR] [--keep | --reuse]

--statements prints the slowest SQL of each measurement; --profile writes pyinstrument profiles
to DIR; --keep keeps a copy of the built database that --reuse starts from.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import re
import shutil
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from threadpoolctl import threadpool_limits

from _common import machine, reset, server
from leadsift.access import service as access
from leadsift.access.schemas import Role
from leadsift.agents.calls import next_call
from leadsift.agents.service import assign
from leadsift.config import Settings
from leadsift.db import Database
from leadsift.outreach.consent import suppression_secret
from leadsift.qualification import playbooks
from score import _admin, database_size, ensure_database, load, sql

IN_LIST = re.compile(r"(\?|%\(\w+\)s)(, (\?|%\(\w+\)s))+")  # IN (…) of any length: one statement
DEFAULT_DB = "sqlite:////tmp/leadsift-bench-agents/agents.db"
TARGETS = {"assign_100k_s": 10.0, "next_call_p95_ms": 50.0}
PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 2, 10, 30, tzinfo=PARIS)  # a Wednesday, inside the calling hours
SATURDAY = datetime(2026, 12, 5, 10, 30, tzinfo=PARIS)
AGENTS, LYON, OUEST = 100, range(5, 15), range(15, 25)
PLAYBOOK = """\
name: Bench agents
eligibility: age >= 18
assignment:
  rules:
    - when: 'postal_code startswith "69"'
      round_robin: {team: lyon}
    - when: 'region = "Bretagne"'
      team: ouest
    - when: 'source = "salon"'
      user: agent001
    - when: 'fit >= 30'
      round_robin: {users: [agent002, agent003, agent004], weights: {agent002: 2}}
  default:
    round_robin: {team: everyone}
calling:
  audience: b2b
"""
ARA, IDF, BZH = "Auvergne-Rhône-Alpes", "Île-de-France", "Bretagne"
DEPARTMENTS = [
    ("69", ARA), ("69", ARA), ("38", ARA), ("42", ARA), ("75", IDF), ("92", IDF), ("93", IDF),
    ("13", "Provence-Alpes-Côte d'Azur"), ("06", "Provence-Alpes-Côte d'Azur"), ("35", BZH),
    ("29", BZH), ("33", "Nouvelle-Aquitaine"), ("59", "Hauts-de-France"), ("31", "Occitanie"),
    ("34", "Occitanie"), ("44", "Pays de la Loire"), ("67", "Grand Est"), ("21", "Bourgogne"),
]  # fmt: skip
SOURCES = ["salon"] + ["site web"] * 3 + ["partenaire"] * 2 + ["achat de fichier", "flyer"] * 2
CONTACT_COLUMNS = [
    "email", "phone", "phone_raw", "first_name", "last_name", "age", "postal_code", "region",
    "source", "company", "stage", "stage_reason", "stage_changed_at", "fit", "attrs",
    "created_at", "updated_at",
]  # fmt: skip
SCORE_COLUMNS = ["contact_id", "interest", "scored_at"]
PREDICTION_COLUMNS = ["contact_id", "model_id", "probability", "priority", "predicted_at"]
TOUCH_COLUMNS = ["contact_id", "user_id", "channel", "outcome", "reason", "callback_at", "at"]
STATE_COLUMNS = ["contact_id", "callback_at", "last_attempt_at", "last_refusal_at", "wrong_phone"]


def stamp(moment: datetime, sqlite: bool) -> str:
    """A timestamp as the column stores it (SQLAlchemy's text on SQLite; UTC for COPY)."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return text if sqlite else text + "+00"


def _stage(i: int, rng: random.Random) -> tuple[str, float]:
    """Stage and days since it changed: 1 in 5 a prospect (odd ones the new leads)."""
    if i % 5 == 0:
        return ("qualified", rng.uniform(3, 30)) if i % 10 == 0 else ("lead", rng.uniform(0, 2))
    stage = rng.choices(["contact", "lead", "customer", "lost"], [70, 18, 7, 5])[0]
    return stage, rng.uniform(10, 200)


def contact_rows(count: int, sqlite: bool) -> Iterator[list[Any]]:
    """COUNT contacts; ids 1..COUNT in this order (fresh tables), id % 10 == 6 the new ones."""
    rng = random.Random(7)
    for i in range(count):
        prefix, region = rng.choice(DEPARTMENTS)
        stage, days = _stage(i, rng)
        created = stamp(NOW - timedelta(days=rng.uniform(200, 600)), sqlite)
        yield [f"p{i}@bench-exemple.fr", f"+336{i:08d}", f"06{i:08d}", f"P{i}", f"N{i % 997}",
               rng.randint(18, 80), f"{prefix}{rng.randint(0, 999):03d}", region,
               rng.choice(SOURCES), f"Société {i % 50_000}", stage, "criteria_met",
               stamp(NOW - timedelta(days=days), sqlite), int(rng.triangular(0, 60, 10)),
               '{"segment": "PME"}', created, created]  # fmt: skip


def narrow_rows(count: int, sqlite: bool, predictions: bool) -> Iterator[list[Any]]:
    """An interest score for everyone, or a prediction (probability, priority) for 60 %."""
    rng, at = random.Random(8 + predictions), stamp(NOW - timedelta(hours=3), sqlite)
    for contact_id in range(1, count + 1):
        draw = rng.random()
        if not predictions:
            yield [contact_id, round(100 * draw**3, 2), at]
        elif draw < 0.6:
            yield [contact_id, 1, draw / 2, round(draw * 450 - 15, 3), at]


def call_history(
    owners: list[tuple[int, int | None, int | None]], members: dict[int, list[int]], sqlite: bool
) -> tuple[list[list[Any]], list[list[Any]]]:
    """Touches and call states of 40 % of the owned prospects (made by their owner, or a member
    of the team whose queue holds them): 1–6 calls over 45 days, the last one's outcome kept."""
    rng, touches, states = random.Random(10), [], []
    for contact_id, user_id, team_id in owners:
        if rng.random() >= 0.4:
            continue
        agent = user_id or rng.choice(members[team_id or 0])
        times = sorted(NOW - timedelta(days=rng.uniform(0.1, 45)) for _ in range(rng.randint(1, 6)))
        outcome = "no_answer"
        for at in times:
            outcome = rng.choices(["no_answer", "callback", "not_interested", "wrong_number",
                                   "interested"], [70, 12, 8, 3, 7])[0]  # fmt: skip
            back = NOW + timedelta(hours=rng.uniform(-72, 72)) if outcome == "callback" else None
            touches.append([contact_id, agent, "phone", outcome,
                            "no_budget" if outcome == "not_interested" else None,
                            back and stamp(back, sqlite), stamp(at, sqlite)])  # fmt: skip
        if rng.random() < 0.1:
            touches.append([contact_id, agent, "email", "sent", None, None, touches[-1][6]])
        states.append([contact_id, touches[-1][5] if outcome == "callback" else None,
                       stamp(times[-1], sqlite),
                       stamp(times[-1], sqlite) if outcome == "not_interested" else None,
                       f"+336{contact_id - 1:08d}" if outcome == "wrong_number" else None,
                       ])  # fmt: skip
    return touches, states


def setup_workspace(db: Any) -> None:
    """Teams, 100 agents, the suppression secret and the active playbook (product services)."""
    with db.unit_of_work() as session:
        for team in ("lyon", "ouest", "everyone"):
            access.add_team(session, team)
        for number in range(1, AGENTS + 1):
            teams = ["everyone"] + ["lyon"] * (number in LYON) + ["ouest"] * (number in OUEST)
            access.add_user(session, f"agent{number:03d}", Role.AGENT, teams=teams)
        suppression_secret(session)  # made once here, not in every call's transaction
        playbooks.store_version(
            session, playbooks.load(session, PLAYBOOK, "bench.yaml"), PLAYBOOK, "bench.yaml"
        )


def build(url: str, db: Any, count: int) -> dict[str, float]:
    """The whole database up to the measured assignment; seconds of each step."""
    sqlite, seconds, started = url.startswith("sqlite"), {}, time.perf_counter()
    setup_workspace(db)
    load(url, "contacts", CONTACT_COLUMNS, contact_rows(count, sqlite))
    load(url, "contact_scores", SCORE_COLUMNS, narrow_rows(count, sqlite, predictions=False))
    load(url, "contact_predictions", PREDICTION_COLUMNS, narrow_rows(count, sqlite, True))
    seconds["generate_and_load_s"] = time.perf_counter() - started
    started = time.perf_counter()
    with db.unit_of_work() as session:
        first = assign(session, now=NOW - timedelta(days=3)).assigned
    seconds |= {"first_assign_s": time.perf_counter() - started, "first_assigned": first}
    members: dict[int, list[int]] = defaultdict(list)
    for team_id, user_id in sql(url, "SELECT team_id, user_id FROM team_members"):
        members[team_id].append(user_id)
    owners = sql(url, "SELECT contact_id, user_id, team_id FROM contact_owners ORDER BY 1")
    touches, states = call_history(owners, members, sqlite)
    load(url, "touches", TOUCH_COLUMNS, iter(touches))
    load(url, "call_states", STATE_COLUMNS, iter(states))
    # The new prospects qualify now (as `score` would move them), waiting for an owner.
    sql(url, "UPDATE contacts SET stage = 'qualified', stage_reason = 'interest_threshold' "
             "WHERE id % 10 = 6")  # fmt: skip
    if not sqlite:  # as autovacuum would after this many changes (it is off on the bench server)
        vacuum(url, "VACUUM ANALYZE contact_owners", "ANALYZE contacts")
    return seconds


def vacuum(url: str, *statements: str) -> None:
    """Run STATEMENTS outside a transaction (VACUUM cannot run in one)."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as db:
        for statement in statements:
            db.execute(statement)


COUNTS = {
    "contacts": "contacts", "owned by a user": "contact_owners WHERE user_id IS NOT NULL",
    "in a team queue": "contact_owners WHERE team_id IS NOT NULL", "touches": "touches",
    "call_states": "call_states", "predictions": "contact_predictions",
    "scores": "contact_scores", "users": "users", "waiting": "contacts c WHERE stage = "
    "'qualified' AND NOT EXISTS (SELECT 1 FROM contact_owners o WHERE o.contact_id = c.id)",
}  # fmt: skip


def sizes(url: str) -> str:
    """What the database holds."""
    found = {name: sql(url, f"SELECT count(*) FROM {rest}")[0][0] for name, rest in COUNTS.items()}  # noqa: S608
    stages = sql(url, "SELECT stage, count(*) FROM contacts GROUP BY stage ORDER BY 1")
    listed = ", ".join(
        f"{name} {n:,}" for name, n in [*found.items(), *((f"stage {s}", n) for s, n in stages)]
    )
    return f"{listed}; {database_size(url)}"


def snapshot(url: str, back: bool) -> None:
    """Keep a copy of the built database, or (BACK) start again from it."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        sql(url, "PRAGMA wal_checkpoint(TRUNCATE)")
        if back:
            reset(url)
        shutil.copyfile(*([path + ".snapshot", path] if back else [path, path + ".snapshot"]))
        return
    name = url.rsplit("/", 1)[1]
    source, target = (name + "_snapshot", name) if back else (name, name + "_snapshot")
    _admin(url, f"DROP DATABASE IF EXISTS {target} WITH (FORCE)",
           f"CREATE DATABASE {target} TEMPLATE {source}")  # fmt: skip


class Statements:
    """Total time, count and slowest run of each SQL statement while on (--statements)."""

    def __init__(self, engine: Any, enabled: bool) -> None:
        self.totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0.0])
        if enabled:
            from sqlalchemy import event

            event.listen(engine, "before_cursor_execute", self._before)
            event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        spent = time.perf_counter() - conn.info.pop("bench_started")
        total = self.totals[IN_LIST.sub("…", " ".join(statement.split()))[:300]]
        total[0], total[1], total[2] = total[0] + spent, total[1] + 1, max(total[2], spent)

    def report(self, label: str, top: int = 6) -> None:
        """Print the statements that took the most time, and start again."""
        for text, (spent, runs, worst) in sorted(self.totals.items(), key=lambda i: -i[1][0])[:top]:
            print(f"    [{label}] {spent * 1000:9.1f} ms total, {int(runs):5} runs, "
                  f"max {worst * 1000:7.1f} ms: {text}")  # fmt: skip
        self.totals.clear()


@contextlib.contextmanager
def profiled(folder: str | None, name: str) -> Iterator[None]:
    """A pyinstrument profile of the block, written to FOLDER/NAME.txt when asked."""
    if folder is None:
        yield
        return
    from pyinstrument import Profiler

    Path(folder).mkdir(parents=True, exist_ok=True)
    profiler = Profiler(interval=0.0005)
    with profiler:
        yield
    Path(folder, f"{name}.txt").write_text(profiler.output_text(color=False, show_all=False))


def measure_assign(db: Any, url: str, log: Statements) -> None:
    """Assign every waiting prospect in one transaction, committed; prints the figures."""
    before = sql(url, "SELECT count(*) FROM contact_owners")[0][0]
    started = time.perf_counter()
    with db.unit_of_work() as session:
        done = assign(session, now=NOW)
    seconds = time.perf_counter() - started
    added = sql(url, "SELECT count(*) FROM contact_owners")[0][0] - before
    target = TARGETS["assign_100k_s"] * done.waiting / 100_000
    print(f"assign: {done.assigned:,} of {done.waiting:,} waiting prospects in {seconds:.2f} s "
          f"with commit ({done.seconds:.2f} s in the service; target ≤ {target:.1f} s: "
          f"{'ok' if seconds <= target else 'MISSES'}); contact_owners rows added {added:,}; "
          f"unassigned {done.unassigned}; by rule {done.by_rule}")  # fmt: skip
    log.report("assign")


def time_calls(db: Any, agents: list[str], now: datetime) -> list[tuple[float, str, Any]]:
    """Milliseconds, agent and answer of next_call for each agent, each rolled back."""
    found = []
    for agent in agents:
        started = time.perf_counter()
        with db.unit_of_work(dry_run=True) as session:
            answer = next_call(session, agent, now)
        found.append(((time.perf_counter() - started) * 1000, agent, answer))
    return found


def percentiles(timings: list[tuple[float, str, Any]]) -> tuple[float, float, float]:
    """p50, p95 and max of the timings (nearest rank)."""
    values = sorted(ms for ms, _, _ in timings)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return statistics.median(values), p95, values[-1]


def show_calls(url: str, timings: list[tuple[float, str, Any]]) -> None:
    """The slowest ten: time, how many prospects the agent owns, and the answer."""
    queues = dict(sql(url, "SELECT u.name, count(*) FROM contact_owners o JOIN users u ON "
                           "u.id = o.user_id GROUP BY u.name"))  # fmt: skip
    for ms, agent, answer in sorted(timings, key=lambda t: -t[0])[:10]:
        what = (f"contact {answer.contact['id']} ({answer.reason})" if answer.contact
                else f"nobody: {answer.nobody.code}")  # fmt: skip
        print(f"    {agent}: {ms:6.1f} ms, owns {queues.get(agent, 0):,}, {what}")


def agent_sample(count: int) -> list[str]:
    """agent001–004 (the largest queues) and others spread over the rest."""
    others = [5 + round(k * 95 / max(count - 4, 1)) for k in range(max(count - 4, 0))]
    return [f"agent{n:03d}" for n in [1, 2, 3, 4][:count] + others]


def measure_calls(db: Any, url: str, args: argparse.Namespace, log: Statements) -> None:
    """next_call inside the calling hours (after a warm-up call), then on a Saturday."""
    warm = time_calls(db, ["agent100"], NOW)
    log.report("next_call warm-up", top=3)
    with profiled(args.profile, "agents_next_call"):
        timings = time_calls(db, agent_sample(args.agents), NOW)
    p50, p95, worst = percentiles(timings)
    print(f"next_call at {NOW.isoformat()} ({len(timings)} agents, each rolled back): p50 "
          f"{p50:.1f} ms, p95 {p95:.1f} ms, max {worst:.1f} ms (target p95 ≤ "
          f"{TARGETS['next_call_p95_ms']:g} ms: "
          f"{'ok' if p95 <= TARGETS['next_call_p95_ms'] else 'MISSES'}); first call of the "
          f"process {warm[0][0]:.1f} ms")  # fmt: skip
    show_calls(url, timings)
    log.report("next_call", top=10)
    closed = time_calls(db, agent_sample(args.agents)[:20], SATURDAY)
    p50, p95, worst = percentiles(closed)
    print(f"next_call on Saturday {SATURDAY.isoformat()} ({len(closed)} agents): p50 "
          f"{p50:.1f} ms, p95 {p95:.1f} ms, max {worst:.1f} ms; "
          f"{closed[0][2].nobody.code}")  # fmt: skip
    log.report("next_call closed", top=3)


def main() -> None:
    """Build (or reuse) the database, run the measurements, print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--profile", metavar="DIR")
    for flag in ("--statements", "--keep", "--reuse"):
        parser.add_argument(flag, action="store_true")
    args = parser.parse_args()
    threadpool_limits(1)  # BLAS pinned: figures that do not depend on its threads
    url: str = args.db
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    else:
        ensure_database(url)
    print(f"machine: {machine()}\nengine: {server(url)}")
    built = run_build(url, args)
    db = Database(url, Settings()).ready()
    if built:
        print("build: " + ", ".join(f"{k} {v:,.{int(k[-2:] == '_s')}f}" for k, v in built.items()))
    print(f"data before the timed assignment: {sizes(url)}")
    log = Statements(db.engine, args.statements)
    with profiled(args.profile, "agents_assign"):
        measure_assign(db, url, log)
    measure_calls(db, url, args, log)
    print(f"data after: {sizes(url)}")
    db.dispose()


def run_build(url: str, args: argparse.Namespace) -> dict[str, float]:
    """A fresh database built here, or the kept copy with --reuse."""
    if args.reuse:
        snapshot(url, back=True)
        return {}
    reset(url)
    db = Database(url, Settings()).ready()
    built = build(url, db, args.contacts)
    db.dispose()
    if args.keep:
        snapshot(url, back=False)
    return built


if __name__ == "__main__":
    main()
