"""Predictive scoring quality on real data: `leadsift model train` after a generic import.

Imports each file with `leadsift import contacts FILE --generate-ids` into a fresh workspace
(bank marketing, 41,188 rows; online shoppers, 12,330 rows), checks that contact ids follow the
file's row order (what `--holdout-last --order-by id` relies on), then trains as a user would:
`model train --cv 5` on both, and on the bank data also with `--holdout-last 0.2 --order-by id`.
Prints every figure next to the issue's target, each candidate side by side (the naive-Bayes
reference of the Odoo kind included, and each one's holdout ROC AUC), the command's own
`seconds` and its wall time; writes the results as JSON to bench/out/.

    python bench/model_quality.py [--engine sqlite|postgresql] [--timeout 900]
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
import csv
import gzip
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, reset, server
from score import cli, ensure_database, sql

OUT = Path(__file__).resolve().parent / "out"
DATA = Path(
    os.environ.get("LEADSIFT_BENCH_DATA", Path(__file__).resolve().parents[2] / "shared/data")
)
PG_URL = os.environ.get(
    "LEADSIFT_BENCH_MODEL_QUALITY_POSTGRES_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/bench_model_quality",
)
CANDIDATES = ("lightgbm", "logistic", "plain_logistic", "naive_bayes_reference")
HOLDOUT = ["--holdout-last", "0.2", "--order-by", "id"]
# Each data set: its file, the label options, the trainings to run with their ROC AUC target,
# and a varied numeric column whose sequence in id order must be the file's (the label's too).
DATASETS: dict[str, dict[str, Any]] = {
    "bank": {
        "title": "Bank marketing",
        "file": "bank-marketing/bank-additional-full.csv.gz",
        "label": ["--label", "y", "--positive", "yes", "--exclude", "duration"],
        "columns": {"y": "y", "duration": "duration"},
        "runs": {"cv": ([], 0.79), "holdout": (HOLDOUT, 0.74)},
    },
    "shoppers": {
        "title": "Online shoppers",
        "file": "online-shoppers/online_shoppers_intention.csv.gz",
        "label": ["--label", "Revenue", "--positive", "true"],
        "columns": {"Revenue": "revenue", "ProductRelated_Duration": "productrelated_duration"},
        "runs": {"cv": ([], 0.92)},
    },
}


def code_state() -> str:
    """The product's code the figures come from (others edit src/ while benchmarks run)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        # Outside a checkout the line is just shorter: no reason to stop a benchmark.
        command = ["git", "-C", str(root), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    commit = git("log", "-1", "--format=%h of %cd", "--date=format:%H:%M")
    changed = len(git("status", "--porcelain", "--", "src").splitlines())
    newest = max(path.stat().st_mtime for path in (root / "src").rglob("*.py"))
    return (
        f"commit {commit}, {changed} files changed under src/ since, newest edit "
        f"{datetime.fromtimestamp(newest, UTC):%H:%M:%S} UTC"
    )


def _url(engine: str, dataset: str) -> str:
    """A workspace of its own per data set: their columns must not mix (both have `month`)."""
    if engine == "sqlite":
        return f"sqlite:///{OUT / f'model_quality_{dataset}.db'}"
    return f"{PG_URL}_{dataset}"


# --- checks --------------------------------------------------------------------------------


def _file_columns(path: Path, names: list[str]) -> dict[str, list[str]]:
    """The values of the named columns of a (gzipped) CSV file, in row order."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        text = handle.read()
    delimiter = ";" if text.split("\n", 1)[0].count(";") else ","
    rows = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    found: dict[str, list[str]] = {name: [] for name in names}
    for row in rows:
        for name in names:
            found[name].append(row[name])
    return found


def _same(file_value: str, stored: Any) -> bool:
    """A file's text and the attribute the import stored from it (boolean or number)."""
    if isinstance(stored, bool):
        return stored == (file_value.strip().lower() in ("yes", "true"))
    return stored is not None and float(file_value) == float(stored)


def ids_follow_file(url: str, path: Path, columns: dict[str, str]) -> dict[str, Any]:
    """Whether the contacts in id order carry the file's rows in order (first mismatch if not)."""
    stored = [
        json.loads(attrs) if isinstance(attrs, str) else attrs
        for (attrs,) in sql(url, "SELECT attrs FROM contacts ORDER BY id")
    ]
    expected = _file_columns(path, list(columns))
    if len(stored) != len(next(iter(expected.values()))):
        return {"ok": False, "why": f"{len(stored):,} contacts for the file's rows"}
    for header, key in columns.items():
        for row, value in enumerate(expected[header]):
            if not _same(value, stored[row].get(key)):
                return {"ok": False, "why": f"row {row + 1}: {header} {value!r} ≠ {key} stored"}
    return {"ok": True, "why": f"{', '.join(columns)} in id order match the file's rows"}


def checks(name: str, run: str, summary: dict[str, Any], target: float) -> list[dict[str, Any]]:
    """The issue's targets for one training: ROC AUC, drift warning, Brier vs plain logistic."""
    plain = summary["candidates"]["plain_logistic"]
    chosen = f"chosen {summary['kind']}"
    held = summary.get("holdout")
    if held is None:
        return [
            _check(f"{name} {run}: 5-fold ROC AUC", summary["metrics"]["roc_auc"], target),
            _brier(f"{name} {run}: 5-fold Brier ({chosen})", summary["metrics"], plain["brier"]),
        ]
    drift = any(warning.startswith("drift") for warning in summary["warnings"])
    return [
        _check(f"{name} {run}: holdout ROC AUC", held["metrics"]["roc_auc"], target),
        {"figure": f"{name} {run}: drift warning", "value": "yes" if drift else "no",
         "target": "yes", "ok": drift},
        _brier(f"{name} {run}: holdout Brier ({chosen})", held["metrics"], plain["holdout_brier"]),
        # With a holdout, the cross-validated figures are those of the first 80 % of rows.
        _brier(f"{name} {run}: 5-fold Brier on first 80 % ({chosen})", summary["metrics"],
               plain["brier"]),
    ]  # fmt: skip


def _check(figure: str, value: float, bar: float) -> dict[str, Any]:
    return {"figure": figure, "value": f"{value:.4f}", "target": f"≥ {bar:.2f}", "ok": value >= bar}


def _brier(figure: str, metrics: dict[str, float], plain: float) -> dict[str, Any]:
    """No worse than the plain logistic regression on the same folds (5 decimals: close calls)."""
    value = metrics["brier"]
    return {"figure": figure, "value": f"{value:.5f}", "target": f"≤ plain logistic {plain:.5f}",
            "ok": value <= plain}  # fmt: skip


# --- runs ----------------------------------------------------------------------------------


def bench_dataset(name: str, engine: str, timeout: int) -> dict[str, Any]:
    """Import one file into a fresh workspace, then each training; what came out."""
    spec = DATASETS[name]
    url, path = _url(engine, name), DATA / spec["file"]
    reset(url)
    imported, import_wall, _ = cli(url, timeout, "import", "contacts", str(path), "--generate-ids")
    result: dict[str, Any] = {
        "title": spec["title"],
        "file": str(path),
        "import": {"summary": imported, "wall": import_wall},
        "order": ids_follow_file(url, path, spec["columns"]),
        "runs": {},
        "checks": [],
    }
    for run, (extra, target) in spec["runs"].items():
        args = ["model", "train", *spec["label"], "--cv", "5", *extra]
        summary, wall, peak = cli(url, timeout, *args)
        result["runs"][run] = {
            "command": f"leadsift --db {url} --json {' '.join(args)}",
            "summary": summary,
            "wall": wall,
            "peak": peak,
        }
        result["checks"].extend(checks(name, run, summary, target))
    return result


# --- report --------------------------------------------------------------------------------


def _metric(values: dict[str, Any], key: str) -> str:
    value = values.get(key)
    return "     —" if value is None else f"{value:6.3f}"


def print_candidates(summary: dict[str, Any]) -> None:
    """Every candidate side by side: cross-validated figures, and holdout ones when asked."""
    print(
        "    candidate               ROC AUC  PR AUC   Brier  lift@10%  capt@20%"
        "  | holdout ROC AUC  PR AUC   Brier"
    )
    for name in CANDIDATES:
        values = summary["candidates"].get(name, {})
        mark = " (chosen)" if name == summary["kind"] else ""
        print(
            f"    {name + mark:<23} {_metric(values, 'roc_auc')}  {_metric(values, 'pr_auc')}"
            f"  {_metric(values, 'brier')}    {_metric(values, 'top_decile_lift')}"
            f"    {_metric(values, 'captured_at_20pct')}  |          "
            f"{_metric(values, 'holdout_roc_auc')}  {_metric(values, 'holdout_pr_auc')}"
            f"  {_metric(values, 'holdout_brier')}"
        )


def print_run(run: str, entry: dict[str, Any]) -> None:
    """One training: the command, what it chose, its figures and times, its warnings."""
    summary = entry["summary"]
    metrics = summary["metrics"]
    print(f"  {run}: {entry['command']}")
    print(
        f"    chose {summary['kind']} ({summary['calibration']} calibration) on "
        f"{summary['rows']:,} rows, {summary['positives']:,} positives, "
        f"{len(summary['features'])} features; train {summary['seconds']:.2f} s in the command, "
        f"{entry['wall']:.2f} s whole, peak {entry['peak'] / 2**20:,.0f} MiB"
    )
    print(
        f"    5-fold{' on the first 80 %' if summary.get('holdout') else ''}: "
        f"ROC AUC {metrics['roc_auc']:.4f}, PR AUC {metrics['pr_auc']:.4f}, "
        f"Brier {metrics['brier']:.5f}"
    )
    held = summary.get("holdout")
    if held is not None:
        hm = held["metrics"]
        print(
            f"    holdout: {held['rows']:,} rows, {held['positives']:,} positives, base rate "
            f"{held['base_rate_train']:.3f} trained on → {held['base_rate_holdout']:.3f} held "
            f"out, mean predicted {held['mean_predicted']:.3f}; ROC AUC {hm['roc_auc']:.4f}, "
            f"PR AUC {hm['pr_auc']:.4f}, Brier {hm['brier']:.5f}"
        )
    print_candidates(summary)
    for warning in summary["warnings"]:
        print(f"    warning: {warning}")


def report(result: dict[str, Any]) -> None:
    """One data set's import, order check and trainings."""
    imported = result["import"]
    created = imported["summary"]["created"]
    print(f"\n## {result['title']} — {result['file']}")
    print(
        f"  import --generate-ids: {imported['summary']['rows']:,} rows, {created:,} created, "
        f"{imported['summary']['rejected']:,} rejected; {imported['summary']['seconds']:.2f} s "
        f"in the command, {imported['wall']:.2f} s whole"
    )
    print(
        f"  ids follow the file's order: {'yes' if result['order']['ok'] else 'NO'} "
        f"({result['order']['why']})"
    )
    for run, entry in result["runs"].items():
        print_run(run, entry)


def print_targets(found: list[dict[str, Any]]) -> None:
    """The figures against the issue's targets."""
    print("\n## Targets")
    width = max(len(item["figure"]) for item in found)
    for item in found:
        mark = "ok" if item["ok"] else "MISSES"
        print(
            f"  {item['figure']:<{width}}  {item['value']:>7}  target {item['target']:<26} {mark}"
        )


def main() -> None:
    """Import, train and evaluate each data set; print the figures against their targets."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per command")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    OUT.mkdir(exist_ok=True)
    print(f"machine: {machine()}")
    code = code_state()
    print(f"code: {code}")
    if args.engine != "sqlite":
        for name in DATASETS:
            ensure_database(_url(args.engine, name))
    print(f"engine: {server(_url(args.engine, 'bank'))}")
    print("data: " + "; ".join(f"{s['title']} {DATA / s['file']}" for s in DATASETS.values()))
    results: dict[str, Any] = {
        "code": code,
        "machine": machine(),
        "args": vars(args),
        "datasets": {},
        "load_average": [os.getloadavg()],
    }
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name in DATASETS:
        result = bench_dataset(name, args.engine, args.timeout)
        results["datasets"][name] = result
        report(result)
    found = [item for result in results["datasets"].values() for item in result["checks"]]
    found.extend(
        {
            "figure": f"{r['title']}: ids follow the file",
            "value": str(r["order"]["ok"]),
            "target": "True",
            "ok": r["order"]["ok"],
        }
        for r in results["datasets"].values()
    )
    results["targets"] = found
    print_targets(found)
    results["load_average"].append(os.getloadavg())
    if code_state() != code:
        results["code_after"] = code_state()
        print(f"code changed during the run: {results['code_after']}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = OUT / f"model_quality_{args.engine}_{stamp}.json"
    target.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(f"\nresults: {target}")


if __name__ == "__main__":
    main()
