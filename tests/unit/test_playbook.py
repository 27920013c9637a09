"""The playbook loader: structure, defaults, every problem at once with its path and line."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import pytest

from leadsift.errors import InvalidInputError
from leadsift.qualification.playbook import (
    ExpressionKind,
    PlaybookError,
    PlaybookProblem,
    load_playbook,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

FULL = """\
name: Meal delivery — Lyon
locale: fr            # fr | en
default_region: fr
currency: EUR
eligibility: age between 25 and 35 and region = "Auvergne-Rhône-Alpes"
fit:
  - {when: 'orders_online = true', points: 20, label: Orders online}
  - {when: 'job = "student"', points: -10}
interest:
  half_life: 14d
  rules:
    - {event: page_view, where: 'properties.path startswith "/menu"', points: 5, cap: 25}
    - {event: email_click, points: 10}
    - {event: unsubscribed, points: -50}
qualify: fit >= 10 and interest >= 40 or count(callback_requested) >= 1
recycle_after: 30d
"""


def _problems(text: str, **kwargs: object) -> list[PlaybookProblem]:
    with pytest.raises(PlaybookError) as caught:
        load_playbook(text, source="playbook.yaml", **kwargs)  # type: ignore[arg-type]
    return caught.value.problems


def _one(text: str) -> PlaybookProblem:
    problems = _problems(text)
    assert len(problems) == 1, problems
    return problems[0]


def test_a_full_document_loads_with_every_field() -> None:
    playbook = load_playbook(FULL, source="playbook.yaml")
    assert playbook.name == "Meal delivery — Lyon"
    assert playbook.default_region == "FR"
    assert playbook.eligibility.startswith("age between 25 and 35")
    assert [(rule.points, rule.label) for rule in playbook.fit] == [
        (20, "Orders online"),
        (-10, None),
    ]
    assert playbook.interest is not None
    assert playbook.interest.half_life == timedelta(days=14)
    assert [(r.event, r.points, r.cap) for r in playbook.interest.rules] == [
        ("page_view", 5, 25),
        ("email_click", 10, None),
        ("unsubscribed", -50, None),
    ]
    assert playbook.interest.rules[0].where == 'properties.path startswith "/menu"'
    assert playbook.qualify is not None
    assert playbook.recycle_after == timedelta(days=30)


def test_defaults_fill_the_optional_keys() -> None:
    playbook = load_playbook("name: Offre 25-35\neligibility: age >= 25\n", source="p.yaml")
    assert (playbook.locale, playbook.default_region, playbook.currency) == ("fr", "FR", "EUR")
    assert playbook.fit == ()
    assert (playbook.interest, playbook.qualify, playbook.recycle_after) == (None, None, None)


def test_an_empty_fit_section_means_no_rules() -> None:
    playbook = load_playbook("name: x\neligibility: age >= 25\nfit:\n", source="p.yaml")
    assert playbook.fit == ()


def test_the_model_is_frozen() -> None:
    playbook = load_playbook(FULL, source="p.yaml")
    with pytest.raises(ValueError, match="frozen"):
        playbook.name = "other"  # type: ignore[misc]


def test_a_missing_key_is_named() -> None:
    problem = _one("name: x\nfit: []\n")
    assert problem == PlaybookProblem("eligibility", None, "required key is missing")


def test_a_missing_key_in_a_rule_points_at_the_rule() -> None:
    problem = _one("name: x\neligibility: age > 1\nfit:\n  - when: age > 30\n")
    assert problem == PlaybookProblem("fit[0].points", 4, "required key is missing")


def test_a_wrong_type_gives_path_line_and_the_value_read() -> None:
    text = "name: x\neligibility: age > 1\nfit:\n"
    text += "  - {when: a, points: 10}\n  - {when: b, points: ten}\n"
    with pytest.raises(PlaybookError) as caught:
        load_playbook(text, source="playbook.yaml")
    error = caught.value
    assert str(error) == "playbook.yaml:5: fit[1].points: expected an integer, got 'ten'"
    assert error.code == "invalid_playbook"
    assert isinstance(error, InvalidInputError)
    assert error.as_json() == {
        "problems": [
            {"path": "fit[1].points", "line": 5, "message": "expected an integer, got 'ten'"}
        ]
    }


@pytest.mark.parametrize(
    ("line", "path", "message"),
    [
        ("fit: {when: a}", "fit", "expected a list, got a mapping"),
        ("qualify: true", "qualify", "expected criteria text, got true"),
        ("locale: de", "locale", "expected 'fr' or 'en', got 'de'"),
        ("currency: eur", "currency", "3 upper-case letters such as EUR, got 'eur'"),
        ("currency: EURO", "currency", "got 'EURO'"),
        ("default_region: XX", "default_region", "such as FR, BE or CH, got 'XX'"),
        ("default_region: NO", "default_region", "write 'NO' in quotes for Norway"),
        ("recycle_after: 30 days", "recycle_after", "such as '30d', '12h' or '2w', got '30 days'"),
        ("recycle_after: 30", "recycle_after", "got 30"),
        ("recycle_after: 0d", "recycle_after", "longer than zero"),
        ("fit: [{when: a, points: 0}]", "fit[0].points", "must not be zero"),
        ("fit: [{when: a, points: 2.5}]", "fit[0].points", "expected an integer, got 2.5"),
        ("fit: [{when: a, points: true}]", "fit[0].points", "expected an integer, got true"),
        ("fit: [{when: '  ', points: 3}]", "fit[0].when", "must not be empty"),
        ("fit: [{when: a, points: 10000000}]", "fit[0].points", "between -1000000 and 1000000"),
        ("interest: {half_life: 1d, rules: []}", "interest.rules", "at least one rule"),
        ("interest: {rules: [{event: a, points: 1}]}", "interest.half_life", "missing"),
        (
            "interest: {half_life: 1d, rules: [{event: Page-View, points: 1}]}",
            "interest.rules[0].event",
            "got 'Page-View'",
        ),
        (
            "interest: {half_life: 1d, rules: [{event: a, points: 1, cap: -5}]}",
            "interest.rules[0].cap",
            "positive number of points, got -5",
        ),
    ],
)
def test_each_kind_of_wrong_value(line: str, path: str, message: str) -> None:
    problem = _one(f"name: x\neligibility: age > 1\n{line}\n")
    assert (problem.path, problem.line) == (path, 3)
    assert message in problem.message


def test_a_name_must_be_text() -> None:
    problem = _one("name: 12\neligibility: age > 1\n")
    assert problem == PlaybookProblem("name", 1, "expected a name, got 12")


def test_an_unknown_key_gets_a_suggestion() -> None:
    problem = _one("name: x\nelegibility: age > 1\neligibility: age > 2\n")
    assert problem == PlaybookProblem(
        "elegibility", 2, "unknown key 'elegibility' — did you mean 'eligibility'?"
    )


def test_an_unknown_key_in_a_nested_rule_suggests_from_that_rule() -> None:
    text = "name: x\neligibility: a\ninterest:\n  half_life: 1d\n  rules:\n"
    text += "    - {event: a, points: 1, capp: 3}\n"
    problem = _one(text)
    assert problem.path == "interest.rules[0].capp"
    assert problem.line == 6
    assert problem.message == "unknown key 'capp' — did you mean 'cap'?"


def test_an_unknown_key_without_a_close_match_lists_the_keys() -> None:
    problem = _one("name: x\neligibility: a\nbudget: 3\n")
    assert problem.message.startswith("unknown key 'budget' (expected one of: name, locale,")


def test_a_duplicate_key_is_reported() -> None:
    text = "name: x\neligibility: a\nfit:\n  - {when: a, points: 1}\nfit:\n  - {when: a}\n"
    problems = _problems(text)
    assert problems == [
        PlaybookProblem("fit", 5, "duplicate key (also written on line 3)"),
        PlaybookProblem("fit[0].points", 6, "required key is missing"),
    ]


def test_several_problems_are_reported_together_in_file_order() -> None:
    text = """\
name: Demo
locale: de
fit:
  - {when: 'a', points: ten}
  - {whenn: 'b', points: 3}
recycle_after: soon
"""
    with pytest.raises(PlaybookError) as caught:
        load_playbook(text, source="demo.yaml")
    found = [(p.path, p.line) for p in caught.value.problems]
    assert found == [
        ("eligibility", None),
        ("locale", 2),
        ("fit[0].points", 4),
        ("fit[1].when", 5),
        ("fit[1].whenn", 5),
        ("recycle_after", 6),
    ]
    lines = str(caught.value).splitlines()
    assert lines[0] == "demo.yaml: 6 problems"
    assert lines[1] == "  demo.yaml: eligibility: required key is missing"
    assert lines[3] == "  demo.yaml:4: fit[0].points: expected an integer, got 'ten'"
    assert len(lines) == 7


def test_a_yaml_syntax_error_is_one_problem_with_line_and_column() -> None:
    problem = _one("name: x\neligibility: a: b\n")
    assert (problem.path, problem.line) == ("", 2)
    assert problem.message.startswith("invalid YAML at column 15: mapping values")


def test_a_tab_indent_gets_a_hint() -> None:
    problem = _one("name: x\n\teligibility: a\n")
    assert problem.line == 2
    assert "indent with spaces, not tabs" in problem.message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_an_empty_file(text: str) -> None:
    problem = _one(text)
    assert problem.message.endswith("got nothing (the file is empty)")


@pytest.mark.parametrize(("text", "got"), [("- a\n- b\n", "a list"), ("hello\n", "'hello'")])
def test_a_document_that_is_not_a_mapping(text: str, got: str) -> None:
    problem = _one(text)
    assert (
        problem.message == f"expected a mapping with keys such as name and eligibility, got {got}"
    )


def test_a_key_that_is_not_text() -> None:
    problem = _one("name: x\neligibility: a\n3: b\n")
    assert (problem.path, problem.line, problem.message) == ("", 3, "keys must be text, got 3")


def test_aliases_are_read_once() -> None:
    text = "name: x\nrule: &r {when: a, points: 1}\neligibility: a\nfit: [*r, *r]\n"
    problems = _problems(text)
    assert [p.path for p in problems] == ["rule"]


def test_the_checker_sees_every_expression_with_its_kind() -> None:
    seen: list[tuple[str, ExpressionKind]] = []

    def check(text: str, kind: ExpressionKind) -> str | None:
        seen.append((text, kind))
        return None

    load_playbook(FULL, source="p.yaml", check_expression=check)
    assert sorted(kind for _, kind in seen) == [
        "eligibility",
        "event",
        "event",
        "event",
        "fit",
        "fit",
        "interest",
        "qualify",
    ]
    assert ('properties.path startswith "/menu"', "interest") in seen


def test_checker_errors_carry_the_path_of_the_expression() -> None:
    def check(text: str, kind: ExpressionKind) -> str | None:
        if "job" in text or "menu" in text or "callback" in text:
            return f"unknown field in {kind}"
        return None

    problems = _problems(FULL, check_expression=check)
    assert [(p.path, p.line, p.message) for p in problems] == [
        ("fit[1].when", 8, "unknown field in fit"),
        ("interest.rules[0].where", 12, "unknown field in interest"),
        ("qualify", 15, "unknown field in qualify"),
    ]


def test_checker_and_structural_problems_are_reported_together() -> None:
    text = "name: x\neligibility: regoin = 'x'\nfit: [{when: a, points: ten}]\n"
    problems = _problems(text, check_expression=lambda t, k: "bad" if "regoin" in t else None)
    assert [(p.path, p.line) for p in problems] == [("eligibility", 2), ("fit[0].points", 3)]


def test_canonical_has_every_key_in_order_with_durations_as_text() -> None:
    canonical = load_playbook(FULL, source="p.yaml").canonical()
    assert list(canonical) == [
        "name",
        "locale",
        "default_region",
        "currency",
        "eligibility",
        "fit",
        "interest",
        "qualify",
        "recycle_after",
        "value",
    ]
    assert canonical["value"] == {"deal": 100.0, "call_cost": 5.0, "message_cost": 0.05}
    assert canonical["interest"]["half_life"] == "2w"
    assert canonical["recycle_after"] == "30d"
    assert canonical["fit"][1] == {"when": 'job = "student"', "points": -10, "label": None}


def test_the_fingerprint_ignores_layout_order_and_written_defaults() -> None:
    reordered = """\
recycle_after: 720h
qualify: "fit >= 10 and interest >= 40 or count(callback_requested) >= 1"
interest:
  rules:
    - event: page_view
      points: 5
      where: properties.path startswith "/menu"
      cap: 25
    - {points: 10, event: email_click}
    - {event: unsubscribed, points: -50}
  half_life: 2w
fit:
  - {label: Orders online, points: 20, when: 'orders_online = true'}
  - points: -10
    when: >-
      job = "student"
eligibility: >
  age between 25 and 35 and region = "Auvergne-Rhône-Alpes"
currency: EUR
default_region: FR
name: '  Meal delivery — Lyon  '
"""
    first = load_playbook(FULL, source="a.yaml")
    second = load_playbook(reordered, source="b.yaml")
    assert first.canonical() == second.canonical()
    assert first.fingerprint() == second.fingerprint()
    assert len(first.fingerprint()) == 64


def test_the_fingerprint_changes_with_the_meaning() -> None:
    base = load_playbook("name: x\neligibility: age > 30\n", source="p.yaml")
    other = load_playbook("name: x\neligibility: age > 31\n", source="p.yaml")
    english = load_playbook("name: x\nlocale: en\neligibility: age > 30\n", source="p.yaml")
    assert len({base.fingerprint(), other.fingerprint(), english.fingerprint()}) == 3


@pytest.mark.parametrize(
    "folder", sorted(path.name for path in EXAMPLES.iterdir() if path.is_dir())
)
def test_the_example_playbooks_load_and_their_expectations_add_up(folder: str) -> None:
    path = EXAMPLES / folder / "playbook.yaml"
    playbook = load_playbook(path.read_text(encoding="utf-8"), source=str(path))
    assert playbook.interest is not None
    assert playbook.qualify is not None
    with (EXAMPLES / folder / "contacts.csv").open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert all(row["email"] or row["phone"] for row in rows)
    expected = json.loads((EXAMPLES / folder / "expected.json").read_text(encoding="utf-8"))
    unqualified = expected["unqualified"]
    assert set(unqualified) == {"criteria_not_met", "missing_information"}
    assert expected["contacts"] == len(rows)
    assert expected["lead"] + sum(unqualified.values()) == len(rows)
    assert min(expected["lead"], *unqualified.values()) > 0


def test_value_policy_amounts_are_checked() -> None:
    text = "name: x\neligibility: age > 1\nvalue: {deal: -5, call_cost: ten}\n"
    problems = _problems(text)
    assert [(p.path, p.message) for p in problems] == [
        ("value.deal", "an amount must not be negative, got -5"),
        ("value.call_cost", "expected an amount such as 250 or 4.5, got 'ten'"),
    ]
    given = load_playbook("name: x\neligibility: age > 1\nvalue: {deal: 250}\n", source="p")
    assert (given.value.deal, given.value.call_cost) == (250.0, 5.0)


@pytest.mark.parametrize(
    ("calling", "message"),
    [
        ("{time_zone: Europe/Pariss}", "expected a time zone such as Europe/Paris"),
        ("{days: []}", "give at least one calling day"),
        ("{days: [mon, funday]}", "expected a day such as mon"),
        ("{hours: ['13:00-10:00']}", "start before end"),
        ("{holidays: FR, holidays_subdivision: '99'}", "no public holidays known"),
        ("{max_attempts: 0}", "max_attempts is a whole number from 1 to 100"),
        ("{audience: b2x}", "expected 'b2c' or 'b2b'"),
    ],
)
def test_a_calling_section_is_checked_when_the_playbook_loads(calling: str, message: str) -> None:
    text = f"name: x\neligibility: age > 1\ncalling: {calling}\n"
    with pytest.raises(PlaybookError) as raised:
        load_playbook(text, source="pb.yaml", check_expression=lambda _text, _kind: None)
    assert message in str(raised.value)


def test_a_control_character_is_a_problem_not_a_crash() -> None:
    problem = _one("name: Meal\x01 delivery\neligibility: age >= 18\n")
    assert "invalid YAML" in problem.message
    assert "special characters" in problem.message


def test_a_document_nested_thousands_deep_is_a_problem_not_a_crash() -> None:
    assert "nested too deeply" in _one("[" * 3000).message
