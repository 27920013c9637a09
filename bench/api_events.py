"""POST /api/v1/events under load: one uvicorn worker (`leadsift serve`), wrk from a second
process on loopback, on SQLite and PostgreSQL.

For each engine: a fresh workspace with --contacts contacts and a playbook with interest rules
and a qualify policy (so every event is scored and may move its contact before the answer), an
ingest key, `leadsift serve` in a child process, then

- one event per request at 32 connections for --duration seconds (target ≥ 2,000 req/s with
  p99 ≤ 50 ms);
- batches of 1,000 events at 4 connections for --duration seconds (target ≥ 100,000 events/s);

each bounded by wrk's duration and a hard timeout. After each run the events stored are
counted and compared with the requests wrk saw answered; the server's CPU per request is
printed beside the rate.

    python bench/api_events.py [--engines sqlite,postgresql] [--duration 10] [--contacts 10000]
        [--quiet-wait 120]

PostgreSQL: $LEADSIFT_BENCH_POSTGRES_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/
bench_api (created when missing; its schema is dropped and recreated).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, reset, server
from _load import (
    WRK_DIR,
    LoadResult,
    cpu_seconds,
    free_port,
    run_wrk,
    server_log,
    start_server,
    stop_server,
    wait_quiet,
)
from leadsift.engagement.models import Event

OUT = Path(__file__).resolve().parent / "out"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_api"
PLAYBOOK = """\
name: API bench
eligibility: age >= 18
fit:
  - {when: 'city = "Lyon"', points: 10}
interest:
  half_life: 14d
  rules:
    - {event: page_view, where: 'properties.path startswith "/pricing"', points: 10, cap: 30}
    - {event: page_view, points: 1, cap: 5}
    - {event: email_clicked, points: 10}
    - {event: form_submitted, points: 40}
qualify: fit >= 10 and interest >= 40 or count(callback_requested) >= 1
recycle_after: 30d
"""


def leadsift(url: str, *args: str) -> str:
    """Run the CLI on URL in a child process; return its stdout."""
    command = [sys.executable, "-m", "leadsift.cli", "--db", url, *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def prepare(url: str, contacts: int, folder: Path) -> str:
    """A fresh workspace with CONTACTS contacts, the playbook applied; returns an ingest key."""
    reset(url)
    path = folder / "contacts.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "age", "city"])
        for n in range(1, contacts + 1):
            writer.writerow([f"u{n}@bench.example", 18 + n % 50, "Lyon" if n % 2 else "Paris"])
    (folder / "playbook.yaml").write_text(PLAYBOOK, encoding="utf-8")
    leadsift(url, "import", "contacts", str(path))
    leadsift(url, "qualify", "--playbook", str(folder / "playbook.yaml"))
    created = json.loads(leadsift(url, "--json", "apikey", "create", "--name", "bench"))
    return str(created["key"])


def stored_events(url: str) -> int:
    """How many events the workspace holds."""
    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(Event.__table__)).scalar_one()
    engine.dispose()
    return int(count)


def ensure_postgres(url: str) -> None:
    """Create the bench database when it does not exist."""
    base, _, name = url.rpartition("/")
    engine = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if exists.scalar() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def measure(
    url: str, port: int, key: str, *, contacts: int, duration: int, quiet: float
) -> list[tuple[str, LoadResult, float, int]]:
    """Run both loads against a started server; (name, result, server CPU s, events stored)."""
    env = {"BENCH_API_KEY": key, "BENCH_CONTACTS": str(contacts)}
    command = [sys.executable, "-m", "leadsift.cli", "--db", url, "serve", "--port", str(port)]
    proc = start_server(command, f"http://127.0.0.1:{port}/openapi.json", None)
    runs = []
    try:
        endpoint = f"http://127.0.0.1:{port}/api/v1/events"
        loads = (
            ("1 event/request, 32 connections", "events_single.lua", 32, {}),
            ("1,000 events/request, 4 connections", "events_batch.lua", 4, {"BENCH_BATCH": "1000"}),
        )
        for name, script, connections, extra in loads:
            if quiet:
                wait_quiet(max_wait=quiet)
            before_events, before_cpu = stored_events(url), cpu_seconds(proc.pid)
            result = run_wrk(endpoint, WRK_DIR / script, connections, duration, env=env | extra)
            time.sleep(0.5)  # answers in flight when wrk stopped
            cpu = cpu_seconds(proc.pid) - before_cpu
            runs.append((name, result, cpu, stored_events(url) - before_events))
            if result.non_2xx or result.errors:
                print(f"  server log after {name}:\n{server_log(proc, 4000)}")
    finally:
        stop_server(proc)
    return runs


def main() -> None:
    """Measure both engines and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--quiet-wait", type=float, default=120.0)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    print(machine())
    for engine in args.engines.split(","):
        folder = Path(tempfile.mkdtemp(prefix=f"api-{engine}-", dir=OUT))
        if engine == "sqlite":
            url = f"sqlite:///{folder / 'bench.db'}"
        else:
            url = os.environ.get("LEADSIFT_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
            ensure_postgres(url)
        key = prepare(url, args.contacts, folder)
        print(f"\n{server(url)} · {args.contacts:,} contacts · one uvicorn worker")
        runs = measure(
            url,
            free_port(),
            key,
            contacts=args.contacts,
            duration=args.duration,
            quiet=args.quiet_wait,
        )
        shutil.rmtree(folder, ignore_errors=True)
        for name, result, cpu, stored in runs:
            answered = result.requests - result.non_2xx
            per = 1000 if "1,000" in name else 1
            print(f"  {name}: {result.line()}")
            print(
                f"    events/s {result.rps * per:,.0f} · stored {stored:,} (answered "
                f"{answered * per:,}) · server CPU {cpu / max(result.requests, 1) * 1e6:,.0f} "
                f"µs/request"
            )


if __name__ == "__main__":
    main()
