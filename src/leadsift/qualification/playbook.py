"""Load a playbook from YAML text: every problem at once, each with its YAML path and line; pure."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from leadsift.errors import InvalidInputError
from leadsift.qualification.playbook_schema import (
    FitRule,
    InterestPolicy,
    InterestRule,
    Playbook,
    describe,
)

__all__ = [
    "ExpressionChecker",
    "ExpressionKind",
    "FitRule",
    "InterestPolicy",
    "InterestRule",
    "Playbook",
    "PlaybookError",
    "PlaybookProblem",
    "load_playbook",
]

ExpressionKind = Literal["eligibility", "fit", "interest", "qualify", "event", "assignment"]
ExpressionChecker = Callable[[str, ExpressionKind], str | None]
Loc = tuple[int | str, ...]

# Which model's keys are allowed at a mapping, by its path with list indexes left out.
_MODELS_AT: Final[dict[tuple[str, ...], type[BaseModel]]] = {
    (): Playbook,
    ("fit",): FitRule,
    ("interest",): InterestPolicy,
    ("interest", "rules"): InterestRule,
}
_EXPECTED: Final[dict[str, str]] = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "string_type": "text",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


@dataclass(frozen=True)
class PlaybookProblem:
    """One thing wrong in a playbook: where (YAML path, 1-based line) and what to do."""

    path: str
    line: int | None
    message: str

    def render(self, source: str) -> str:
        """`playbook.yaml:7: fit[1].points: expected an integer, got 'ten'`."""
        where = source if self.line is None else f"{source}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PlaybookError(InvalidInputError):
    """A playbook cannot be used; carries every problem found, in file order."""

    code = "invalid_playbook"

    def __init__(self, problems: Sequence[PlaybookProblem], *, source: str) -> None:
        self.problems = list(problems)
        self.source = source
        lines = [problem.render(source) for problem in self.problems]
        if len(lines) == 1:
            message = lines[0]
        else:
            message = "\n  ".join([f"{source}: {len(lines)} problems", *lines])
        super().__init__(message)

    def as_json(self) -> dict[str, Any]:
        """`{"problems": [{"path", "line", "message"}, …]}` for `--json` and the API."""
        return {
            "problems": [
                {"path": p.path, "line": p.line, "message": p.message} for p in self.problems
            ]
        }


def load_playbook(
    text: str, *, source: str, check_expression: ExpressionChecker | None = None
) -> Playbook:
    """Parse and validate a playbook; raise one PlaybookError listing every problem."""
    node, data = _parse_yaml(text, source)
    lines = _LineMap()
    lines.visit(node, ())
    problems = list(lines.problems)
    if not isinstance(data, dict):
        got = "nothing (the file is empty)" if data is None else describe(data)
        problems.append(
            PlaybookProblem(
                "", 1, f"expected a mapping with keys such as name and eligibility, got {got}"
            )
        )
        raise PlaybookError(problems, source=source)
    playbook: Playbook | None = None
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as error:
        problems.extend(_problem(detail, lines) for detail in error.errors())
    if check_expression is not None:
        for loc, expression, kind in _expressions(data):
            message = check_expression(expression, kind)
            if message is not None:
                problems.append(PlaybookProblem(_path(loc), lines.line(loc), message))
    if problems or playbook is None:
        raise PlaybookError(_in_file_order(problems), source=source)
    return playbook


def _parse_yaml(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    # SafeLoader builds plain data only; composing first keeps the nodes for line numbers.
    try:
        # The reader refuses control characters as soon as it is made: inside the try.
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as error:
        raise PlaybookError(
            [PlaybookProblem("", None, f"invalid YAML: {error}")], source=source
        ) from error
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        raise PlaybookError([_syntax_problem(error)], source=source) from error
    except yaml.YAMLError as error:
        raise PlaybookError(
            [PlaybookProblem("", None, f"invalid YAML: {error}")], source=source
        ) from error
    except RecursionError:
        # Thousands of nested brackets exhaust the parser's recursion: no playbook is that deep.
        problem = PlaybookProblem("", None, "invalid YAML: nested too deeply")
        raise PlaybookError([problem], source=source) from None
    finally:
        loader.dispose()
    return node, data


def _syntax_problem(error: yaml.MarkedYAMLError) -> PlaybookProblem:
    mark = error.problem_mark or error.context_mark
    what = error.problem or error.context or "unreadable"
    hint = " (indent with spaces, not tabs)" if "\\t" in what or "\t" in what else ""
    if mark is None:
        return PlaybookProblem("", None, f"invalid YAML: {what}{hint}")
    return PlaybookProblem(
        "", mark.line + 1, f"invalid YAML at column {mark.column + 1}: {what}{hint}"
    )


class _LineMap:
    """The 1-based line of every path in the composed YAML, and duplicate keys found on the way."""

    def __init__(self) -> None:
        self.lines: dict[Loc, int] = {}
        self.problems: list[PlaybookProblem] = []
        self._seen: set[int] = set()

    def visit(self, node: yaml.Node | None, loc: Loc) -> None:
        """Record the lines under `node`; an aliased node is walked once only."""
        if node is None or id(node) in self._seen:
            return
        self._seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            self._visit_mapping(node, loc)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.lines[(*loc, index)] = item.start_mark.line + 1
                self.visit(item, (*loc, index))

    def _visit_mapping(self, node: yaml.MappingNode, loc: Loc) -> None:
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            child = (*loc, key.value)
            line = key.start_mark.line + 1
            if child in self.lines:
                # YAML keeps the last value: lines under this key must point at that one.
                message = f"duplicate key (also written on line {self.lines[child]})"
                self.problems.append(PlaybookProblem(_path(child), line, message))
                self.lines = {k: v for k, v in self.lines.items() if k[: len(child)] != child}
            self.lines[child] = line
            self.visit(value, child)

    def line(self, loc: Loc) -> int | None:
        """The line of `loc`, else of its nearest written ancestor (a missing key's mapping)."""
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return None


def _path(loc: Loc) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else part)
    return "".join(parts)


def _problem(detail: ErrorDetails, lines: _LineMap) -> PlaybookProblem:
    loc: Loc = tuple(detail["loc"])
    kind = detail["type"]
    if kind == "invalid_key":
        # pydantic puts the offending key itself last in loc; YAML read it as a number or so.
        key, loc = loc[-1], loc[:-1]
        line = lines.line((*loc, str(key)))
        return PlaybookProblem(_path(loc), line, f"keys must be text, got {describe(key)}")
    message = _unknown_key(loc) if kind == "extra_forbidden" else _message(detail)
    return PlaybookProblem(_path(loc), lines.line(loc), message)


def _message(detail: ErrorDetails) -> str:
    kind = detail["type"]
    got = describe(detail.get("input"))
    if kind == "missing":
        return "required key is missing"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got}"
    ctx = detail.get("ctx") or {}
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}, got {got}"
    if kind == "playbook":
        return str(ctx.get("message", detail["msg"]))
    return detail["msg"]


def _unknown_key(loc: Loc) -> str:
    key = str(loc[-1])
    model = _MODELS_AT.get(tuple(part for part in loc[:-1] if isinstance(part, str)))
    allowed = list(model.model_fields) if model is not None else []
    close = get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key '{key}' — did you mean '{close[0]}'?"
    return f"unknown key '{key}' (expected one of: {', '.join(allowed)})"


def _expressions(data: Mapping[str, Any]) -> Iterator[tuple[Loc, str, ExpressionKind]]:
    """Every criteria text of the raw document that is text at all, with its path and kind."""
    yield from _text_at(data, ("eligibility",), "eligibility")
    yield from _text_at(data, ("qualify",), "qualify")
    fit = data.get("fit")
    if isinstance(fit, list):
        for index, rule in enumerate(fit):
            yield from _text_at(rule, ("fit", index, "when"), "fit")
    interest = data.get("interest")
    rules = interest.get("rules") if isinstance(interest, dict) else None
    if isinstance(rules, list):
        for index, rule in enumerate(rules):
            yield from _text_at(rule, ("interest", "rules", index, "event"), "event")
            yield from _text_at(rule, ("interest", "rules", index, "where"), "interest")
    assignment = data.get("assignment")
    rules = assignment.get("rules") if isinstance(assignment, dict) else None
    if isinstance(rules, list):
        for index, rule in enumerate(rules):
            yield from _text_at(rule, ("assignment", "rules", index, "when"), "assignment")


def _text_at(
    container: object, loc: Loc, kind: ExpressionKind
) -> Iterator[tuple[Loc, str, ExpressionKind]]:
    value = container.get(loc[-1]) if isinstance(container, dict) else None
    if isinstance(value, str) and value.strip():
        yield loc, value.strip(), kind


def _in_file_order(problems: list[PlaybookProblem]) -> list[PlaybookProblem]:
    # Problems without a line (a missing top-level key) come first: they concern the whole file.
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: p.line or 0)
