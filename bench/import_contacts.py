"""Import 1,000,000 contacts (12 columns, 10 % duplicates in other notations, 1 % invalid).

Times `leadsift import contacts` on SQLite and PostgreSQL — into an empty database, again into
one already holding the first million (throughput must stay flat), a re-import of the same file
(all unchanged) — and, in the same run, a baseline: pandas read_csv + the same validation with
the reference libraries (email-validator, phonenumbers) + DataFrame.to_sql. Also times a
10,000-row file. Prints the figures with the machine and the data size.

    python bench/import_contacts.py [--rows 1000000] [--backends sqlite,postgresql] [--no-baseline]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, reset, run_measured, server

PG_URL = os.environ.get(
    "LEADSIFT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
HEADER = [
    "email",
    "phone",
    "first_name",
    "last_name",
    "birth_date",
    "postal_code",
    "city",
    "region",
    "company",
    "job_title",
    "source",
    "consent_email",
]
FIRST = ["Jean", "Marie", "Pierre", "Camille", "Louis", "Léa", "Hugo", "Chloé", "Zoé", "Noé"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Lefèvre"]
CITIES = [
    ("69003", "Lyon", "Auvergne-Rhône-Alpes"),
    ("75011", "Paris", "Île-de-France"),
    ("13001", "Marseille", "Provence-Alpes-Côte d'Azur"),
    ("33000", "Bordeaux", "Nouvelle-Aquitaine"),
    ("59000", "Lille", "Hauts-de-France"),
]
JOBS = ["Gérant", "Directrice marketing", "Responsable achats", "Comptable", "Commercial"]
SOURCES = ["salon", "site web", "partenaire", "achat de fichier"]


def _phone_notations(national: str) -> list[str]:
    """Other ways people write the same French mobile number."""
    n = national  # 10 digits starting with 0
    pairs = " ".join(n[i : i + 2] for i in range(0, 10, 2))
    return [
        pairs,
        n.replace("0", "+33", 1),
        f"0033 {n[1:]}",
        f"+33 (0){n[1]} {pairs[3:]}",
        ".".join(n[i : i + 2] for i in range(0, 10, 2)),
    ]


def _ascii(text: str) -> str:
    """Addresses are written without accents, as mail providers require in practice."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def generate(path: Path, rows: int, seed: int, offset: int = 0) -> dict[str, int]:
    """Write ROWS rows: ~90 % distinct people, ~10 % duplicates re-written, ~1 % invalid."""
    rng = random.Random(seed)
    distinct = int(rows * 0.9)
    stats = {"rows": rows, "distinct": distinct, "duplicates": rows - distinct, "invalid": 0}
    people: list[tuple[str, str]] = []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            if i < distinct or not people:
                number = offset + i
                local = f"{rng.choice(FIRST)}.{rng.choice(LAST)}.{number}".lower()
                email = f"{_ascii(local)}@exemple.fr"
                # 06 and 075-079 are French mobile ranges (070-074 are not allocated).
                national = (
                    f"06{number % 100_000_000:08d}"
                    if number % 2
                    else f"07{5 + number % 5}{number % 10_000_000:07d}"
                )
                people.append((email, national))
                phone = rng.choice(_phone_notations(national))
            else:
                email, national = people[rng.randrange(len(people))]
                email = email.upper() if rng.random() < 0.5 else f"  {email.title()} "
                phone = rng.choice(_phone_notations(national))
            if rng.random() < 0.01:
                stats["invalid"] += 1
                if rng.random() < 0.5:
                    email = email.replace("@", " at ")
                else:
                    phone = phone[:5]
            postal, city, region = rng.choice(CITIES)
            writer.writerow(
                [
                    email,
                    phone,
                    rng.choice(FIRST),
                    rng.choice(LAST),
                    f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1950, 2005)}",
                    postal,
                    city,
                    region,
                    f"Société {rng.randint(1, 50_000)}",
                    rng.choice(JOBS),
                    rng.choice(SOURCES),
                    rng.choice(["oui", "non", ""]),
                ]
            )
    return stats


def leadsift_import(url: str, path: Path, *extra: str) -> tuple[dict[str, object], float, int]:
    """Run the CLI as a user would; return its JSON summary, wall seconds and peak RSS."""
    command = [
        sys.executable,
        "-c",
        "import sys; from leadsift.cli import main; sys.exit(main())",
        "--db",
        url,
        "--json",
        "import",
        "contacts",
        str(path),
        *extra,
    ]
    seconds, peak, out = run_measured(command)
    return json.loads(out), seconds, peak


def baseline(url: str, path: Path) -> tuple[float, int]:
    """pandas read_csv + reference validation + to_sql, timed in a child process."""
    code = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from _baseline import run
print(run({url!r}, {str(path)!r}))
"""
    seconds, peak, _ = run_measured([sys.executable, "-c", code])
    return seconds, peak


def _server_label(url: str) -> str:
    return f" ({server(url)})"


def _rate(rows: int, seconds: float) -> str:
    return f"{seconds:6.1f} s  {rows / seconds:>9,.0f} rows/s"


def bench_backend(
    name: str, url: str, files: dict[str, Path], rows: int, with_baseline: bool
) -> dict[str, object]:
    """All measurements for one backend."""
    reset(url)
    results: dict[str, object] = {}
    first, seconds, peak = leadsift_import(url, files["first"])
    results["empty"] = (first, seconds, peak)
    second, seconds2, peak2 = leadsift_import(url, files["second"])
    results["populated"] = (second, seconds2, peak2)
    again, seconds3, peak3 = leadsift_import(url, files["first"])
    results["reimport"] = (again, seconds3, peak3)
    reset(url)
    small, seconds4, _ = leadsift_import(url, files["small"])
    results["small"] = (small, seconds4, 0)
    if with_baseline:
        reset(url)
        results["baseline"] = baseline(url, files["first"])
    print(f"\n## {name}{_server_label(url)}")
    for label, key in (
        ("into an empty database", "empty"),
        (f"into a database holding {first['created']:,} contacts", "populated"),
        ("re-import of the same file (all unchanged)", "reimport"),
    ):
        summary, wall, mem = results[key]  # type: ignore[misc]
        print(
            f"  {label:<48} {_rate(rows, wall)}  (import {summary['seconds']:.1f} s, "
            f"peak {mem / 2**20:,.0f} MiB)  created {summary['created']:,} merged "
            f"{summary['merged']:,} unchanged {summary['unchanged']:,} rejected "
            f"{summary['rejected']:,}"
        )
    summary, wall, _ = results["small"]  # type: ignore[misc]
    print(
        f"  10,000-row file: {summary['seconds']:.2f} s in the import, {wall:.2f} s for the "
        f"whole command (process start included)"
    )
    if with_baseline:
        b_seconds, b_peak = results["baseline"]  # type: ignore[misc]
        _, wall, _ = results["empty"]  # type: ignore[misc]
        print(
            f"  baseline pandas + reference validators + to_sql: {_rate(rows, b_seconds)} "
            f"(peak {b_peak / 2**20:,.0f} MiB) → leadsift is {b_seconds / wall:.1f}× faster"
        )
    return results


def main() -> None:
    """Generate the files, run every measurement, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="leadsift-bench-") as folder:
        work = Path(folder)
        started = time.perf_counter()
        files = {
            "first": work / "contacts_1.csv",
            "second": work / "contacts_2.csv",
            "small": work / "contacts_10k.csv",
        }
        stats = generate(files["first"], args.rows, seed=1)
        generate(files["second"], args.rows, seed=2, offset=args.rows)
        generate(files["small"], 10_000, seed=3, offset=3 * args.rows)
        size = files["first"].stat().st_size / 2**20
        print(f"machine: {machine()}")
        print(
            f"data: {stats['rows']:,} rows × {len(HEADER)} columns ({size:,.0f} MiB CSV): "
            f"{stats['distinct']:,} people, {stats['duplicates']:,} duplicates in other "
            f"notations, {stats['invalid']:,} invalid; generated in "
            f"{time.perf_counter() - started:.0f} s"
        )
        for name in args.backends.split(","):
            url = f"sqlite:///{work / 'bench.db'}" if name == "sqlite" else PG_URL
            bench_backend(name, url, files, args.rows, not args.no_baseline)


if __name__ == "__main__":
    main()
