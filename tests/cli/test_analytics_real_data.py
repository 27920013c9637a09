"""Real data through the product's own commands: the Hillstrom e-mail experiment's lift."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import shared_data
from tests.outreach_helpers import cli_json

HILLSTROM = (
    "hillstrom-email",
    "Kevin_Hillstrom_MineThatData_E-MailAnalytics_DataMiningChallenge_2008.03.20.csv.gz",
)
SENT = "2026-11-02T09:00:00Z"
CAMPAIGNS = {"Mens E-Mail": "mens", "Womens E-Mail": "womens"}


def _hillstrom_rows() -> Iterator[dict[str, str]]:
    with gzip.open(shared_data(*HILLSTROM), "rt", encoding="utf-8", newline="") as file:
        yield from csv.DictReader(file)


def _event(kind: str, who: str, at: str, **extra: Any) -> str:
    return json.dumps({"type": kind, "external_id": who, "occurred_at": at, **extra}) + "\n"


def _write_files(folder: Path) -> tuple[Path, Path]:
    """The customers as contacts, and what happened to them as events: the send (or being held
    out of both campaigns), the visit, the purchase with its spend."""
    contacts, events = folder / "hillstrom.csv", folder / "hillstrom.jsonl"
    with (
        contacts.open("w", encoding="utf-8", newline="") as people,
        events.open("w", encoding="utf-8") as log,
    ):
        writer = csv.writer(people)
        writer.writerow(["external_id", "segment", "zip_code", "newbie", "history"])
        for number, row in enumerate(_hillstrom_rows(), start=1):
            who = f"h{number}"
            writer.writerow([who, row["segment"], row["zip_code"], row["newbie"], row["history"]])
            campaign = CAMPAIGNS.get(row["segment"])
            if campaign is not None:
                log.write(_event("email_sent", who, SENT, campaign=campaign))
            else:
                for held in CAMPAIGNS.values():
                    log.write(_event("campaign_holdout", who, SENT, campaign=held))
            if row["visit"] == "1":
                log.write(_event("page_view", who, "2026-11-03T10:00:00Z"))
            if row["conversion"] == "1":
                spend = float(row["spend"])
                log.write(
                    _event("purchase", who, "2026-11-04T10:00:00Z", properties={"amount": spend})
                )
    return contacts, events


def test_the_hillstrom_lift_reproduces_the_published_group_outcomes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, committed_db_url: str
) -> None:
    contacts, events = _write_files(tmp_path)
    db = ["--db", committed_db_url, "--json"]
    imported = cli_json(capsys, *db, "import", "contacts", str(contacts))
    assert imported["created"] == 64_000
    recorded = cli_json(capsys, *db, "import", "events", str(events))
    assert recorded["rejected"] == 0
    found = {}
    for campaign in CAMPAIGNS.values():
        report = cli_json(capsys, *db, "report", "lift", "--campaign", campaign, "--window", "14d")
        [row] = report["rows"]
        found[campaign] = row
    mens, womens = found["mens"], found["womens"]
    # Published outcomes (visit, conversion, spend per customer) of the three groups.
    assert (mens["treated"], womens["treated"], mens["control"]) == (21_307, 21_387, 21_306)
    assert round(mens["treated_visit_rate"], 3) == 0.183
    assert round(womens["treated_visit_rate"], 3) == 0.151
    assert round(mens["control_visit_rate"], 3) == 0.106
    assert round(mens["treated_conversion"], 4) == 0.0125
    assert round(womens["treated_conversion"], 4) == 0.0088
    assert round(mens["control_conversion"], 4) == 0.0057
    assert round(mens["treated_revenue_per_contact"], 2) == 1.42
    assert round(womens["treated_revenue_per_contact"], 2) == 1.08
    assert round(mens["control_revenue_per_contact"], 2) == 0.65
    # Incremental visits and spend per e-mailed customer, with intervals excluding zero.
    assert round(mens["visit_lift"], 3) == 0.077
    assert round(mens["revenue_lift"], 2) == 0.77
    assert mens["conversion_lift_low"] > 0 and mens["revenue_lift_low"] > 0
    assert round(mens["incremental_revenue"] / mens["treated"], 2) == 0.77
    assert mens["do_not_contact"] == ""
