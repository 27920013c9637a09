"""`leadsift model …` and `explain` through the CLI, and its bad input: exit 1, one precise line,
nothing activated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text, update

from leadsift.db import Database
from leadsift.scoring.models import StoredModel
from tests.cli.helpers import Result, run
from tests.files import write_csv
from tests.integration.test_predictive import _people

CapSys = pytest.CaptureFixture[str]


@pytest.fixture
def db(committed_db_url: str, tmp_path: Path, capsys: CapSys) -> tuple[str, str]:
    header, rows, _ = _people(600)
    path = write_csv(tmp_path / "people.csv", header, rows)
    imported = run(capsys, "--db", committed_db_url, "import", "contacts", str(path))
    assert imported.code == 0, imported.err
    return ("--db", committed_db_url)


def _active(capsys: CapSys, db: tuple[str, str]) -> list[int]:
    listed = run(capsys, *db, "--json", "model", "list")
    assert listed.code == 0, listed.err
    return [m["id"] for m in listed.json()["models"] if m["active"]]


def _refused(result: Result, *parts: str) -> None:
    assert result.code == 1, result.out
    line = result.err.strip()
    assert "\n" not in line and line.startswith("error: "), result.err
    for part in parts:
        assert part in line, line
    assert "Traceback" not in result.err


def test_train_list_show_score_explain(db: tuple[str, str], capsys: CapSys) -> None:
    trained = run(capsys, *db, "--json", "model", "train", "--label", "bought", "--positive", "yes")
    assert trained.code == 0, trained.err
    summary = trained.json()
    assert set(summary) >= {
        "model_id",
        "rows",
        "positives",
        "features",
        "excluded",
        "metrics",
        "holdout",
        "warnings",
        "seconds",
    }
    assert set(summary["metrics"]) >= {
        "roc_auc",
        "pr_auc",
        "brier",
        "top_decile_lift",
        "captured_at_20pct",
    }
    assert summary["holdout"] is None
    assert _active(capsys, db) == [summary["model_id"]]
    shown = run(capsys, *db, "--json", "model", "show", str(summary["model_id"])).json()
    card = shown["card"]
    assert card["rows"] == 600 and card["label"] == "bought = yes"
    assert {"lightgbm", "scikit-learn", "numpy", "python"} <= set(card["versions"])
    scored = run(capsys, *db, "--json", "model", "score")
    assert scored.code == 0, scored.err
    assert scored.json()["contacts"] == 600
    listed = run(
        capsys,
        *db,
        "--json",
        "contacts",
        "list",
        "--where",
        "probability >= 0.3",
        "--order-by",
        "priority",
        "--fields",
        "id,probability,priority",
        "--limit",
        "5",
    )
    assert listed.code == 0, listed.err
    priorities = [c["priority"] for c in listed.json()["contacts"]]
    assert priorities and priorities == sorted(priorities, reverse=True)
    explained = run(capsys, *db, "--json", "explain", "p1@example.org")
    assert explained.code == 0, explained.err
    prediction = explained.json()["prediction"]
    assert prediction["model_id"] == summary["model_id"]
    assert prediction["contributions"]
    human = run(capsys, *db, "explain", "p1@example.org")
    assert "probability" in human.out and "contribution" in human.out


def test_holdout_reports_the_last_rows_apart(db: tuple[str, str], capsys: CapSys) -> None:
    trained = run(
        capsys,
        *db,
        "--json",
        "model",
        "train",
        "--label",
        "bought",
        "--positive",
        "yes",
        "--holdout-last",
        "0.25",
        "--order-by",
        "id",
        "--no-activate",
    )
    assert trained.code == 0, trained.err
    summary = trained.json()
    assert summary["holdout"]["rows"] == 150
    assert "roc_auc" in summary["holdout"]["metrics"]
    assert summary["rows"] == 450 or summary["rows"] == 600
    assert _active(capsys, db) == []


@pytest.mark.parametrize(
    ("args", "parts"),
    [
        (["--label", "bougth", "--positive", "yes"], ["bougth", "did you mean 'bought'"]),
        (
            ["--label", "bought", "--positive", "maybe"],
            ["no contact has bought = maybe", "values found: false, true"],
        ),
        (["--label", "plan"], ["plan is a text field", "--positive"]),
        (["--label", 'email startswith "p"'], ["one class"]),
        (
            [
                "--label",
                "bought",
                "--positive",
                "yes",
                "--exclude",
                "age",
                "--exclude",
                "plan",
                "--exclude",
                "visits",
                "--exclude",
                "created_at",
            ],
            ["no feature"],
        ),
        (["--exclude", "nonsense"], ["nonsense"]),
        (["--holdout-last", "0.2", "--order-by", "bogus"], ["bogus"]),
    ],
)
def test_bad_training_input(
    db: tuple[str, str], capsys: CapSys, args: list[str], parts: list[str]
) -> None:
    _refused(run(capsys, *db, "model", "train", *args), *parts)
    assert _active(capsys, db) == []


def test_a_damaged_model_is_refused(db: tuple[str, str], capsys: CapSys, tmp_path: Path) -> None:
    first = run(capsys, *db, "--json", "model", "train", "--label", "bought", "--positive", "yes")
    model_id = first.json()["model_id"]
    second = run(
        capsys,
        *db,
        "--json",
        "model",
        "train",
        "--label",
        "bought",
        "--positive",
        "yes",
        "--no-activate",
    )
    other = second.json()["model_id"]
    database = Database(db[1])
    with database.engine.begin() as conn:
        stored = conn.execute(
            text("SELECT document FROM predictive_models WHERE id = :i"), {"i": other}
        ).scalar_one()
        conn.execute(
            update(StoredModel)
            .where(StoredModel.id == other)
            .values(document=stored.replace("0.", "9.", 3))
        )
    database.dispose()
    _refused(run(capsys, *db, "model", "activate", str(other)), f"model {other}")
    assert _active(capsys, db) == [model_id]
    broken = tmp_path / "broken.json"
    broken.write_text('{"card": {}, "document": {"format_version": 1', encoding="utf-8")
    _refused(run(capsys, *db, "model", "import", str(broken)), "broken.json", "not valid JSON")
    exported = tmp_path / "model.json"
    assert run(capsys, *db, "model", "export", str(model_id), str(exported)).code == 0
    document = json.loads(exported.read_text(encoding="utf-8"))
    document["document"]["sha256"] = "0" * 64
    exported.write_text(json.dumps(document), encoding="utf-8")
    _refused(run(capsys, *db, "model", "import", str(exported)), "model.json")
    assert _active(capsys, db) == [model_id]


def test_a_model_of_another_schema_is_refused(
    db: tuple[str, str], capsys: CapSys, tmp_path: Path
) -> None:
    trained = run(capsys, *db, "--json", "model", "train", "--label", "bought", "--positive", "yes")
    exported = tmp_path / "model.json"
    assert (
        run(capsys, *db, "model", "export", str(trained.json()["model_id"]), str(exported)).code
        == 0
    )
    elsewhere = ("--db", f"sqlite:///{tmp_path / 'other.db'}")
    header, rows, _ = _people(100)
    plain = write_csv(tmp_path / "plain.csv", header[:2], [row[:2] for row in rows])
    assert run(capsys, *elsewhere, "import", "contacts", str(plain)).code == 0
    _refused(
        run(capsys, *elsewhere, "model", "import", str(exported)),
        "trained on another schema",
        "plan",
    )
    assert run(capsys, *elsewhere, "--json", "model", "list").json()["models"] == []


def test_score_without_a_model_says_how_to_get_one(db: tuple[str, str], capsys: CapSys) -> None:
    _refused(run(capsys, *db, "model", "score"), "no active model", "leadsift model train")
    _refused(run(capsys, *db, "model", "show", "42"), "no model 42")


def test_imported_contacts_are_scored_as_they_arrive(
    db: tuple[str, str], capsys: CapSys, tmp_path: Path
) -> None:
    assert run(capsys, *db, "model", "train", "--label", "bought", "--positive", "yes").code == 0
    header, rows, _ = _people(650)
    newcomers = write_csv(tmp_path / "new.csv", header, rows[600:])
    assert run(capsys, *db, "import", "contacts", str(newcomers)).code == 0
    shown = run(capsys, *db, "--json", "contacts", "show", "p620@example.org").json()
    assert 0.0 < shown["scores"]["probability"] < 1.0
    older = run(capsys, *db, "--json", "contacts", "show", "p1@example.org").json()
    assert older["scores"]["probability"] is None  # not in that import: `model score` does them


@pytest.mark.parametrize(
    ("args", "parts"),
    [
        (["contacts", "list", "--order-by", "priorty"], ["priorty", "did you mean 'priority'"]),
        (["contacts", "list", "--order-by", "age"], ["--order-by age", "birth_date"]),
        (["contacts", "list", "--order-by", "priority sideways"], ["asc or desc"]),
        (["model", "activate", "9"], ["no model 9"]),
        (["model", "export", "9", "out.json"], ["no model 9"]),
        (["model", "export", "1", "no/such/folder/out.json"], ["does not exist"]),
        (["model", "import", "missing.json"], ["missing.json does not exist"]),
        (["model", "train", "--order-by", "id"], ["--holdout-last"]),
    ],
)
def test_bad_model_and_order_input(
    db: tuple[str, str], capsys: CapSys, args: list[str], parts: list[str]
) -> None:
    _refused(run(capsys, *db, *args), *parts)
    assert _active(capsys, db) == []


def test_training_an_empty_workspace_says_why_not(committed_db_url: str, capsys: CapSys) -> None:
    refused = run(capsys, "--db", committed_db_url, "model", "train")
    _refused(refused, "0 positive contacts", "at least 50")
