"""Real data through the product's own commands: the Hillstrom e-mail experiment's lift and the
Olist marketing funnel (checked against pandas)."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
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


OLIST = "olist-marketing-funnel"
OLIST_PLAYBOOK = """name: Olist sellers
eligibility: source is null or source is not null
"""


def _olist_files(folder: Path) -> tuple[Path, Path, Path]:
    """The leads as contacts (origin as source), and as events: the landing-page form that made
    each one a marketing-qualified lead, and the deal won (a purchase) for those who signed."""
    leads = pd.read_csv(shared_data(OLIST, "olist_marketing_qualified_leads_dataset.csv"))
    deals = pd.read_csv(shared_data(OLIST, "olist_closed_deals_dataset.csv"))
    contacts = folder / "olist.csv"
    leads.rename(columns={"mql_id": "external_id", "origin": "source"})[
        ["external_id", "source", "landing_page_id"]
    ].to_csv(contacts, index=False)
    events = folder / "olist.jsonl"
    with events.open("w", encoding="utf-8") as log:
        for lead in leads.itertuples():
            log.write(_event("form_submitted", lead.mql_id, f"{lead.first_contact_date}T00:00:00Z"))
        for deal in deals.itertuples():
            won = str(deal.won_date).replace(" ", "T") + "Z"
            log.write(_event("purchase", deal.mql_id, won, idempotency_key=f"deal:{deal.mql_id}"))
    playbook = folder / "olist.yaml"
    playbook.write_text(OLIST_PLAYBOOK, encoding="utf-8")
    return contacts, events, playbook


def _olist_by_pandas() -> pd.DataFrame:
    """The funnel by origin and the days to close, computed from the files alone."""
    leads = pd.read_csv(shared_data(OLIST, "olist_marketing_qualified_leads_dataset.csv"))
    deals = pd.read_csv(shared_data(OLIST, "olist_closed_deals_dataset.csv"))
    merged = leads.merge(deals[["mql_id", "won_date"]], on="mql_id", how="left")
    merged["origin"] = merged["origin"].fillna("(none)")
    first = pd.to_datetime(merged["first_contact_date"], utc=True)
    merged["days"] = (
        pd.to_datetime(merged["won_date"], utc=True) - first
    ).dt.total_seconds() / 86400
    return merged.groupby("origin").agg(
        contacts=("mql_id", "size"), customers=("won_date", "count"), median_days=("days", "median")
    )


def test_the_olist_funnel_by_origin_and_time_to_close_match_pandas(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, committed_db_url: str
) -> None:
    contacts, events, playbook = _olist_files(tmp_path)
    db = ["--db", committed_db_url, "--json"]
    assert cli_json(capsys, *db, "import", "contacts", str(contacts))["created"] == 8_000
    cli_json(capsys, *db, "qualify", "--playbook", str(playbook))
    assert cli_json(capsys, *db, "import", "events", str(events))["rejected"] == 0
    period = ["--from", "2017-01-01", "--to", "2019-01-01"]
    report = cli_json(capsys, *db, "report", "funnel", "--by", "source", *period)
    found = {row["group"]: row for row in report["rows"]}
    expected = _olist_by_pandas()
    assert set(found) == set(expected.index)
    for origin, row in expected.iterrows():
        assert (found[origin]["contacts"], found[origin]["customers"]) == (
            row["contacts"],
            row["customers"],
        ), origin
        if row["customers"]:
            assert found[origin]["days_to_convert_median"] == pytest.approx(
                row["median_days"], abs=0.05
            ), origin
    whole = cli_json(capsys, *db, "report", "funnel", *period)
    counts = {r["stage"]: r["count"] for r in whole["rows"]}
    assert (counts["contacts"], counts["customers"]) == (8_000, 842)
