"""Import 1,000,000 events over 100,000 contacts with `leadsift import events`.

Generates the contacts (imported with the CLI, then qualified by a playbook with interest rules,
so every imported event's contact is rescored and may be promoted, as in real use) and a CSV of
events: page_view / email_clicked / form_submitted with a `path` property, occurred_at spread
over the last 60 days, an idempotency key per event, the contact given by email. Times the
import into a database holding no event, then the re-import of the same file (all duplicates),
on SQLite and PostgreSQL, each in a child process as a user would run it.

    python bench/import_events.py [--events 1000000] [--contacts 100000]
                                  [--backends sqlite,postgresql] [--no-playbook]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, reset, run_measured, server

PG_URL = os.environ.get(
    "LEADSIFT_BENCH_EVENTS_POSTGRES_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/bench_events",
)
TYPES = [("page_view", 0.80), ("email_clicked", 0.15), ("form_submitted", 0.05)]
PATHS = ["/", "/menu", "/menu/desserts", "/pricing", "/contact", "/blog/recettes", "/offre"]
PLAYBOOK = """\
name: Bench — interest
locale: fr
default_region: FR
currency: EUR
eligibility: email is not null
interest:
  half_life: 14d
  rules:
    - {event: page_view, where: 'properties.path startswith "/menu"', points: 5, cap: 25}
    - {event: page_view, where: 'properties.path startswith "/pricing"', points: 10, cap: 30}
    - {event: email_clicked, points: 10}
    - {event: form_submitted, points: 40}
qualify: interest >= 60
recycle_after: 30d
"""


def _email(number: int) -> str:
    return f"client.{number}@exemple.fr"


def generate_contacts(path: Path, contacts: int) -> None:
    """One row per contact: email and first name."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "first_name"])
        writer.writerows([_email(n), f"Client {n}"] for n in range(contacts))


def generate_events(path: Path, events: int, contacts: int, seed: int) -> None:
    """EVENTS rows over CONTACTS people, dated over the last 60 days (before now)."""
    rng = random.Random(seed)
    end = datetime.now(UTC) - timedelta(hours=1)
    span = int(timedelta(days=60).total_seconds())
    names = [name for name, _ in TYPES]
    weights = [weight for _, weight in TYPES]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["type", "email", "occurred_at", "path", "idempotency_key"])
        block = 100_000
        for start in range(0, events, block):
            count = min(block, events - start)
            kinds = rng.choices(names, weights, k=count)
            rows = []
            for offset, kind in enumerate(kinds):
                moment = end - timedelta(seconds=rng.randrange(span))
                rows.append(
                    (
                        kind,
                        _email(rng.randrange(contacts)),
                        moment.isoformat(timespec="seconds"),
                        rng.choice(PATHS) if kind == "page_view" else "",
                        f"bench-{seed}-{start + offset}",
                    )
                )
            writer.writerows(rows)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def leadsift(url: str, *args: str) -> tuple[dict[str, object], float, int]:
    """Run the CLI as a user would; return its JSON document, wall seconds and peak RSS (and
    the process's CPU seconds in the document, as `cpu`: other work on the machine stretches
    the wall time, and on PostgreSQL the server's work is not in it)."""
    command = [
        sys.executable,
        "-c",
        "import sys; from leadsift.cli import main; sys.exit(main())",
        "--db",
        url,
        "--json",
        *args,
    ]
    before = _children_cpu()
    seconds, peak, out = run_measured(command)
    document = json.loads(out)
    document["cpu"] = _children_cpu() - before
    return document, seconds, peak


def ensure_database(url: str) -> None:
    """Create the bench's PostgreSQL database when missing (never the tests' one)."""
    if url.startswith("sqlite"):
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
        ).first()
        if exists is None:
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def _rate(rows: int, seconds: float) -> str:
    return f"{seconds:6.1f} s  {rows / seconds:>9,.0f} events/s"


def bench_backend(name: str, url: str, files: dict[str, Path], playbook: bool) -> None:
    """Set up the contacts, then time the import and the re-import."""
    ensure_database(url)
    reset(url)
    contacts, seconds, _ = leadsift(url, "import", "contacts", str(files["contacts"]))
    setup = f"{contacts['created']:,} contacts imported in {seconds:.1f} s"
    if playbook:
        qualified, seconds, _ = leadsift(url, "qualify", "--playbook", str(files["playbook"]))
        setup += f", qualified in {seconds:.1f} s ({qualified['stages']})"
    print(f"\n## {name} ({server(url)})\n  {setup}")
    for label in ("into a database without events", "re-import of the same file"):
        summary, wall, peak = leadsift(url, "import", "events", str(files["events"]))
        rows = int(summary["rows"])  # type: ignore[call-overload]
        print(
            f"  {label:<34} {_rate(rows, wall)}  (import {summary['seconds']:.1f} s, "
            f"client CPU {summary['cpu']:.1f} s, peak {peak / 2**20:,.0f} MiB)  inserted "
            f"{summary['inserted']:,} duplicates {summary['duplicates']:,} rejected "
            f"{summary['rejected']:,} rescored {summary['contacts_rescored']:,}"
        )


def main() -> None:
    """Generate the files, run every measurement, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--no-playbook", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leadsift-bench-") as folder:
        work = Path(folder)
        started = time.perf_counter()
        files = {
            "contacts": work / "contacts.csv",
            "events": work / "events.csv",
            "playbook": work / "playbook.yaml",
        }
        generate_contacts(files["contacts"], args.contacts)
        generate_events(files["events"], args.events, args.contacts, seed=1)
        files["playbook"].write_text(PLAYBOOK, encoding="utf-8")
        size = files["events"].stat().st_size / 2**20
        print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f} at the start")
        print(
            f"data: {args.events:,} events ({size:,.0f} MiB CSV) over {args.contacts:,} "
            f"contacts, generated in {time.perf_counter() - started:.0f} s; playbook "
            f"{'none' if args.no_playbook else 'with interest rules (rescoring included)'}"
        )
        for name in args.backends.split(","):
            url = f"sqlite:///{work / 'bench.db'}" if name == "sqlite" else PG_URL
            bench_backend(name, url, files, not args.no_playbook)


if __name__ == "__main__":
    main()
