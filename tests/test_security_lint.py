"""bandit finds nothing unexplained in src/leadsift.

A finding is explained by a mark on its line, with the reason beside it: bandit's own
`# nosec BXXX — why` (bandit then skips it), or ruff's twin `# noqa: SXXX — why` (ruff's S rules
are bandit's checks, ported; test_house_rules runs them, so every site they flag is marked).
The few bandit flags that ruff's port does not raise, and marks left without a reason, are
accepted below, each with why. Anything else fails the test: a new finding is fixed or
explained, never ignored.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (check, file, bandit's text or None for any): why the finding is accepted.
ACCEPTED: dict[tuple[str, str, str | None], str] = {
    ("B404", "src/leadsift/backup/service.py", None): (
        "pg_dump and pg_restore are run with a fixed executable and an argument list, never "
        "a shell (the call carries ruff's S603 with its reason)"
    ),
    ("B105", "src/leadsift/outreach/outbox_repository.py", "Possible hardcoded password: 'None'"): (
        '"claim_token": None releases a worker\'s claim on a message; no secret'
    ),
    ("B105", "src/leadsift/jobs/runner.py", "Possible hardcoded password: 'None'"): (
        '"claim_token": None releases a worker\'s claim on a job; no secret'
    ),
    ("B105", "src/leadsift/agents/cli.py", "Possible hardcoded password: 'True'"): (
        '"password_set": True says a password was set (its hash is stored); no secret'
    ),
    ("B105", "src/leadsift/web/i18n.py", "Possible hardcoded password: 'Mot de passe'"): (
        "the French label of the password field"
    ),
    # Ruff marks without a reason on the line: the reason is the module's rule.
    ("B608", "src/leadsift/contacts/bulk_repository.py", None): (
        "the import's driver-level SQL (house rule 2): only fixed column names, placeholders "
        "and int() batch ids are formatted into the text; every value is a bound parameter"
    ),
    ("B608", "src/leadsift/engagement/bulk_repository.py", None): (
        "the events' driver-level SQL (house rule 2): fixed column names, SQL types and "
        "placeholders only; every value is a bound parameter"
    ),
    ("B608", "src/leadsift/outreach/campaign_repository.py", None): (
        "the outbox insert: fixed column names and placeholders only"
    ),
    ("B101", "src/leadsift/contacts/merging.py", None): (
        "narrows a type the merge plan guarantees (a merge always has its source contact)"
    ),
    ("B101", "src/leadsift/criteria/ages.py", None): (
        "narrows a type the criteria checker guarantees"
    ),
    ("B101", "src/leadsift/criteria/evaluate.py", None): (
        "narrows a type the criteria checker guarantees"
    ),
    ("B101", "src/leadsift/criteria/sql.py", None): (
        "narrows a type the criteria checker guarantees"
    ),
}


@dataclass(frozen=True)
class Finding:
    """One bandit finding: check, file, first line, text, and the lines it spans."""

    check: str
    path: str
    line: int
    text: str
    lines: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.check} {self.text}"


def _finding(result: dict[str, Any]) -> Finding:
    path = Path(result["filename"])
    source = (ROOT / path).read_text(encoding="utf-8").splitlines()
    first, last = min(result["line_range"]), max(result["line_range"])
    return Finding(
        result["test_id"],
        path.as_posix(),
        result["line_number"],
        result["issue_text"],
        tuple(source[first - 1 : last]),
    )


def marked_with_reason(finding: Finding) -> bool:
    """Whether a line of the finding carries ruff's twin mark (S and the same number) with a
    reason after it."""
    twin = re.compile(rf"#\s*noqa:[^#]*\bS{finding.check[1:]}\b[^#—-]*[—-]+\s*\S")
    return any(twin.search(line) for line in finding.lines)


def accepted(finding: Finding) -> bool:
    """Whether ACCEPTED lists the finding."""
    return any((finding.check, finding.path, text) in ACCEPTED for text in (finding.text, None))


def unexplained(findings: list[Finding]) -> list[Finding]:
    """The findings neither marked with a reason nor accepted here."""
    return [f for f in findings if not marked_with_reason(f) and not accepted(f)]


def run_bandit() -> tuple[list[Finding], list[Any]]:
    """bandit over src/leadsift: its findings and the files it could not read."""
    result = subprocess.run(
        [sys.executable, "-m", "bandit", "-r", "src/leadsift", "-q", "-f", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    # bandit exits 1 when it finds anything: the report says what.
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    return [_finding(r) for r in report["results"]], report["errors"]


@pytest.mark.slow
def test_bandit_finds_nothing_unexplained() -> None:
    findings, errors = run_bandit()
    assert errors == [], f"bandit could not read: {errors}"
    left = unexplained(findings)
    assert left == [], (
        "bandit findings without a reason: fix them, or mark the line `# nosec BXXX — why` "
        "(or ruff's `# noqa: SXXX — why`), or accept them in ACCEPTED with why:\n"
        + "\n".join(map(str, left))
    )
    # Every acceptance still matches something: one that no longer does is removed.
    stale = [key for key in ACCEPTED if not any(_matches(key, f) for f in findings)]
    assert stale == [], f"ACCEPTED entries that match no finding any more: {stale}"


def _matches(key: tuple[str, str, str | None], finding: Finding) -> bool:
    check, path, text = key
    return (finding.check, finding.path) == (check, path) and text in (None, finding.text)


def _made_up(check: str, *lines: str, path: str = "src/leadsift/x.py") -> Finding:
    return Finding(check, path, 1, "text", lines)


def test_a_mark_counts_only_with_its_reason_and_for_its_own_check() -> None:
    assert marked_with_reason(_made_up("B101", "assert x  # noqa: S101 — set at start"))
    assert marked_with_reason(_made_up("B608", 'f"SELECT {c}"  # noqa: S608 - fixed names only'))
    assert marked_with_reason(_made_up("B603", "run(", "  # noqa: E501, S603 - fixed executable"))
    assert not marked_with_reason(_made_up("B101", "assert x  # noqa: S101"))
    assert not marked_with_reason(_made_up("B101", "assert x  # noqa: S101, E501"))
    assert marked_with_reason(_made_up("B101", "assert x  # noqa: S101, E501 — set at start"))
    assert not marked_with_reason(_made_up("B101", "assert x  # noqa: S608 — another check"))
    assert not marked_with_reason(_made_up("B101", "assert x  # noqa: S1010 — no such check"))
    assert not marked_with_reason(_made_up("B101", "assert x"))


def test_an_unmarked_finding_outside_the_accepted_list_is_reported() -> None:
    reasonless = _made_up("B608", 'f"SELECT {c}"  # noqa: S608')
    listed = _made_up(
        "B608", 'f"SELECT {c}"  # noqa: S608', path="src/leadsift/outreach/campaign_repository.py"
    )
    assert unexplained([reasonless, listed]) == [reasonless]
