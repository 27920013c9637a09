"""Predictive scoring speed: train on the 41,188 bank rows, score 1,000,000 contacts, score one.

On each engine: imports the bank-marketing file with the product (`import contacts
--generate-ids`) and times `model train --label y --positive yes --exclude duration` on that
workspace; then tiles its contacts up to 1,000,000 with SQL `INSERT … SELECT` (every column as
the import stored it, fresh ids and external ids, `y` removed from the copies' attributes so the
41,188 originals stay the only training population; a sample of copies is checked against
their originals), trains again there (timed too), times `model score` twice (the whole command
and its own `seconds`), and, in this process after a warm-up, `service.score_contacts` for 300
random contacts, each in its own unit of work (commit included). Prints the figures against the
issue's targets for every engine; writes them as JSON to bench/out/.

    python bench/model_speed.py [--engines sqlite,postgresql] [--contacts 1000000] [--keep]
                                [--profile] [--timeout 900]

--keep reuses the loaded database when it holds the tiled contacts (no rebuild); --profile adds
a third, untimed `model score` run under pyinstrument (bench/out/model_speed_ENGINE.txt).
"""

from __future__ import annotations

import os

# Before numpy is imported, and inherited by the commands run as children: one BLAS/OpenMP
# thread each, so this process and the product (which sets LightGBM's threads itself) do not
# oversubscribe the machine's cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, reset, run_measured, server
from model_quality import code_state
from score import CLI_CODE, cli, database_size, ensure_database, sql

OUT = Path(__file__).resolve().parent / "out"
SQLITE_PATH = OUT / "model_speed.db"
DATA = Path(
    os.environ.get("LEADSIFT_BENCH_DATA", Path(__file__).resolve().parents[2] / "shared/data")
)
BANK = DATA / "bank-marketing/bank-additional-full.csv.gz"
PG_URL = os.environ.get(
    "LEADSIFT_BENCH_MODEL_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench_model"
)
TRAIN = ["model", "train", "--label", "y", "--positive", "yes", "--exclude", "duration"]
SINGLE_SAMPLES, SINGLE_WARMUP, SAMPLE_COPIES = 300, 30, 2_000
TARGETS = {"train": 5.0, "score": 15.0, "single_ms": 5.0}


def _url(engine: str) -> str:
    return f"sqlite:///{SQLITE_PATH}" if engine == "sqlite" else PG_URL


# --- data ----------------------------------------------------------------------------------


def _has_y(url: str) -> str:
    """SQL counting the contacts whose attributes hold `y` (the training population)."""
    test = "json_type(attrs, '$.y') IS NOT NULL" if url.startswith("sqlite") else "attrs ? 'y'"
    return f"SELECT count(*) FROM contacts WHERE {test}"  # noqa: S608


def loaded(url: str, contacts: int) -> bool:
    """Whether the database already holds the tiled contacts (for --keep)."""
    if url.startswith("sqlite") and not SQLITE_PATH.exists():
        return False
    try:
        total = sql(url, "SELECT count(*) FROM contacts")[0][0]
        labelled = sql(url, _has_y(url))[0][0]
    except Exception:  # no table yet: an empty or foreign database
        return False
    return bool(total == contacts and 0 < labelled < contacts)


def tile(url: str, total: int) -> dict[str, Any]:
    """Copy the imported contacts (fresh ids and external ids, no `y`) until there are TOTAL."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    names = [c["name"] for c in inspect(engine).get_columns("contacts") if c["name"] != "id"]
    drop_y = "json_remove(attrs, '$.y')" if url.startswith("sqlite") else "attrs - 'y'"
    changed = {"external_id": "external_id || '-' || :copy", "attrs": drop_y}
    quoted = [f'"{name}"' for name in names]
    selected = ", ".join(changed.get(name, q) for name, q in zip(names, quoted, strict=True))
    statement = text(
        f"INSERT INTO contacts ({', '.join(quoted)}) "  # noqa: S608
        f"SELECT {selected} FROM contacts WHERE id <= :last ORDER BY id LIMIT :rows"
    )
    started = time.perf_counter()
    with engine.begin() as conn:
        originals, last = conn.execute(text("SELECT count(*), max(id) FROM contacts")).one()
        made, copy = originals, 0
        while made < total:
            copy += 1
            rows = min(originals, total - made)
            conn.execute(statement, {"copy": str(copy), "last": last, "rows": rows})
            made += rows
    engine.dispose()
    result = {"originals": originals, "copies": copy, "seconds": time.perf_counter() - started}
    if not url.startswith("sqlite"):
        # As autovacuum would after a bulk load: the planner needs the new row counts.
        started = time.perf_counter()
        _autocommit(url, "VACUUM ANALYZE contacts")
        result["vacuum_seconds"] = time.perf_counter() - started
    return result


def _autocommit(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(statement)


def _row_dict(row: Any) -> dict[str, Any]:
    values = dict(row._mapping)
    if isinstance(values["attrs"], str):
        values["attrs"] = json.loads(values["attrs"])
    return values


def check_copies(url: str, seed: int) -> dict[str, Any]:
    """Counts, and whether sampled copies equal their originals but for id, external id and y."""
    total = sql(url, "SELECT count(*) FROM contacts")[0][0]
    labelled = sql(url, _has_y(url))[0][0]
    ids = random.Random(seed).sample(
        range(labelled + 1, total + 1), min(SAMPLE_COPIES, total - labelled)
    )
    listed = ", ".join(str(i) for i in ids)
    copies = [_row_dict(r) for r in sql(url, f"SELECT * FROM contacts WHERE id IN ({listed})")]  # noqa: S608
    wanted = ", ".join(f"'{c['external_id'].rsplit('-', 1)[0]}'" for c in copies)
    originals = {
        r["external_id"]: r
        for r in map(_row_dict, sql(url, f"SELECT * FROM contacts WHERE external_id IN ({wanted})"))  # noqa: S608
    }
    differ = 0
    for copy in copies:
        original = dict(originals[copy["external_id"].rsplit("-", 1)[0]])
        original["attrs"] = {k: v for k, v in original["attrs"].items() if k != "y"}
        original.update(id=copy["id"], external_id=copy["external_id"])
        differ += original != copy
    return {"contacts": total, "labelled": labelled, "sampled": len(copies), "differ": differ}


def build(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Import the bank file, time a training on it, tile it to the wanted size; what was done."""
    reset(url)
    imported, import_wall, _ = cli(
        url, args.timeout, "import", "contacts", str(BANK), "--generate-ids"
    )
    trained, wall, peak = cli(url, args.timeout, *TRAIN)
    return {
        "import": {"summary": imported, "wall": import_wall},
        "train_small": {"summary": trained, "wall": wall, "peak": peak},
        "tile": tile(url, args.contacts),
    }


# --- runs ----------------------------------------------------------------------------------


def score_run(url: str, args: argparse.Namespace, profile: Path | None = None) -> dict[str, Any]:
    """`leadsift model score` as a child process (under pyinstrument when PROFILE is given)."""
    python = [sys.executable, "-c", CLI_CODE]
    if profile is not None:
        python = [sys.executable, "-m", "pyinstrument", "-o", str(profile), "-c", CLI_CODE]
    command = ["timeout", "--kill-after=10", str(args.timeout), *python]
    seconds, peak, out = run_measured([*command, "--db", url, "--json", "model", "score"])
    return {
        "summary": json.loads(out[out.index("{") :]),
        "wall": seconds,
        "peak": peak,
        "prediction_rows": sql(url, "SELECT count(*) FROM contact_predictions")[0][0],
    }


def _probabilities(url: str, ids: list[int]) -> dict[int, float]:
    listed = ", ".join(str(i) for i in ids)
    query = (
        f"SELECT contact_id, probability FROM contact_predictions WHERE contact_id IN ({listed})"  # noqa: S608
    )
    return dict(sql(url, query))


def single_contact(url: str, seed: int) -> dict[str, Any]:
    """Rescore random contacts one at a time in-process, each in its own unit of work."""
    from leadsift.config import Settings
    from leadsift.db import Database
    from leadsift.kit.clock import utcnow
    from leadsift.scoring import service

    ids = [row[0] for row in sql(url, "SELECT id FROM contacts")]
    chosen = random.Random(seed).sample(ids, SINGLE_WARMUP + SINGLE_SAMPLES)
    bulk = _probabilities(url, chosen[SINGLE_WARMUP:])
    database = Database(url, Settings()).ready()
    timings: list[float] = []
    scored = 0
    for i, contact_id in enumerate(chosen):
        started = time.perf_counter()
        with database.unit_of_work() as session:
            count = service.score_contacts(session, [contact_id], utcnow())
        if i >= SINGLE_WARMUP:  # the first calls load the model and warm the caches
            timings.append((time.perf_counter() - started) * 1000)
            scored += count
    database.dispose()
    single = _probabilities(url, chosen[SINGLE_WARMUP:])
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return {
        "samples": len(timings),
        "warmup": SINGLE_WARMUP,
        "scored": scored,
        "p50": cuts[49],
        "p95": cuts[94],
        "p99": cuts[98],
        "mean": statistics.fmean(timings),
        "max": max(timings),
        # The one-contact path must give what the bulk scoring gave (same model, same features).
        "max_difference_from_bulk": max(abs(single[i] - bulk[i]) for i in bulk),
    }


def bench_engine(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Build (or reuse) the data on one engine, then train, score twice, score one at a time."""
    url = _url(name)
    if name != "sqlite":
        ensure_database(url)
    result: dict[str, Any] = {"engine": name, "load_average": [os.getloadavg()[0]]}
    if args.keep and loaded(url, args.contacts):
        result["built"] = None
    else:
        result["built"] = build(url, args)
    result["server"], result["size"] = server(url), database_size(url)
    result["check"] = check_copies(url, seed=7)
    trained, wall, peak = cli(url, args.timeout, *TRAIN)
    result["train"] = {"summary": trained, "wall": wall, "peak": peak}
    result["score"] = [score_run(url, args), score_run(url, args)]
    result["single"] = single_contact(url, seed=11)
    if args.profile:
        profile = OUT / f"model_speed_{name}.txt"
        result["profiled"] = score_run(url, args, profile) | {"profile": str(profile)}
    result["load_average"].append(os.getloadavg()[0])
    return result


# --- report --------------------------------------------------------------------------------


def _mark(value: float, target: float) -> str:
    return "ok" if value <= target else "MISSES"


def report_engine(result: dict[str, Any]) -> None:
    """One engine's build, data check and runs, in detail."""
    print(f"\n## {result['engine']} ({result['server']}), database {result['size']}")
    print("  1-minute load average before / after: {:.2f} / {:.2f}".format(*result["load_average"]))
    built = result["built"]
    if built is None:
        print("  data: reused (--keep); the 41,188-contact training was not re-run")
    else:
        imported, tiled = built["import"], built["tile"]
        print(
            f"  import --generate-ids: {imported['summary']['created']:,} created, "
            f"{imported['summary']['seconds']:.2f} s in the command, {imported['wall']:.2f} s "
            f"whole; tiled to {result['check']['contacts']:,} with {tiled['copies']} copies in "
            f"{tiled['seconds']:.1f} s"
            + (
                f", VACUUM ANALYZE {tiled['vacuum_seconds']:.1f} s"
                if "vacuum_seconds" in tiled
                else ""
            )
        )
        _print_train("train, 41,188-contact workspace", built["train_small"])
    check = result["check"]
    print(
        f"  data check: {check['contacts']:,} contacts, {check['labelled']:,} with y (the "
        f"training population), {check['sampled']:,} sampled copies differ from their original "
        f"(but for id, external id and y): {check['differ']}"
    )
    _print_train(f"train, {check['contacts']:,}-contact workspace", result["train"])
    for i, run in enumerate(result["score"], 1):
        _print_score(f"score run {i}", run)
    if "profiled" in result:
        _print_score("profiled run (not a figure)", result["profiled"])
        print(f"    profile: {result['profiled']['profile']}")
    single = result["single"]
    print(
        f"  one contact ({single['samples']} after {single['warmup']} warm-up, each its own unit "
        f"of work): p50 {single['p50']:.2f} ms, p95 {single['p95']:.2f} ms, p99 "
        f"{single['p99']:.2f} ms, mean {single['mean']:.2f} ms, max {single['max']:.2f} ms; "
        f"scored {single['scored']}; largest difference from the bulk probability "
        f"{single['max_difference_from_bulk']:.2e}"
    )


def _print_train(label: str, run: dict[str, Any]) -> None:
    summary = run["summary"]
    print(
        f"  {label}: {summary['kind']} on {summary['rows']:,} rows ({summary['positives']:,} "
        f"positives), ROC AUC {summary['metrics']['roc_auc']:.4f}; {summary['seconds']:.2f} s "
        f"in the command, {run['wall']:.2f} s whole, peak {run['peak'] / 2**20:,.0f} MiB"
    )


def _print_score(label: str, run: dict[str, Any]) -> None:
    summary = run["summary"]
    print(
        f"  {label}: {summary['contacts']:,} contacts, {summary['seconds']:.2f} s in the command, "
        f"{run['wall']:.2f} s whole, peak {run['peak'] / 2**20:,.0f} MiB; mean probability "
        f"{summary['mean_probability']:.4f}, above {summary['above']}; prediction rows "
        f"{run['prediction_rows']:,}"
    )


def _short(count: int) -> str:
    """1M, 100k: a size short enough for the table's labels."""
    return f"{count / 1e6:g}M" if count >= 1_000_000 else f"{count / 1e3:g}k"


def _figures(result: dict[str, Any]) -> dict[str, tuple[float, float, str]]:
    """Each figure of one engine: (value, target, unit)."""
    figures: dict[str, tuple[float, float, str]] = {}
    trains = [
        ("41k contacts", (result["built"] or {}).get("train_small")),
        (f"{_short(result['check']['contacts'])} contacts", result["train"]),
    ]
    for label, run in trains:
        if run is not None:
            figures[f"train, {label}: command"] = (run["summary"]["seconds"], TARGETS["train"], "s")
            figures[f"train, {label}: whole"] = (run["wall"], TARGETS["train"], "s")
    size = _short(result["check"]["contacts"])
    for i, run in enumerate(result["score"], 1):
        figures[f"score {size}, run {i}: command"] = (
            run["summary"]["seconds"],
            TARGETS["score"],
            "s",
        )
        figures[f"score {size}, run {i}: whole"] = (run["wall"], TARGETS["score"], "s")
    for key in ("p50", "p95", "p99", "mean"):
        figures[f"score one contact: {key}"] = (result["single"][key], TARGETS["single_ms"], "ms")
    return figures


def print_table(results: dict[str, dict[str, Any]]) -> None:
    """Figures against targets, one column per engine."""
    tables = {name: _figures(result) for name, result in results.items()}
    rows = list(dict.fromkeys(row for table in tables.values() for row in table))
    print("\n## Figures vs targets")
    print(f"  {'figure':<32}" + "".join(f"{name:>22}" for name in tables) + "   target")
    for row in rows:
        cells, target = "", ""
        for table in tables.values():
            if row not in table:
                cells += f"{'—':>22}"
                continue
            value, bar, unit = table[row]
            cells += f"{f'{value:.2f} {unit} {_mark(value, bar)}':>22}"
            target = f"≤ {bar:g} {unit}"
        print(f"  {row:<32}{cells}   {target}")


def main() -> None:
    """Build the data on each engine, time training and scoring, print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=int, default=900, help="seconds per command")
    parser.add_argument("--keep", action="store_true", help="reuse the loaded database if any")
    parser.add_argument("--profile", action="store_true", help="a third score run, profiled")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    OUT.mkdir(exist_ok=True)
    print(f"machine: {machine()}")
    code = code_state()
    print(f"code: {code}")
    print(
        f"data: {BANK} (41,188 rows) imported, tiled to {args.contacts:,} contacts; "
        f"label y = yes, duration excluded; one-contact scoring: {SINGLE_SAMPLES} random contacts"
    )
    results: dict[str, Any] = {
        "code": code,
        "machine": machine(),
        "args": vars(args),
        "engines": {},
    }
    for name in args.engines.split(","):
        result = bench_engine(name, args)
        results["engines"][name] = result
        report_engine(result)
    print_table(results["engines"])
    if code_state() != code:
        results["code_after"] = code_state()
        print(f"\ncode changed during the run: {results['code_after']}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = OUT / f"model_speed_{args.contacts}_{stamp}.json"
    target.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(f"\nresults: {target}")


if __name__ == "__main__":
    main()
