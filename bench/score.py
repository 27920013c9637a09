"""Interest scoring on 1,000,000 contacts and 5,000,000 events: `leadsift score`, twice.

Builds, on SQLite and PostgreSQL, a database of N valid contacts (written directly with SQL —
the import is not what is measured here), applies a playbook with `leadsift qualify` (timed,
not a target figure) and dates that run 60 days back (so silent leads are due for recycling),
then writes M events over those contacts directly (executemany on SQLite, COPY on PostgreSQL;
the events' indexes are dropped for the load and re-created from their own definitions, then
`VACUUM ANALYZE` on PostgreSQL, as autovacuum would after a bulk load), and times
`leadsift score` as a user runs it: the whole command and the `seconds` it reports, a first run
(which computes everyone's interest from the events, and recycles, qualifies and converts many
contacts, writing their stage changes with JSON explanations) and a second run (the steady
state: everyone rescored from the interest sums the first stored, few moves).

Event mix (deterministic, seed 5): 30 % of the contacts have no event; the others get a
skewed number of them (most a handful, a few hundreds); 81.5 % page views (paths /, /menu,
/pricing, /pricing/pro, /blog/…, /contact), 14 % email clicks, 2 % unsubscribes, 1.5 % forms,
0.6 % purchases, 0.4 % call-back requests; occurred_at uniform over the last 90 days.

Prints the machine, the data sizes and the figures; writes them as JSON to bench/out/.

    python bench/score.py [--contacts 1000000] [--events 5000000] [--backends sqlite,postgresql]
                          [--between 0] [--statements] [--profile] [--keep] [--reuse]

--between N stores N more events between the two runs (indexes in place, not rescored: the
second run finds them past the event id its first run took in); --statements times each SQL
statement of the two runs (SQLAlchemy cursor events in the child);
--profile writes a pyinstrument profile of each run to bench/out/; --keep keeps a snapshot of
the loaded database (bench_score_snapshot, or score.db.snapshot) that --reuse starts from.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import contextlib
import io
import json
import random
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, reset, run_measured, server

PG_URL = os.environ.get(
    "LEADSIFT_BENCH_SCORE_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench_score"
)
OUT = Path(__file__).resolve().parent / "out"
SQLITE_PATH = OUT / "score.db"
# Qualify is dated this far back, so leads have been leads long enough to be recycled.
QUALIFIED_DAYS_AGO = 60
EVENT_DAYS = 90
CHUNK = 100_000

ARA, IDF = "Auvergne-Rhône-Alpes", "Île-de-France"
CITIES = [
    ("69003", "Lyon", ARA),
    ("69100", "Villeurbanne", ARA),
    ("38000", "Grenoble", ARA),
    ("42000", "Saint-Étienne", ARA),
    ("75011", "Paris", IDF),
    ("13001", "Marseille", "Provence-Alpes-Côte d'Azur"),
    ("33000", "Bordeaux", "Nouvelle-Aquitaine"),
    ("59000", "Lille", "Hauts-de-France"),
    ("31000", "Toulouse", "Occitanie"),
    ("44000", "Nantes", "Pays de la Loire"),
]
FIRST = ["Jean", "Marie", "Pierre", "Camille", "Louis", "Lea", "Hugo", "Chloe", "Zoe", "Noe"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Lefevre"]
SOURCES = ["salon", "site web", "partenaire", "achat de fichier", "flyer"]
SEGMENTS = ["TPE", "PME", "ETI", "Grand compte", "Indépendant"]
# (event type, cumulative probability, paths it carries, source)
EVENT_MIX = [
    ("page_view", 0.815, ["/", "/", "/menu", "/menu", "/pricing", "/pricing/pro", "/blog/",
                          "/contact"], "web"),
    ("email_clicked", 0.955, ["/pricing", "/menu", "/"], "email"),
    ("email_unsubscribed", 0.975, ["/unsubscribe"], "email"),
    ("form_submitted", 0.990, ["/contact"], "web"),
    ("purchase", 0.996, ["/checkout"], "shop"),
    ("callback_requested", 1.0, ["/contact"], "web"),
]  # fmt: skip
PLAYBOOK = f"""\
name: Bench — interest scoring
locale: fr
default_region: FR
currency: EUR
eligibility: age between 25 and 55 and region in ("{ARA}", "{IDF}")
fit:
  - {{when: 'employees >= 10', points: 10, label: Équipe de 10 et plus}}
  - {{when: 'source in ("salon", "site web")', points: 5, label: Venu à nous}}
  - {{when: 'city in ("Lyon", "Paris")', points: 5, label: Grande ville}}
interest:
  half_life: 14d
  rules:
    - {{event: page_view, where: 'properties.path startswith "/pricing"', points: 10, cap: 30}}
    - {{event: page_view, points: 1, cap: 5}}
    - {{event: email_clicked, points: 10, cap: 40}}
    - {{event: form_submitted, points: 40}}
    - {{event: email_unsubscribed, points: -50}}
qualify: fit >= 10 and interest >= 40 or count(callback_requested) >= 1
recycle_after: 30d
"""
CONTACT_COLUMNS = [
    "email", "phone", "phone_raw", "first_name", "last_name", "birth_date", "age",
    "postal_code", "city", "region", "source", "stage", "attrs", "created_at", "updated_at",
]  # fmt: skip
EVENT_COLUMNS = [
    "type", "contact_id", "occurred_at", "received_at", "properties", "source", "campaign",
    "dedup_key", "payload_hash",
]  # fmt: skip
# Statement timings of the child process, written when it exits (--statements).
PROBE = """
import atexit, json, os, sys, time
from sqlalchemy import event
from sqlalchemy.engine import Engine
timings = []
@event.listens_for(Engine, "before_cursor_execute")
def _before(conn, cursor, statement, parameters, context, executemany):
    conn.info.setdefault("leadsift_bench_started", []).append(time.perf_counter())
@event.listens_for(Engine, "after_cursor_execute")
def _after(conn, cursor, statement, parameters, context, executemany):
    started = conn.info["leadsift_bench_started"].pop()
    timings.append((time.perf_counter() - started, statement, cursor.rowcount, executemany))
def _dump():
    with open(os.environ["LEADSIFT_BENCH_STATEMENTS"], "w") as handle:
        json.dump(timings, handle)
atexit.register(_dump)
"""
CLI_CODE = "import sys; from leadsift.cli import main; sys.exit(main())"


# --- data ----------------------------------------------------------------------------------


def _stamp(moment: datetime, sqlite: bool) -> str:
    """A timestamp as the column stores it (SQLAlchemy's text on SQLite; UTC for COPY)."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return text if sqlite else text + "+00"


def contact_rows(count: int, now: datetime, seed: int, sqlite: bool) -> Iterator[list[Any]]:
    """COUNT valid contacts as stored rows: normalised email and E.164 phone, a birth date or an
    imported age, city and region, custom attributes `employees` and `segment`."""
    rng = random.Random(seed)
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        national = f"6{i % 100_000_000:08d}" if i % 2 else f"7{5 + i % 5}{i % 10_000_000:07d}"
        birth, age = None, None
        if rng.random() < 0.75:
            birth = f"{rng.randint(1950, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        elif rng.random() < 0.9:
            age = rng.randint(18, 75)
        postal, city, region = rng.choice(CITIES)
        attrs = {"segment": rng.choice(SEGMENTS)}
        if rng.random() < 0.9:
            attrs["employees"] = rng.randint(1, 500)
        created = _stamp(now - timedelta(days=rng.uniform(120, 400)), sqlite)
        yield [
            f"{first}.{last}.{i}@exemple.fr".lower(),
            f"+33{national}",
            f"0{national}",
            first,
            last,
            birth,
            age,
            postal,
            city,
            region,
            rng.choice(SOURCES),
            "contact",
            json.dumps(attrs, ensure_ascii=False),
            created,
            created,
        ]


def event_rows(
    contact_ids: list[int], count: int, now: datetime, seed: int, sqlite: bool
) -> Iterator[list[Any]]:
    """COUNT events over the active 70 % of CONTACT_IDS, skewed: most contacts a handful."""
    rng = random.Random(seed)
    active = [i for i in contact_ids if rng.random() < 0.7]
    rng.shuffle(active)
    span = EVENT_DAYS * 86_400
    for _ in range(count):
        contact_id = active[int(len(active) * rng.random() ** 1.6)]
        draw = rng.random()
        kind, paths, source = next((k, p, s) for k, cut, p, s in EVENT_MIX if draw < cut)
        path = rng.choice(paths)
        if path == "/blog/":
            path += f"article-{rng.randint(1, 200)}"
        occurred = now - timedelta(seconds=rng.uniform(0, span))
        campaign = f"newsletter-{occurred:%Y-%m}" if source == "email" else None
        yield [
            kind,
            contact_id,
            _stamp(occurred, sqlite),
            _stamp(occurred + timedelta(seconds=rng.uniform(0.05, 3)), sqlite),
            json.dumps({"path": path}),
            source,
            campaign,
            rng.randbytes(16),
            rng.randbytes(16),
        ]


def _chunks(rows: Iterator[list[Any]]) -> Iterator[list[list[Any]]]:
    chunk: list[list[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- loading -------------------------------------------------------------------------------


def _sqlite_load(path: Path, table: str, columns: list[str], rows: Iterator[list[Any]]) -> None:
    """Insert ROWS with the table's secondary indexes dropped, then re-create them as defined."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute("PRAGMA cache_size = -1000000")
    connection.execute("PRAGMA foreign_keys = OFF")  # the rows are valid by construction
    indexes = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL",
        (table,),
    ).fetchall()
    connection.execute("BEGIN")
    for name, _ in indexes:
        connection.execute(f'DROP INDEX "{name}"')
    marks = ", ".join("?" for _ in columns)
    statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
    for chunk in _chunks(rows):
        connection.executemany(statement, chunk)
    for _, sql in indexes:
        connection.execute(sql)
    connection.execute("COMMIT")
    connection.close()


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _postgres_load(url: str, table: str, columns: list[str], rows: Iterator[list[Any]]) -> None:
    """COPY ROWS with the secondary indexes dropped and re-created as defined; foreign keys are
    not checked row by row (the rows are valid by construction); then VACUUM ANALYZE."""
    import psycopg

    dsn = url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn) as connection:
        indexes = connection.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT "
            "EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            (table,),
        ).fetchall()
        connection.execute("SET session_replication_role = replica")
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        with connection.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for chunk in _chunks(rows):
                buffer = io.StringIO()
                for row in chunk:
                    buffer.write("\t".join(_copy_value(v) for v in row))
                    buffer.write("\n")
                copy.write(buffer.getvalue())
        connection.execute("SET maintenance_work_mem = '512MB'")
        for _, sql in indexes:
            connection.execute(sql)
        connection.commit()
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"VACUUM ANALYZE {table}")


def load(url: str, table: str, columns: list[str], rows: Iterator[list[Any]]) -> None:
    """Bulk-load ROWS into TABLE on either engine."""
    if url.startswith("sqlite"):
        _sqlite_load(Path(url.removeprefix("sqlite:///")), table, columns, rows)
    else:
        _postgres_load(url, table, columns, rows)


def sql(url: str, statement: str, parameters: dict[str, Any] | None = None) -> list[Any]:
    """Run one statement in its own transaction; the rows it returns."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        result = conn.execute(text(statement), parameters or {})
        rows = list(result) if result.returns_rows else []
    engine.dispose()
    return rows


def backdate_qualify(url: str) -> None:
    """Date the qualify run QUALIFIED_DAYS_AGO back, as if events had come in since."""
    shift = timedelta(days=QUALIFIED_DAYS_AGO)
    if url.startswith("sqlite"):
        offset = f"'-{QUALIFIED_DAYS_AGO} days'"
        for table, column in (
            ("contacts", "stage_changed_at"),
            ("stage_changes", "changed_at"),
            ("contact_evaluations", "evaluated_at"),
        ):
            sql(
                url,
                f"UPDATE {table} SET {column} = strftime('%Y-%m-%d %H:%M:%S', {column}, "  # noqa: S608
                f"{offset}) || substr({column}, 20) WHERE {column} IS NOT NULL",
            )
        return
    for table, column in (
        ("contacts", "stage_changed_at"),
        ("stage_changes", "changed_at"),
        ("contact_evaluations", "evaluated_at"),
    ):
        sql(url, f"UPDATE {table} SET {column} = {column} - :shift", {"shift": shift})  # noqa: S608


def database_size(url: str) -> str:
    """The database's size on disk."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        total = sum(
            Path(f"{path}{s}").stat().st_size
            for s in ("", "-wal", "-shm")
            if Path(f"{path}{s}").exists()
        )
        return f"{total / 2**20:,.0f} MiB"
    return str(sql(url, "SELECT pg_size_pretty(pg_database_size(current_database()))")[0][0])


# --- snapshots (--keep / --reuse) ----------------------------------------------------------


def _admin(url: str, *statements: str) -> None:
    import psycopg

    dsn = url.replace("postgresql+psycopg", "postgresql").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


def ensure_database(url: str) -> None:
    """Create the bench's PostgreSQL database when it does not exist yet."""
    name = url.rsplit("/", 1)[1]
    import psycopg

    with contextlib.suppress(psycopg.errors.DuplicateDatabase):
        _admin(url, f"CREATE DATABASE {name}")


def snapshot(url: str) -> None:
    """Keep a copy of the loaded database, for --reuse."""
    if url.startswith("sqlite"):
        sql(url, "PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copyfile(SQLITE_PATH, SQLITE_PATH.with_suffix(".db.snapshot"))
        return
    name = url.rsplit("/", 1)[1]
    _admin(
        url,
        f"DROP DATABASE IF EXISTS {name}_snapshot",
        f"CREATE DATABASE {name}_snapshot TEMPLATE {name}",
    )


def restore(url: str) -> bool:
    """Start from the kept copy; False when there is none."""
    if url.startswith("sqlite"):
        kept = SQLITE_PATH.with_suffix(".db.snapshot")
        if not kept.exists():
            return False
        reset(url)
        shutil.copyfile(kept, SQLITE_PATH)
        return True
    name = url.rsplit("/", 1)[1]
    import psycopg

    try:
        _admin(
            url,
            f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
            f"CREATE DATABASE {name} TEMPLATE {name}_snapshot",
        )
    except psycopg.errors.InvalidCatalogName:
        _admin(url, f"CREATE DATABASE {name}")
        return False
    return True


# --- runs ----------------------------------------------------------------------------------


def cli(url: str, timeout: int, *args: str) -> Any:
    """Run the CLI as a user would (bounded by TIMEOUT); its JSON output, wall s, peak RSS."""
    command = [sys.executable, "-c", CLI_CODE, "--db", url, "--json", *args]
    bounded = ["timeout", "--kill-after=10", str(timeout), *command]
    seconds, peak, out = run_measured(bounded)
    return json.loads(out), seconds, peak


def score_run(url: str, label: str, args: argparse.Namespace) -> dict[str, Any]:
    """`leadsift score` once as a child process (with statement timings or a pyinstrument
    profile when asked)."""
    env = dict(os.environ)
    statements = OUT / f"score_{label}_statements.json"
    python = [sys.executable, "-c", CLI_CODE]
    if args.statements:
        env["LEADSIFT_BENCH_STATEMENTS"] = str(statements)
        python = [sys.executable, "-c", PROBE + "\n" + CLI_CODE]
    elif args.profile:
        profile = OUT / f"score_{label}.pyinstrument.txt"
        python = [sys.executable, "-m", "pyinstrument", "-o", str(profile), "-c", CLI_CODE]
    command = ["timeout", "--kill-after=10", str(args.timeout), *python]
    seconds, peak, out = run_measured([*command, "--db", url, "--json", "score"], env=env)
    result = {
        "summary": json.loads(out[out.index("{") :]),
        "wall": seconds,
        "peak": peak,
        "stage_change_rows": sql(url, "SELECT count(*) FROM stage_changes")[0][0],
        "score_rows": sql(url, "SELECT count(*) FROM contact_scores")[0][0],
    }
    if args.statements:
        result["statements"] = top_statements(statements)
    return result


def top_statements(path: Path, count: int = 12) -> list[dict[str, Any]]:
    """The slowest statements of a run (on SQLite a SELECT's time stops at its first row)."""
    timings = json.loads(path.read_text())
    timings.sort(key=lambda item: -item[0])
    return [
        {"seconds": s, "rows": rows, "many": many, "sql": " ".join(text.split())[:300]}
        for s, text, rows, many in timings[:count]
    ]


def build(url: str, args: argparse.Namespace, work: Path, now: datetime) -> dict[str, Any]:
    """A database with the contacts, the qualify run and the events; what was built."""
    from leadsift.config import Settings
    from leadsift.db import Database

    if not url.startswith("sqlite"):
        ensure_database(url)
    reset(url)
    Database(url, Settings()).ready().dispose()
    sqlite = url.startswith("sqlite")
    started = time.perf_counter()
    load(url, "contacts", CONTACT_COLUMNS, contact_rows(args.contacts, now, seed=3, sqlite=sqlite))
    created = _stamp(now, sqlite)
    for key, label, kind in (("employees", "Employés", "integer"), ("segment", "Segment", "text")):
        sql(
            url,
            "INSERT INTO attribute_definitions (key, label, value_type, created_at) "
            "VALUES (:key, :label, :kind, :at)",
            {"key": key, "label": label, "kind": kind, "at": created},
        )
    contacts_seconds = time.perf_counter() - started
    playbook = work / "playbook.yaml"
    playbook.write_text(PLAYBOOK, encoding="utf-8")
    qualified, qualify_wall, _ = cli(url, args.timeout, "qualify", "--playbook", str(playbook))
    backdate_qualify(url)
    started = time.perf_counter()
    ids = [row[0] for row in sql(url, "SELECT id FROM contacts ORDER BY id")]
    load(url, "events", EVENT_COLUMNS, event_rows(ids, args.events, now, seed=5, sqlite=sqlite))
    return {
        "contacts_seconds": contacts_seconds,
        "qualify": {"summary": qualified, "wall": qualify_wall},
        "events_seconds": time.perf_counter() - started,
    }


def describe(url: str) -> dict[str, Any]:
    """What the database holds: events by type, contacts with events, stages."""
    by_type = dict(sql(url, "SELECT type, count(*) FROM events GROUP BY type ORDER BY 2 DESC"))
    with_events = sql(url, "SELECT count(DISTINCT contact_id) FROM events")[0][0]
    top = sql(url, "SELECT max(n) FROM (SELECT count(*) AS n FROM events GROUP BY contact_id) t")
    stages = dict(sql(url, "SELECT stage, count(*) FROM contacts GROUP BY stage ORDER BY 1"))
    return {
        "events_by_type": by_type,
        "contacts_with_events": with_events,
        "most_events_of_one_contact": top[0][0],
        "stages_before": stages,
        "size": database_size(url),
    }


def append_events(url: str, count: int) -> None:
    """COUNT more events over the last 90 days, stored with the indexes in place and without
    their rescoring (as a direct load, or a crash before the rescoring, leaves them)."""
    sqlite = url.startswith("sqlite")
    ids = [row[0] for row in sql(url, "SELECT id FROM contacts ORDER BY id")]
    rows = list(event_rows(ids, count, datetime.now(UTC), seed=6, sqlite=sqlite))
    marks = ", ".join("?" for _ in EVENT_COLUMNS)
    statement = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({marks})"  # noqa: S608
    if sqlite:
        connection = sqlite3.connect(SQLITE_PATH, isolation_level=None)
        connection.execute("BEGIN")
        connection.executemany(statement, rows)
        connection.execute("COMMIT")
        connection.close()
        return
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as connection:
        copy_sql = f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
        with connection.cursor().copy(copy_sql) as copy:
            for row in rows:
                copy.write("\t".join(_copy_value(v) for v in row) + "\n")


def bench_backend(name: str, url: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Build (or restore) the data, then the two timed runs."""
    now = datetime.now(UTC)
    built: dict[str, Any] = {"reused": True}
    if not (args.reuse and restore(url)):
        built = build(url, args, work, now)
        if args.keep:
            snapshot(url)
    result: dict[str, Any] = {"backend": name, "server": server(url), **built, **describe(url)}
    result["load_average"] = [os.getloadavg()[0]]
    result["first"] = score_run(url, f"{name}_first", args)
    if args.between:
        append_events(url, args.between)
    result["second"] = score_run(url, f"{name}_second", args)
    result["load_average"].append(os.getloadavg()[0])
    return result


def report(result: dict[str, Any]) -> None:
    """Print one backend's figures."""
    print(f"\n## {result['backend']} ({result['server']}), database {result['size']}")
    print("  1-minute load average before / after: {:.1f} / {:.1f}".format(*result["load_average"]))
    if not result.get("reused"):
        q = result["qualify"]
        print(
            f"  built: contacts {result['contacts_seconds']:.0f} s, qualify (not a figure here) "
            f"{q['summary']['seconds']:.1f} s / {q['wall']:.1f} s whole, events "
            f"{result['events_seconds']:.0f} s"
        )
    types = ", ".join(f"{k} {v:,}" for k, v in result["events_by_type"].items())
    print(f"  events: {types}")
    print(
        f"  contacts with events {result['contacts_with_events']:,}, most events of one contact "
        f"{result['most_events_of_one_contact']:,}; stages before: {result['stages_before']}"
    )
    for label, key in (("first run", "first"), ("second run", "second")):
        run = result[key]
        summary = run["summary"]
        mark = "ok" if run["wall"] <= 10 else "MISSES"
        moved = sum(summary["moves"].values())
        print(
            f"  score, {label:<10} {summary['seconds']:6.2f} s in the command, "
            f"{run['wall']:6.2f} s whole ({mark} vs 10 s), peak {run['peak'] / 2**20:,.0f} MiB: "
            f"scored {summary['scored']:,} (rows {run['score_rows']:,}), moves {moved:,} "
            f"{summary['moves']}, stage_changes rows {run['stage_change_rows']:,}"
        )
        for item in run.get("statements", []):
            print(f"      {item['seconds']:7.3f} s  rows {item['rows']:>9}  {item['sql'][:150]}")
    print(f"  stages after: {result['second']['summary']['stages']}")


def main() -> None:
    """Build the data on each engine, time the two runs, print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per command")
    parser.add_argument("--statements", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--between", type=int, default=0, help="events stored between the runs, not rescored"
    )
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    print(f"machine: {machine()}")
    print(
        f"data: {args.contacts:,} contacts, {args.events:,} events over {EVENT_DAYS} days; "
        f"playbook with 5 interest rules, qualify run dated {QUALIFIED_DAYS_AGO} days back"
    )
    results: dict[str, Any] = {"machine": machine(), "args": vars(args), "backends": {}}
    work = OUT / "score_work"
    work.mkdir(exist_ok=True)
    for name in args.backends.split(","):
        url = f"sqlite:///{SQLITE_PATH}" if name == "sqlite" else PG_URL
        result = bench_backend(name, url, args, work)
        results["backends"][name] = result
        report(result)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = OUT / f"score_{args.contacts}_{args.events}_{stamp}.json"
    target.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(f"\nresults: {target}")


if __name__ == "__main__":
    main()
