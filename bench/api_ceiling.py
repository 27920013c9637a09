"""The ceiling of POST /api/v1/events on this machine: the HTTP stack alone, no database.

Starts each variant of `bench/_ceiling_app.py` (FastAPI body parameter, the same with a sync
endpoint, FastAPI taking the raw Request, a Starlette Route, bare ASGI) under
`uvicorn --workers 1` with each server stack (asyncio + h11, uvloop + httptools, and
uvloop + zttp when zttp is installed), then loads it with wrk from a second process on loopback:
one event per request at 32 connections, and batches of 1,000 events at 4 connections, for
--duration seconds each. Prints req/s, p50/p90/p99, events/s, and the CPU the server used per
request (or per event): what is left of each request's budget for the database.

Before that: the cost of parsing and answering in-process (pydantic validate_json against
json/orjson + validate_python, the answer with json/orjson/pydantic), a check of the load
scripts (unique idempotency keys, contacts in range, 401 and 422 answers), and at the end
wrk -t1 against -t2 on two variants (2 cores: wrk's threads compete with the server).

    python bench/api_ceiling.py [--duration 10] [--repeat 1] [--variants app,app_route]
        [--stacks h11,httptools,zttp] [--connections 32] [--batch-connections 4]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
import time
import timeit
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine
from _load import (
    WRK_DIR,
    LoadResult,
    cpu_jiffies,
    cpu_seconds,
    free_port,
    run_wrk,
    server_log,
    start_server,
    stop_server,
    wait_quiet,
)

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
PATH = "/api/v1/events"
STATS = "/api/v1/_stats"
API_KEY = "bench-key"
CONTACTS = 10_000
BATCH = 1000
QUIET = 0.25  # cores busy with other work, above which a run waits (the machine is shared)
VARIANTS = {
    "app": "FastAPI body param, async",
    "app_sync": "FastAPI body param, def (thread pool)",
    "app_request": "FastAPI + Request, TypeAdapter",
    "app_route": "Starlette Route, TypeAdapter",
    "app_asgi": "bare ASGI, TypeAdapter (floor)",
}
STACKS = {
    "h11": ["--loop", "asyncio", "--http", "h11"],
    "httptools": ["--loop", "uvloop", "--http", "httptools"],
    "zttp": ["--loop", "uvloop", "--http", "zttp"],
}
STACK_LABELS = {"h11": "asyncio+h11", "httptools": "uvloop+httptools", "zttp": "uvloop+zttp"}


@dataclass
class Run:
    """One wrk run against one server, with the server's CPU during it."""

    variant: str
    stack: str
    kind: str  # "single" or "batch"
    load: LoadResult
    server_cpu_s: float
    busy_cores: float  # the whole machine's user + system time: 2.0 = both cores
    steal_cores: float  # CPU the hypervisor gave to other machines while we wanted it
    server_events: int
    busy_before: float  # cores kept busy by other work just before the run (server idle)

    @property
    def others_cores(self) -> float:
        """Cores busy with neither the server nor wrk (other work, and the kernel's loopback)."""
        ours = (self.server_cpu_s + self.load.wrk_cpu_s) / self.load.seconds
        return max(self.busy_cores - ours, 0.0)

    @property
    def contended(self) -> bool:
        """Whether other work was competing for the CPU (the figures are then too low)."""
        return self.busy_before > QUIET or self.others_cores > 0.5 or self.steal_cores > 0.1

    @property
    def events_per_request(self) -> int:
        """Events in one request body."""
        return BATCH if self.kind == "batch" else 1

    @property
    def cpu_us_per_event(self) -> float:
        """Server CPU microseconds per event."""
        return self.server_cpu_s / max(self.load.requests * self.events_per_request, 1) * 1e6

    def line(self) -> str:
        """The wrk figures, then the server's CPU and the machine's."""
        return (
            f"{VARIANTS[self.variant]:<38} {STACK_LABELS[self.stack]:<16} {self.kind:<6} "
            f"{self.load.line()}  server CPU {self.server_cpu_s / self.load.seconds:.0%} "
            f"({self.cpu_us_per_event:.1f} µs/event), machine busy {self.busy_cores:.2f} "
            f"(others {self.others_cores:.2f}, before {self.busy_before:.2f}) "
            f"+ stolen {self.steal_cores:.2f} cores" + ("  CONTENDED" if self.contended else "")
        )


@dataclass
class Settings:
    """Options every run reads."""

    quiet_wait: float = 180  # seconds a run waits for a quiet machine, then runs (CONTENDED)


SETTINGS = Settings()


@dataclass
class Server:
    """A variant running under one stack."""

    variant: str
    stack: str
    base: str
    pid: int


def versions() -> str:
    """The versions of the packages on the request path."""
    names = ["fastapi", "starlette", "uvicorn", "pydantic", "pydantic-core", "uvloop"]
    names += ["httptools", "h11", "orjson", "zttp"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return ", ".join(found) + f"; {(wrk.stdout + wrk.stderr).splitlines()[0].split(' [')[0]}"


def _get_json(url: str) -> dict[str, Any]:
    """GET URL (http only) and decode its JSON answer."""
    if not url.startswith("http://"):
        raise ValueError(url)
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 — scheme checked above
        data: dict[str, Any] = json.loads(answer.read())
    return data


def _post(url: str, body: bytes, key: str | None) -> tuple[int, bytes]:
    """POST a JSON BODY to URL (http only); return (status, answer)."""
    if not url.startswith("http://"):
        raise ValueError(url)
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@contextmanager
def serve(variant: str, stack: str, check_keys: bool = False) -> Iterator[Server]:
    """Run one variant under uvicorn in a child process."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", f"bench._ceiling_app:{variant}",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--no-access-log", "--log-level", "warning", *STACKS[stack],
    ]  # fmt: skip
    env = {**os.environ, "CEILING_CHECK_KEYS": "1" if check_keys else "0"}
    base = f"http://127.0.0.1:{port}"
    proc = start_server(command, base + STATS, env, cwd=ROOT)
    try:
        yield Server(variant, stack, base, proc.pid)
    finally:
        tail = server_log(proc)
        stop_server(proc)
        if "Traceback" in tail:
            print(f"  server log of {variant} / {stack}:\n{tail}")


def load_env() -> dict[str, str]:
    """The BENCH_* variables the Lua scripts read."""
    occurred = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "BENCH_API_KEY": API_KEY,
        "BENCH_CONTACTS": str(CONTACTS),
        "BENCH_OCCURRED_AT": occurred,
        "BENCH_BATCH": str(BATCH),
    }


def _settled_events(base: str) -> int:
    """The server's event count once the requests still in flight have been answered."""
    count = _get_json(base + STATS)["events"]
    while True:
        time.sleep(0.2)
        again = _get_json(base + STATS)["events"]
        if again == count:
            return int(count)
        count = again


def measure(server: Server, kind: str, connections: int, duration: int, threads: int = 1) -> Run:
    """One wrk run with the server's CPU, the machine's and the events the server counted."""
    script = WRK_DIR / ("events_batch.lua" if kind == "batch" else "events_single.lua")
    events_before = _settled_events(server.base)
    quiet = wait_quiet(QUIET, max_wait=SETTINGS.quiet_wait)
    cpu_before, (busy_before, steal_before, total_before) = cpu_seconds(server.pid), cpu_jiffies()
    result = run_wrk(server.base + PATH, script, connections, duration, threads, env=load_env())
    cpu_after, (busy_after, steal_after, total_after) = cpu_seconds(server.pid), cpu_jiffies()
    events = _settled_events(server.base) - events_before
    scale = (os.cpu_count() or 1) / max(total_after - total_before, 1)
    run = Run(
        variant=server.variant,
        stack=server.stack,
        kind=kind,
        load=result,
        server_cpu_s=cpu_after - cpu_before,
        busy_cores=(busy_after - busy_before) * scale,
        steal_cores=(steal_after - steal_before) * scale,
        server_events=events,
        busy_before=quiet,
    )
    sent = result.requests * run.events_per_request
    if not sent <= events <= sent + connections * run.events_per_request:
        print(f"  !!! server counted {events:,} events, wrk completed {sent:,}")
    return run


# ---- in-process: parsing and answering --------------------------------------------------------


def _best_us(function: Callable[[], object], number: int) -> float:
    """Best of 5 repeats, in microseconds per call."""
    return min(timeit.repeat(function, number=number, repeat=5)) / number * 1e6


def _event(n: int) -> dict[str, Any]:
    """One event as the load scripts send it."""
    return {
        "type": "page_view",
        "email": f"u{n}@bench.example",
        "occurred_at": "2026-11-29T10:00:00Z",
        "properties": {"path": "/pricing"},
        "idempotency_key": f"0123456789ab-{n}",
    }


def in_process() -> list[tuple[str, float, float]]:
    """Microseconds to parse one event and a batch of 1,000, and to write the answer."""
    import orjson
    from pydantic import BaseModel, ConfigDict, TypeAdapter

    from _ceiling_app import PAYLOAD, Batch, Event, Result

    class LooseEvent(BaseModel):
        """The event with properties as Any and occurred_at left a string."""

        model_config = ConfigDict(extra="forbid")
        type: str
        email: str
        occurred_at: str
        properties: dict[str, Any]
        idempotency_key: str

    class LooseBatch(BaseModel):
        """A batch of loose events."""

        model_config = ConfigDict(extra="forbid")
        events: list[LooseEvent]

    smart: TypeAdapter[Event | Batch] = TypeAdapter(Event | Batch)
    single = json.dumps(_event(1)).encode()
    batch = json.dumps({"events": [_event(n) for n in range(BATCH)]}).encode()
    answer = {"inserted": BATCH, "duplicates": 0, "errors": []}
    ltr, loads, oloads, dump = PAYLOAD, json.loads, orjson.loads, TypeAdapter(Result).dump_json

    def no_union(body: bytes) -> object:
        return (Batch if body.startswith(b'{"events"') else Event).model_validate_json(body)

    def loose(body: bytes) -> object:
        model = LooseBatch if body.startswith(b'{"events"') else LooseEvent
        return model.model_validate_json(body)

    parsers: list[tuple[str, Callable[[bytes], object]]] = [
        ("validate_json, smart union Event | Batch (default)", smart.validate_json),
        ("validate_json, left-to-right Batch | Event (the apps)", ltr.validate_json),
        ("json.loads + validate_python, smart union", lambda b: smart.validate_python(loads(b))),
        ("json.loads + validate_python, left-to-right", lambda b: ltr.validate_python(loads(b))),
        ("orjson.loads + validate_python, left-to-right", lambda b: ltr.validate_python(oloads(b))),
        ("validate_json, no union (Event or Batch)", no_union),
        ("  same, properties Any, occurred_at str", loose),
        ("json.loads alone", json.loads),
        ("orjson.loads alone", orjson.loads),
    ]  # fmt: skip
    rows = [
        (label, _best_us(partial(parse, single), 20_000), _best_us(partial(parse, batch), 50))
        for label, parse in parsers
    ]
    nan = float("nan")
    writers: list[tuple[str, Callable[[], object]]] = [
        ("answer: json.dumps(dict).encode()", lambda: json.dumps(answer).encode()),
        ("answer: orjson.dumps(dict)", lambda: orjson.dumps(answer)),
        ("answer: TypeAdapter(Result).dump_json", lambda: dump(Result(**answer))),
    ]  # fmt: skip
    rows += [(label, _best_us(write, 20_000), nan) for label, write in writers]
    return rows


# ---- checks of the load scripts and the answers -----------------------------------------------


def check(stack: str, duration: int) -> None:
    """Unique keys, contacts in [1, N], 401 without the key, 422 on an unknown field."""
    event = _event(1)
    with serve("app_route", stack, check_keys=True) as server:
        for variant_body, key, want in (
            (event, API_KEY, 200),
            (event, None, 401),
            (event, "wrong", 401),
            ({**event, "extra": 1}, API_KEY, 422),
            ({"events": [event] * (BATCH + 1)}, API_KEY, 422),
        ):
            status, body = _post(server.base + PATH, json.dumps(variant_body).encode(), key)
            if status != want:
                raise SystemExit(f"expected {want}, got {status}: {body[:200]!r}")
        for kind, connections in (("single", 32), ("batch", 4)):
            run = measure(server, kind, connections, duration, threads=2)
            if run.load.non_2xx or run.load.errors:
                raise SystemExit(f"check run had errors: {run.line()}")
        stats = _get_json(server.base + STATS)
    ok = stats["duplicates"] == 0 and 1 <= stats["contact_min"] <= stats["contact_max"] <= CONTACTS
    print(
        f"check (keys remembered, wrk -t2): {stats['requests']:,} requests, "
        f"{stats['events']:,} events, {stats['duplicates']} repeated idempotency keys, "
        f"{stats['distinct_contacts']:,} distinct contacts in "
        f"[{stats['contact_min']}, {stats['contact_max']}]; 401 and 422 answered — "
        + ("OK" if ok else "*** FAILED ***")
    )
    if not ok:
        raise SystemExit(1)


# ---- the matrix -------------------------------------------------------------------------------


def run_matrix(args: argparse.Namespace) -> list[Run]:
    """Every variant under every stack, repeated: a warm-up, then single events and batches."""
    runs: list[Run] = []
    for repeat in range(args.repeat):
        for stack in args.stacks:
            for variant in args.variants:
                with serve(variant, stack) as server:
                    measure(server, "single", args.connections, 2)  # warm-up
                    for kind, connections in (
                        ("single", args.connections),
                        ("batch", args.batch_connections),
                    ):
                        run = measure(server, kind, connections, args.duration)
                        runs.append(run)
                        print(f"  [{repeat + 1}] {run.line()}")
    return runs


def compare_threads(args: argparse.Namespace, stack: str) -> list[Run]:
    """wrk -t1 against -t2 at 32 connections on the idiomatic and the fastest variant."""
    runs = []
    for variant in ("app", "app_route"):
        with serve(variant, stack) as server:
            measure(server, "single", args.connections, 2)
            for threads in (1, 2) * args.repeat:
                run = measure(server, "single", args.connections, args.duration, threads)
                runs.append(run)
                print(f"  {run.line()}")
    return runs


def summary(runs: list[Run]) -> None:
    """A Markdown table: the best uncontended repeat for each variant, stack and kind."""
    print(
        "\n| variant | server | 1 event/req: req/s | p50 / p99 ms | server CPU µs/req "
        "| 1,000/req: events/s | p50 / p99 ms | server CPU µs/event |"
    )
    print("|---|---|---|---|---|---|---|---|")
    keys = dict.fromkeys((run.variant, run.stack) for run in runs)
    for variant, stack in keys:
        cells = []
        for kind in ("single", "batch"):
            chosen = [r for r in runs if (r.variant, r.stack, r.kind) == (variant, stack, kind)]
            chosen = [r for r in chosen if not r.contended] or chosen
            best = max(chosen, key=lambda r: r.load.rps)
            mark = " (contended)" if best.contended else ""
            cells.append(
                f"{best.load.rps * best.events_per_request:,.0f}{mark} "
                f"| {best.load.p50_ms:.1f} / {best.load.p99_ms:.1f} "
                f"| {min(r.cpu_us_per_event for r in chosen):.{0 if kind == 'single' else 1}f}"
            )
        print(f"| {VARIANTS[variant]} | {STACK_LABELS[stack]} | {' | '.join(cells)} |")


def main() -> None:
    """Parse the options, run every part, print the figures and save them as JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch-connections", type=int, default=4)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    default_stacks = ["h11", "httptools"] + (["zttp"] if importlib.util.find_spec("zttp") else [])
    parser.add_argument("--stacks", default=",".join(default_stacks))
    parser.add_argument("--no-threads", action="store_true", help="skip wrk -t1 against -t2")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=SETTINGS.quiet_wait,
        help="seconds each run waits for other work to stop (0: never wait)",
    )
    args = parser.parse_args()
    SETTINGS.quiet_wait = args.quiet_wait
    args.variants = args.variants.split(",")
    args.stacks = args.stacks.split(",")
    print(f"machine: {machine()}")
    print(f"versions: {versions()}")
    print(f"load average at start: {Path('/proc/loadavg').read_text().split()[:3]}")
    print(f"\nin-process, best of 5 (µs per call): one event · a batch of {BATCH:,}")
    for label, one, many in in_process():
        print(f"  {label:<56} {one:8.1f} · {many:10,.0f}")
    print()
    check("httptools", 3)
    print(
        f"\nload: wrk -t1, {args.connections} connections × 1 event, "
        f"{args.batch_connections} × {BATCH:,} events, {args.duration} s each; "
        f"{CONTACTS:,} contacts; uvicorn --workers 1 --no-access-log"
    )
    runs = run_matrix(args)
    threads = [] if args.no_threads else compare_threads(args, "httptools")
    summary(runs)
    print(f"\nload average at end: {Path('/proc/loadavg').read_text().split()[:3]}")
    OUT.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = OUT / f"api_ceiling_{stamp}.json"

    def as_dict(run: Run) -> dict[str, Any]:
        data = asdict(run)
        data["load"].pop("output")
        return data

    target.write_text(
        json.dumps(
            {
                "machine": machine(),
                "versions": versions(),
                "runs": [as_dict(run) for run in runs],
                "threads": [as_dict(run) for run in threads],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    print(f"results: {target}")


if __name__ == "__main__":
    main()
