"""Run the CLI in-process and capture what it prints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from leadsift.cli import main


@dataclass
class Result:
    """Exit code and both streams of one CLI run."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """Stdout parsed as exactly one JSON document."""
        return json.loads(self.out)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """Run `leadsift ARGS…` and return what happened."""
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
