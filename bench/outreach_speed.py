"""Outreach speed: campaign preparation for 1,000,000 contacts (gate + outbox rows), and one
worker process handing 100,000 emails to a local SMTP sink.

On each engine: imports 1,000,000 generated contacts (email consent granted for 90 %, refused
for 5 %, never stated for 5 %) with the product, creates a campaign on all of them and times
`campaign schedule` (the whole command: target, gate for everyone, control group of 10 %, one
outbox row per recipient); pauses it (its rows are held aside); creates a second campaign on
the first 111,120 contacts (100,008 may be emailed), schedules it, and times `leadsift worker
--once --max-messages 100000` (one process, the real SMTP channel, its default 4 lanes) against
an aiosmtpd sink running in a process of its own, the analytics rollups first brought up to
date as the worker keeps them in a running workspace (their build from empty is not sending).
The ceiling of the same sink is measured in the same run: plain smtplib sending 20,000
pre-built messages over one connection.

    python bench/outreach_speed.py [--engines sqlite,postgresql] [--contacts 1000000]
                                   [--send 100000] [--timeout 1800]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import smtplib
import subprocess
import sys
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, reset, server
from leadsift.analytics.cli import keep_rollups
from leadsift.config import Settings
from leadsift.db import Database
from score import cli, ensure_database

OUT = Path(__file__).resolve().parent / "out"
PG_URL = os.environ.get(
    "LEADSIFT_BENCH_OUTREACH_POSTGRES_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/bench_outreach",
)
TARGETS = {"prepare_1m_s": 60.0, "worker_msgs_per_s": 500.0}
TEMPLATE = """\
channel: email
default_language: fr
fr:
  subject: "{{ contact.first_name }}, votre offre"
  text: |
    Bonjour {{ contact.first_name }},
    Notre offre du mois vous attend.
    Se désinscrire : {{ unsubscribe_url }}
"""
SINK_CODE = """
import signal, sys, time
from aiosmtpd.controller import Controller
class Sink:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        Sink.count += 1
        return "250 2.0.0 Ok"
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
controller.stop()
print(Sink.count, flush=True)
"""


def _url(engine: str) -> str:
    return f"sqlite:///{OUT / 'outreach_speed.db'}" if engine == "sqlite" else PG_URL


def people_file(path: Path, count: int) -> Path:
    """COUNT contacts: 90 % consent, 5 % refused, 5 % never stated."""
    with path.open("w", encoding="utf-8") as out:
        out.write("first_name,email,consent_email\n")
        for i in range(count):
            consent = "non" if i % 20 == 7 else "" if i % 20 == 13 else "oui"
            out.write(f"P{i},p{i}@bench-exemple.fr,{consent}\n")
    return path


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Sink:
    """The aiosmtpd sink in a process of its own (the worker must not share its CPU time)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-c", SINK_CODE, str(self.port)], stdout=subprocess.PIPE, text=True
        )
        if self.process.stdout is None or self.process.stdout.readline().strip() != "ready":
            raise SystemExit("the SMTP sink did not start")

    def stop(self) -> int:
        """Stop it; how many messages it accepted."""
        self.process.terminate()
        out, _ = self.process.communicate(timeout=30)
        return int(out.strip().splitlines()[-1])


def ceiling(count: int) -> dict[str, Any]:
    """Plain smtplib, pre-built messages, one connection: what the sink itself allows."""
    sink = Sink()
    message = EmailMessage()
    message["From"], message["Subject"] = "news@bench-exemple.fr", "Offre"
    message.set_content("Bonjour,\nNotre offre du mois vous attend.\n")
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port) as smtp:
        for i in range(count):
            del message["To"]
            message["To"] = f"p{i}@bench-exemple.fr"
            smtp.send_message(message)
    seconds = time.perf_counter() - started
    accepted = sink.stop()
    return {"messages": accepted, "seconds": round(seconds, 2), "per_s": round(count / seconds)}


def build(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """The workspace: contacts imported by the product."""
    reset(url)
    started = time.perf_counter()
    people = people_file(OUT / "outreach_people.csv", args.contacts)
    summary, seconds, _ = cli(url, args.timeout, "import", "contacts", str(people))
    return {"imported": summary["created"], "import_s": round(seconds, 1),
            "generate_and_import_s": round(time.perf_counter() - started, 1)}  # fmt: skip


def bench_engine(engine: str, args: argparse.Namespace) -> dict[str, Any]:
    """Preparation of everyone, then the worker on ARGS.send messages."""
    url = _url(engine)
    if engine == "postgresql":
        ensure_database(url)
    result: dict[str, Any] = {"engine": server(url)}
    result["build"] = build(url, args)
    template = OUT / "outreach_template.yaml"
    template.write_text(TEMPLATE, encoding="utf-8")
    cli(url, args.timeout, "campaign", "create", "everyone", "--template", str(template),
        "--stage", "contact", "--control", "10%")  # fmt: skip
    view, seconds, peak = cli(url, args.timeout, "campaign", "schedule", "everyone")
    result["prepare"] = {"contacts": args.contacts, "seconds": round(seconds, 1),
                         "peak_mib": round(peak / 2**20), **view["prepared"]}  # fmt: skip
    cli(url, args.timeout, "campaign", "pause", "everyone")
    # 18 of every 20 contacts may be emailed: enough ids for ARGS.send emails.
    last_id = -(-args.send // 18) * 20
    cli(url, args.timeout, "campaign", "create", "send", "--template", str(template),
        "--target", f"id <= {last_id}")  # fmt: skip
    view, _, _ = cli(url, args.timeout, "campaign", "schedule", "send")
    result["upkeep_s"] = upkeep(url)
    result["worker"] = worker_run(url, args, view["prepared"]["recipients"])
    return result


def upkeep(url: str) -> float:
    """The worker's upkeep once, before the timed run (seconds): a running workspace has its
    analytics rollups up to date (the worker keeps them every minute), a freshly imported one
    does not, and building them from empty (~30-50 s for 1M contacts) is not sending."""
    database = Database(url, Settings()).ready()
    started = time.perf_counter()
    keep_rollups(database, datetime.now(UTC))
    database.dispose()
    return round(time.perf_counter() - started, 1)


def worker_run(url: str, args: argparse.Namespace, recipients: int) -> dict[str, Any]:
    """`leadsift worker --once` against the sink; messages per second."""
    sink = Sink()
    env = {**os.environ, "LEADSIFT_EMAIL_TRANSPORT": "smtp", "LEADSIFT_SMTP_HOST": "127.0.0.1",
           "LEADSIFT_SMTP_PORT": str(sink.port), "LEADSIFT_EMAIL_FROM": "news@bench-exemple.fr",
           "LEADSIFT_PUBLIC_URL": "https://t.bench-exemple.fr"}  # fmt: skip
    command = [sys.executable, "-m", "leadsift.cli", "--db", url, "--json", "worker", "--once",
               "--batch", "200", "--max-messages", str(args.send)]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=args.timeout, check=True
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    accepted = sink.stop()
    report = json.loads(done.stdout)
    sent = report["outcomes"].get("sent", 0)
    return {"recipients": recipients, "sent": sent, "sink_accepted": accepted,
            "seconds": round(seconds, 1), "worker_seconds": report["seconds"],
            "per_s": round(sent / seconds), "outcomes": report["outcomes"],
            # Without the process's start (imports, and the upkeep's first pass: nothing new here).
            "sending_per_s": round(sent / max(report["seconds"], 1e-9)),
            "worker_cpu_s": round(cpu, 1),
            "cpu_ms_per_message": round(cpu / max(sent, 1) * 1000, 2)}  # fmt: skip


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--send", type=int, default=100_000)
    parser.add_argument("--timeout", type=int, default=1800)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    report: dict[str, Any] = {
        "machine": machine(),
        "at": datetime.now(UTC).isoformat(),
        "targets": TARGETS,
        "ceiling": ceiling(min(args.send, 20_000)),
    }
    print(f"machine: {report['machine']}")
    print(f"SMTP sink ceiling (smtplib, pre-built): {report['ceiling']['per_s']} msg/s")
    for engine in args.engines.split(","):
        figures = bench_engine(engine, args)
        report[engine] = figures
        prepare, work = figures["prepare"], figures["worker"]
        print(f"{figures['engine']}: prepare {prepare['contacts']:,} contacts "
              f"{prepare['seconds']} s (target ≤ {TARGETS['prepare_1m_s']:g} s); worker "
              f"{work['sent']:,} emails in {work['seconds']} s = {work['per_s']} msg/s "
              f"(target ≥ {TARGETS['worker_msgs_per_s']:g}; {work['sending_per_s']} msg/s "
              f"once started); worker CPU "
              f"{work['cpu_ms_per_message']} ms per message; rollups brought up to date "
              f"before it in {figures['upkeep_s']} s; load {os.getloadavg()[0]:.2f}")  # fmt: skip
    (OUT / "outreach_speed.json").write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
