"""Analytics speed (issue 8): funnel (≤ 1 s), ROI and attribution (≤ 2 s) over 1,000,000 contacts,
~1,500,000 stage changes and 10,000,000 events from the rollups, against raw SQL without rollups.
Data (seeded, bulk-loaded, ids in time order): contacts over 12 months; moves with reasons; 60 %
page views (UTM, 3 % anonymous), 38 % emails sent/clicked (50 newsletters), 2 % purchases
({"amount"}, 30 % with a campaign); 50 costs. Timed: the rollup build; each report (median of
--runs; each refreshes first); raw SQL (one run); idle refresh; refresh after 10,000 new events.

    python bench/analytics_speed.py [--db URL] [--contacts N] [--events N] [--runs 3]
                                    [--statements] [--profile DIR] [--keep | --reuse]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import accumulate
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from threadpoolctl import threadpool_limits

from _common import machine, reset, server
from agents_speed import Statements, profiled, snapshot
from leadsift.analytics import attribution_report, rollups
from leadsift.analytics.funnel import funnel
from leadsift.analytics.roi import roi
from leadsift.config import Settings
from leadsift.db import Database
from score import database_size, ensure_database, load, sql

DEFAULT_DB = "sqlite:////tmp/leadsift-bench-analytics/analytics.db"
TARGETS = {"funnel": 1.0, "roi": 2.0, "attribution": 2.0}
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)  # the incremental refresh (PostgreSQL settles events after 1 min)
YEAR, NOW_S = 365 * 86_400.0, NOW.timestamp()
START_S = NOW_S - YEAR
SINCE, UNTIL, CHUNK = NOW - timedelta(days=400), NOW + timedelta(days=1), 100_000
CONTACT_COLUMNS = ["email", "first_name", "source", "region", "stage", "stage_reason",
                   "stage_changed_at", "attrs", "created_at", "updated_at"]  # fmt: skip
CHANGE_COLUMNS = ["contact_id", "from_stage", "to_stage", "reason", "actor", "changed_at"]
EVENT_COLUMNS = ["type", "contact_id", "anonymous_id", "occurred_at", "received_at", "properties",
                 "source", "campaign", "utm_source", "utm_medium", "utm_campaign", "dedup_key",
                 "payload_hash"]  # fmt: skip
COST_COLUMNS = ["campaign", "channel", "source", "amount", "spent_on", "created_at"]
# From a stage: (next stage, probability, reasons); what is left of 1 stays.
NEXT: dict[str, list[tuple[str, float, list[str]]]] = {
    "contact": [("lead", 0.65, ["criteria_met"]), ("unqualified", 0.1, ["criteria_not_met"])],
    "lead": [("qualified", 0.65, ["interest_threshold", "hand_raiser"]),
             ("unqualified", 0.10, ["no_interest"])],
    "qualified": [("customer", 0.4, ["purchase", "won"]), ("lost", 0.2, ["bad_fit", "no_budget"])],
    "unqualified": [("lead", 0.05, ["criteria_met"])],
}  # fmt: skip
SOURCES = ["salon", "site web", "site web", "partenaire", "achat de fichier", "flyer"]
REGIONS = ["Île-de-France", "Auvergne-Rhône-Alpes", "Bretagne", "Occitanie", "Grand Est"]
KINDS, KIND_CUTS = ("page_view", "email_sent", "email_clicked", "purchase"), [0.60, 0.85, 0.98]
NEWSLETTERS = [f"newsletter-{k:02d}" for k in range(50)]
PAID = [("google", "cpc"), ("facebook", "social"), ("linkedin", "social"), ("bing", "cpc"),
        ("partner", "referral")]  # fmt: skip
UTMS: list[tuple[str | None, str | None, str | None]] = [(None, None, None)] * 5 + [
    (src, medium, f"{src}-{season}") for season in ("printemps", "ete", "rentree", "noel")
    for src, medium in PAID] + [("instagram", "social", None)] * 2  # fmt: skip
PAGES = [f'{{"path": "{p}"}}' for p in ("/", "/pricing", "/blog/a", "/blog/b", "/contact")]
RAW_FUNNEL = """SELECT {group} AS grp, count(*), count(s.lead_at), count(s.qualified_at),
 count(s.customer_at) FROM contacts c LEFT JOIN (SELECT contact_id,
 min(CASE WHEN to_stage IN ('lead', 'qualified', 'customer') THEN changed_at END) AS lead_at,
 min(CASE WHEN to_stage IN ('qualified', 'customer') THEN changed_at END) AS qualified_at,
 min(CASE WHEN to_stage = 'customer' THEN changed_at END) AS customer_at
 FROM stage_changes GROUP BY contact_id) s ON s.contact_id = c.id
 WHERE c.created_at >= :since AND c.created_at < :until GROUP BY 1 ORDER BY 1"""
CONVERTS, SENDS = "type IN ('purchase', 'promo_redeemed')", "type IN ('email_sent', 'sms_sent')"
RAW_REVENUE = f"""SELECT coalesce(campaign, utm_campaign, '(none)'),
 count(*) FILTER (WHERE {CONVERTS}), coalesce(sum({{amount}}) FILTER (WHERE {CONVERTS}), 0),
 count(*) FILTER (WHERE {SENDS}) FROM events WHERE {CONVERTS} OR {SENDS} GROUP BY 1"""  # noqa: S608
RAW_LINEAR = f"""WITH conv AS (SELECT id, contact_id, occurred_at AS at, {{amount}} AS amount
 FROM events WHERE {CONVERTS} AND contact_id IS NOT NULL AND occurred_at >= :since
 AND occurred_at < :until), touch AS (SELECT c.id AS conversion_id, c.amount,
 CASE WHEN t.campaign IS NOT NULL THEN 'campaign:' || t.campaign
 WHEN t.utm_campaign IS NOT NULL THEN 'utm:' || t.utm_campaign
 WHEN t.utm_source IS NOT NULL THEN 'source:' || t.utm_source END AS key
 FROM conv c LEFT JOIN events t ON t.contact_id = c.contact_id AND t.occurred_at <= c.at
 AND t.occurred_at >= {{back}} AND t.type NOT IN ('purchase', 'promo_redeemed')
 AND (t.campaign IS NOT NULL OR t.utm_campaign IS NOT NULL OR t.utm_source IS NOT NULL)),
 shares AS (SELECT coalesce(key, '(none)') AS key, amount,
 1.0 / count(*) OVER (PARTITION BY conversion_id) AS share FROM touch)
 SELECT key, sum(share), sum(share * amount) FROM shares GROUP BY key"""  # noqa: S608
DIALECT = {  # what differs between the engines in the raw SQL
    "sqlite": {"month": "substr(c.created_at, 1, 7)",  # (30 days back to the microsecond)
               "back": "strftime('%Y-%m-%d %H:%M:%S', c.at, '-30 days') || substr(c.at, 20)",
               "amount": "coalesce(json_extract(properties, '$.amount'), 0.0)"},
    "postgresql": {"month": "to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM')",
                   "amount": "coalesce((properties ->> 'amount')::float8, 0.0)",
                   "back": "c.at - interval '30 days'"},
}  # fmt: skip


def stamps(seconds: Any, sqlite: bool) -> list[str]:
    """Epoch seconds as the columns store them (SQLAlchemy's text on SQLite; UTC for COPY)."""
    text = np.datetime_as_string((np.asarray(seconds) * 1e6).astype("datetime64[us]"), unit="us")
    return [t.replace("T", " ") + ("" if sqlite else "+00") for t in text.tolist()]


def path(rng: random.Random, at: float) -> list[tuple[float, str, str, str]]:
    """One contact's moves from `contact`, each some days after the last, none after NOW."""
    stage, moves = "contact", list[tuple[float, str, str, str]]()
    while stage in NEXT:
        draw, options = rng.random(), NEXT[stage]
        cuts = accumulate(option[1] for option in options)
        chosen = next((o for o, cut in zip(options, cuts, strict=True) if draw < cut), None)
        at += rng.expovariate(1 / (12 * 86_400))
        if chosen is None or at >= NOW_S:
            return moves
        moves.append((at, stage, chosen[0], rng.choice(chosen[2])))
        stage = chosen[0]
    return moves


def funnel_rows(count: int, sqlite: bool) -> tuple[list[list[Any]], list[list[Any]], Any]:
    """Contacts (ids 1..COUNT by creation), their stage changes by time, their creation times."""
    rng, created = (
        random.Random(3),
        START_S + np.sort(np.random.default_rng(3).random(count)) * YEAR,
    )
    contacts, moves, finals = [], [], []
    for index, at in enumerate(created.tolist()):
        mine = path(rng, at)
        moves += [(when, index + 1, old, new, why) for when, old, new, why in mine]
        finals.append(mine[-1] if mine else (at, "", "contact", None))
    born, changed = stamps(created, sqlite), stamps([final[0] for final in finals], sqlite)
    for i, (_, _, stage, reason) in enumerate(finals):
        contacts.append([f"c{i}@bench-exemple.fr", f"P{i}", SOURCES[i % 6], REGIONS[i % 5], stage,
                         reason, changed[i], "{}", born[i], born[i]])  # fmt: skip
    moves.sort()
    at = stamps([m[0] for m in moves], sqlite)
    return contacts, [[*m[1:], "playbook:bench@1", at[i]] for i, m in enumerate(moves)], created


def details(kind: int, draw: float, week: int, utm: int) -> tuple[str, str, str | None, Any]:
    """An event's properties, source, campaign and UTM fields."""
    if kind == 0:
        return PAGES[int(draw * 1000) % 5], "web", None, UTMS[utm]
    if kind < 3:
        return "{}", "email", NEWSLETTERS[week], (None, None, None)
    amount = round(20 + 400 * draw**3, 2)
    campaign = NEWSLETTERS[week] if int(draw * 1e6) % 10 < 3 else None  # not tied to the amount
    return f'{{"amount": {amount}}}', "shop", campaign, UTMS[0]


def event_chunk(who: Any, at: Any, sqlite: bool, rng: Any) -> list[list[Any]]:
    """Events of contacts WHO (0-based) at AT (epoch seconds, sorted)."""
    size = len(at)
    kinds = np.searchsorted(KIND_CUTS, rng.random(size)).tolist()
    draws, utms = rng.random(size).tolist(), rng.integers(0, len(UTMS), size).tolist()
    weeks = np.clip((at - START_S) // (YEAR / 50), 0, 49).astype(int).tolist()
    occurred, received = stamps(at, sqlite), stamps(at + 0.05 + rng.random(size) * 3, sqlite)
    keys, rows = rng.bytes(16 * size), []
    for i, contact in enumerate(who.tolist()):
        props, source, campaign, utm = details(kinds[i], draws[i], weeks[i], utms[i])
        anonymous = kinds[i] == 0 and draws[i] > 0.97
        key = keys[16 * i : 16 * i + 16]
        rows.append([KINDS[kinds[i]], None if anonymous else contact + 1,
                     f"anon-{rng.integers(1 << 40)}" if anonymous else None, occurred[i],
                     received[i], props, source, campaign, *utm, key, key])  # fmt: skip
    return rows


def event_rows(count: int, created: Any, sqlite: bool) -> Iterator[list[Any]]:
    """COUNT events over 80 % of the contacts (skewed), each after its contact's creation."""
    rng = np.random.default_rng(5)
    active = rng.permutation(len(created))[: int(len(created) * 0.8)]
    who = active[(len(active) * rng.random(count) ** 1.6).astype(np.int64)]
    at = created[who] + rng.random(count) * (NOW_S - created[who])
    order = np.argsort(at)
    who, at = who[order], at[order]
    for start in range(0, count, CHUNK):
        yield from event_chunk(who[start : start + CHUNK], at[start : start + CHUNK], sqlite, rng)


def cost_rows(sqlite: bool) -> Iterator[list[Any]]:
    """40 newsletters' costs and 10 paid UTM campaigns' (some campaigns have none)."""
    rng, at = random.Random(9), stamps([NOW_S - 86_400], sqlite)[0]
    paid = [(c, "ads", s, rng.uniform(1e3, 6e3)) for s, _, c in dict.fromkeys(UTMS) if c][:10]
    for name, channel, source, amount in [(n, "email", None, rng.uniform(150, 900))
                                          for n in NEWSLETTERS[:40]] + paid:  # fmt: skip
        yield [name, channel, source, round(amount, 2), at[:10], at]


def build(url: str, args: argparse.Namespace) -> dict[str, float]:
    """The base data (no rollups) loaded, or its kept copy with --reuse; seconds of each table."""
    if args.reuse:
        snapshot(url, back=True)
        return {}
    reset(url)
    Database(url, Settings()).ready().dispose()
    sqlite, seconds, started = url.startswith("sqlite"), {}, time.perf_counter()
    people, changes, created = funnel_rows(args.contacts, sqlite)
    seconds["generate_funnel_s"] = time.perf_counter() - started
    events = event_rows(args.events, created, sqlite)
    for table, columns, rows in (("contacts", CONTACT_COLUMNS, iter(people)),
                                 ("stage_changes", CHANGE_COLUMNS, iter(changes)),
                                 ("events", EVENT_COLUMNS, events),
                                 ("costs", COST_COLUMNS, cost_rows(sqlite))):  # fmt: skip
        started = time.perf_counter()
        load(url, table, columns, rows)
        seconds[f"{table}_s"] = time.perf_counter() - started
    if args.keep:
        snapshot(url, back=False)
    return seconds


def sizes(url: str) -> str:
    """What the database holds."""
    tables = "contacts stage_changes events costs funnel_facts event_days attribution_credits"
    query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in tables.split())  # noqa: S608
    counts = sql(url, query)
    counts += sql(url, "SELECT 'events ' || type, count(*) FROM events GROUP BY type ORDER BY 1")
    counts += sql(url, "SELECT 'stage ' || stage, count(*) FROM contacts GROUP BY 1 ORDER BY 1")
    return ", ".join(f"{name} {n:,}" for name, n in counts) + f"; {database_size(url)}"


def timed(db: Any, work: Callable[[Any], Any], runs: int) -> tuple[float, list[float], Any]:
    """Median and all seconds of RUNS runs of WORK(session), each committed; the last result."""
    seconds, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        with db.unit_of_work() as session:
            result = work(session)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), seconds, result


def refresh_all(session: Any, now: datetime) -> tuple[float, float]:
    """Seconds of rollups.refresh and attribution_report.refresh at NOW, in one transaction."""
    started = time.perf_counter()
    rollups.refresh(session, now)
    middle = time.perf_counter()
    attribution_report.refresh(session, now)
    return middle - started, time.perf_counter() - middle


def vacuum(db: Any) -> float:
    """VACUUM ANALYZE the rollups as autovacuum would after a build (PostgreSQL); seconds."""
    started = time.perf_counter()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE funnel_facts, event_days, attribution_credits")
    return time.perf_counter() - started


def raw(db: Any, statement: str, **fill: str) -> tuple[float, list[Any]]:
    """Seconds and rows of one raw SQL reference (the engine's pieces filled in)."""
    name = db.engine.dialect.name
    period: list[Any] = [SINCE, UNTIL]  # on SQLite, as the stored text
    since, until = stamps([t.timestamp() for t in period], True) if name == "sqlite" else period
    bounds = {"since": since, "until": until}
    pieces = DIALECT[name] | {key: value.format(**DIALECT[name]) for key, value in fill.items()}
    started = time.perf_counter()
    with db.engine.connect() as conn:
        rows = list(conn.execute(text(statement.format(**pieces)), bounds))
    return time.perf_counter() - started, rows


def agree(ours: dict[str, tuple[float, ...]], theirs: dict[str, tuple[float, ...]]) -> str:
    """Whether two sets of figures are the same (relative 1e-6), else the largest gap."""
    none = (0.0,) * 4
    gaps = [(abs(a - b) / max(abs(a), abs(b), 1.0), key, a, b)
            for key in set(ours) | set(theirs)
            for a, b in zip(ours.get(key, none), theirs.get(key, none), strict=False)]  # fmt: skip
    worst = max(gaps, default=(0.0, "", 0.0, 0.0))
    if worst[0] <= 1e-6:
        return f"figures agree ({len(ours)} groups)"
    return f"FIGURES DIFFER: {worst[1]!r} {worst[2]:,.4f} vs {worst[3]:,.4f} ({len(gaps)} compared)"


REPORTS: dict[str, tuple[Callable[[Any], Any], str, dict[str, str]]] = {
    **{f"funnel by {by}": (partial(funnel, by=by, since=SINCE, until=UNTIL, now=NOW), RAW_FUNNEL,
                           {"group": group})
       for by, group in (("all", "'all'"), ("source", "c.source"), ("cohort_month", "{month}"))},
    "roi": (partial(roi, now=NOW), RAW_REVENUE, {}),
    "attribution": (partial(attribution_report.attribution, since=SINCE, until=UNTIL, now=NOW),
                    RAW_LINEAR, {}),
}  # fmt: skip


FIGURES = {  # what a report's row is keyed by, and the figures compared with the raw SQL's
    "funnel": ("group", ("contacts", "leads", "qualified", "customers")),
    "roi": ("campaign", ("conversions", "revenue", "sends")),
    "attribution": ("key", ("linear_conversions", "linear_revenue"))}  # fmt: skip


def figures(name: str, report: Any, rows: list[Any]) -> str:
    """The report's figures compared with the raw SQL's."""
    theirs = {str(r[0]): tuple(map(float, r[1:])) for r in rows}
    if name == "funnel by all":  # one row per stage
        return agree({"all": tuple(float(row["count"]) for row in report.rows)}, theirs)
    key, names = FIGURES[name.split(maxsplit=1)[0]]
    return agree({str(r[key]): tuple(float(r[n]) for n in names) for r in report.rows}, theirs)


def measure_reports(db: Any, args: argparse.Namespace, log: Statements) -> None:
    """Each report from the rollups (median of --runs) against its raw-SQL reference."""
    for name, (work, statement, fill) in REPORTS.items():
        with profiled(args.profile, "report_" + (slug := name.replace(" ", "_"))):
            first = timed(db, work, 1)[0]
        median, runs, report = timed(db, work, args.runs)
        log.report(name, top=4)
        target = TARGETS[name.split(maxsplit=1)[0]]
        with profiled(args.profile, f"raw_{slug}"):
            reference, rows = raw(db, statement, **fill)
        log.report(f"raw {name}", top=1)
        print(f"{name}: {median:.3f} s from the rollups (median of {args.runs}: "
              f"{', '.join(f'{s:.3f}' for s in runs)}; first {first:.3f}; target ≤ {target:g} s: "
              f"{'ok' if median <= target else 'MISSES'}) | raw SQL {reference:.3f} s (one run), "
              f"raw/rollups ×{reference / median:.1f} | {figures(name, report, rows)}")  # fmt: skip


def add_increment(db: Any, events: int, changes: int) -> float:
    """EVENTS events after NOW, CHANGES leads qualified, made and inserted in one transaction."""
    started, sqlite = time.perf_counter(), db.engine.dialect.name == "sqlite"
    rng, mark, when = np.random.default_rng(11), "?" if sqlite else "%s", NOW_S + 1800
    lead = f"SELECT id FROM contacts WHERE stage = 'lead' LIMIT {changes}"  # noqa: S608
    with db.engine.begin() as conn:
        count = conn.exec_driver_sql("SELECT max(id) FROM contacts").scalar_one()
        ids, at = [r[0] for r in conn.exec_driver_sql(lead)], stamps([when], sqlite)[0]
        times = np.sort(when + rng.random(events) * 1800)
        rows = event_chunk(rng.integers(0, count, events), times, sqlite, rng)
        moves = [(i, "lead", "qualified", "interest_threshold", "bench", at) for i in ids]
        for table, columns, values in (("events", EVENT_COLUMNS, [tuple(r) for r in rows]),
                                       ("stage_changes", CHANGE_COLUMNS, moves)):  # fmt: skip
            marks = ", ".join([mark] * len(columns))
            conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                                 values)  # fmt: skip
        conn.exec_driver_sql(f"UPDATE contacts SET stage = 'qualified', stage_changed_at = {mark} "  # noqa: S608
                             f"WHERE id IN ({', '.join(map(str, ids))})", (at,))  # fmt: skip
    return time.perf_counter() - started


def measure_refresh(db: Any, args: argparse.Namespace, log: Statements) -> None:
    """Refresh with nothing new, then after 10,000 events and 1,000 stage changes."""
    idle = [timed(db, lambda s: refresh_all(s, NOW), 1)[2] for _ in range(args.runs)]
    log.report("idle refresh", top=6)
    stages, credits = (statistics.median(i[k] for i in idle) for k in (0, 1))
    print(f"idle refresh (nothing new; what each report pays first), median of {args.runs}: "
          f"rollups.refresh {stages:.3f} s, attribution refresh {credits:.3f} s")  # fmt: skip
    added = add_increment(db, 10_000, 1_000)
    with profiled(args.profile, "incremental_refresh"):
        total, _, (stages, credits) = timed(db, lambda s: refresh_all(s, LATER), 1)
    log.report("incremental refresh", top=6)
    after = timed(db, lambda s: refresh_all(s, LATER), 1)[2]
    print(f"incremental refresh after 10,000 events + 1,000 stage changes (made and inserted in "
          f"{added:.2f} s): {total:.3f} s with commit (rollups.refresh {stages:.3f} s, "
          f"attribution {credits:.3f} s), idle: {after[0]:.3f} + {after[1]:.3f} s")  # fmt: skip


def main() -> None:
    """Build (or reuse) the data, build the rollups, time the reports and the refreshes."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    for option, text_default in (("--db", DEFAULT_DB), ("--profile", None)):
        parser.add_argument(option, default=text_default)
    for option, default in (("--contacts", 1_000_000), ("--events", 10_000_000), ("--runs", 3)):
        parser.add_argument(option, type=int, default=default)
    for flag in ("--statements", "--keep", "--reuse"):
        parser.add_argument(flag, action="store_true")
    args = parser.parse_args()
    threadpool_limits(1)  # BLAS pinned: figures that do not depend on its threads
    sqlite = (url := str(args.db)).startswith("sqlite")
    if sqlite:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    else:
        ensure_database(url)
    print(f"machine: {machine()}\nengine: {server(url)}")
    built = build(url, args)
    if built:
        print("generate and load: " + ", ".join(f"{k} {v:.1f}" for k, v in built.items()))
    db = Database(url, Settings()).ready()
    log = Statements(db.engine, args.statements)
    with profiled(args.profile, "rollup_build"):
        total, _, (stages, credits) = timed(db, lambda s: refresh_all(s, NOW), 1)
    cleanup = 0.0 if sqlite else vacuum(db)
    log.report("rollup build", top=8)
    print(f"rollup build from empty: {total:.1f} s with commit (rollups.refresh {stages:.1f} s, "
          f"attribution refresh {credits:.1f} s); then VACUUM ANALYZE {cleanup:.1f} s")  # fmt: skip
    print(f"data: {sizes(url)}")
    measure_reports(db, args, log)
    measure_refresh(db, args, log)
    print(f"data after: {sizes(url)}")
    db.dispose()


if __name__ == "__main__":
    main()
