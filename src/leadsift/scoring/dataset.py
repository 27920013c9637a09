"""What predictive scoring learns from: feature columns, labels, options, and their encoding; pure.

Every feature becomes one float column of a matrix both learners read:

* numbers as they are, booleans as 0/1, datetimes as days before a reference time, all with NaN
  for a missing value;
* categories as codes: 0 … k−1 for the k most frequent values of the training rows (at most
  MAX_CATEGORIES, each seen at least MIN_CATEGORY_COUNT times), k for any other value (rare or
  unseen at training time) and k+1 for a missing one. LightGBM reads the codes as categories;
  the linear model one-hot encodes them (`linear.py`).

The encodings are plain lists and strings, so a model can be written as JSON (no pickle).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from itertools import repeat
from typing import Any, Literal, TypeAlias, get_args, overload

import numpy as np
import numpy.typing as npt

from leadsift.errors import InvalidInputError

FeatureKind = Literal["number", "category", "boolean", "datetime"]
FEATURE_KINDS: tuple[str, ...] = get_args(FeatureKind)
FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]

# More categories than this rarely help a model trained on a workspace's history and make the
# linear model's one-hot columns (and the model file) grow; the rest become "other".
MAX_CATEGORIES = 30
# A value seen fewer times than this cannot be learnt reliably: it counts as "other".
MIN_CATEGORY_COUNT = 10
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class FeatureColumn:
    """One feature: its name, its kind and one value per row (None when missing)."""

    name: str
    kind: FeatureKind
    values: Sequence[Any]


@dataclass(frozen=True)
class TrainingData:
    """Feature columns and 0/1 labels, rows in the order `holdout_last` cuts."""

    features: Sequence[FeatureColumn]
    labels: Sequence[bool]


@dataclass(frozen=True)
class TrainingOptions:
    """How to train: folds, an optional time-ordered holdout, overrides, limits, threads."""

    cv_folds: int = 5
    holdout_last: float | None = None
    include: frozenset[str] = frozenset()
    min_positives: int = 50
    threads: int = 2
    seed: int = 0
    reference_time: datetime | None = None


class FeatureValueError(InvalidInputError):
    """A feature value that its kind cannot read (a word in a number column, a naive datetime)."""

    code = "feature_value_invalid"


def category_key(value: Any) -> str | None:
    """The text a category value is compared by (None for missing, NaN included)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


def numbers(name: str, kind: FeatureKind, values: Sequence[Any], reference: datetime) -> FloatArray:
    """A number, boolean or datetime column as floats (NaN when missing)."""
    if kind == "datetime":
        return _days_before(name, values, reference)
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return np.asarray(values, dtype=np.float64)
    try:
        # numpy reads None as NaN and bools as 0/1 here, in C: the fast path for a million rows.
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        bad = next((value for value in values if not _is_number_like(value)), None)
        raise FeatureValueError(
            f"feature {name!r} is a {kind} but has the value {bad!r}: {error}"
        ) from None
    if array.ndim != 1:
        raise FeatureValueError(f"feature {name!r} must have one value per row")
    return array


def _is_number_like(value: Any) -> bool:
    if value is None or isinstance(value, int | float | bool):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _days_before(name: str, values: Sequence[Any], reference: datetime) -> FloatArray:
    out = np.empty(len(values), dtype=np.float64)
    for index, value in enumerate(values):
        if value is None:
            out[index] = math.nan
        elif not isinstance(value, datetime) or value.tzinfo is None:
            raise FeatureValueError(
                f"feature {name!r} is a datetime but has the value {value!r}"
                " (an aware datetime is needed)"
            )
        else:
            out[index] = (reference - value).total_seconds() / SECONDS_PER_DAY
    return out


class CodedTexts(Sequence[Any]):
    """A text column stored as codes into its distinct values (a bulk read makes it while the
    database works): it reads like the list of texts, and encodes without a lookup per row."""

    def __init__(self, codes: npt.NDArray[np.int32], values: Sequence[Any]) -> None:
        self.codes = codes
        self.values = values

    @classmethod
    def of(cls, texts: Sequence[str | None]) -> CodedTexts:
        """Texts (and None) as codes in order of first appearance."""
        first: dict[str | None, int] = {}
        # setdefault keeps each text's first row: codes are then those rows, ranked.
        rows = np.fromiter(map(first.setdefault, texts, itertools.count()), np.int64, len(texts))
        starts = np.fromiter(first.values(), np.int64, len(first))
        codes = np.searchsorted(starts, rows).astype(np.int32)
        return cls(codes, [texts[int(i)] for i in starts])

    def __len__(self) -> int:
        return len(self.codes)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> CodedTexts: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return CodedTexts(self.codes[index], self.values)
        return self.values[int(self.codes[index])]

    def __iter__(self) -> Iterator[Any]:
        return map(self.values.__getitem__, self.codes.tolist())


class CategoryCodes:
    """A category column read already coded by a model's encoding: 0 … k−1 for its kept
    values, k for any other value, k+1 for a missing one (PostgreSQL's bulk read codes texts
    on the server). Only the encoding with these very `categories` reads it."""

    def __init__(self, codes: npt.NDArray[np.int32], categories: Sequence[str]) -> None:
        self.codes = codes
        self.categories = tuple(categories)

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, index: slice) -> CategoryCodes:
        return CategoryCodes(self.codes[index], self.categories)


@dataclass(frozen=True)
class FeatureEncoding:
    """How one feature becomes a float column; `categories` only for category features."""

    name: str
    kind: FeatureKind
    categories: tuple[str, ...] = ()

    @property
    def other_code(self) -> int:
        """The code of a category value not among `categories`."""
        return len(self.categories)

    @property
    def missing_code(self) -> int:
        """The code of a missing category value."""
        return len(self.categories) + 1

    @cached_property
    def lookup(self) -> dict[str | None, float]:
        """Category text → code, missing included (built once per encoding)."""
        lookup: dict[str | None, float] = {key: float(i) for i, key in enumerate(self.categories)}
        lookup[None] = float(self.missing_code)
        return lookup

    @property
    def width(self) -> int:
        """How many codes a category feature has (kept values, other, missing)."""
        return len(self.categories) + 2

    def encode(self, values: Sequence[Any], reference: datetime) -> FloatArray:
        """The feature's column: floats with NaN, or category codes."""
        if self.kind != "category":
            return numbers(self.name, self.kind, values, reference)
        if isinstance(values, CategoryCodes):
            if values.categories != self.categories:
                raise ValueError(f"{self.name!r} was coded for other categories")
            return values.codes.astype(np.float64)
        if isinstance(values, CodedTexts):
            table = [self.encode_one(value, reference) for value in values.values]
            return np.asarray(table, dtype=np.float64)[values.codes]
        lookup, other = self.lookup, float(self.other_code)
        # dict.get over the values runs in C; only values that are not plain strings (ints, NaN)
        # and so fell to "other" are looked at again in Python.
        codes = np.fromiter(map(lookup.get, values, repeat(other)), np.float64, len(values))
        for index in np.flatnonzero(codes == other):
            value = values[int(index)]
            if not isinstance(value, str):
                codes[index] = lookup.get(category_key(value), other)
        return codes

    def encode_one(self, value: Any, reference: datetime) -> float:
        """One value's float, as `encode` gives it (a few rows are faster this way)."""
        if self.kind == "category":
            if isinstance(value, str):
                return self.lookup.get(value, float(self.other_code))
            return self.lookup.get(category_key(value), float(self.other_code))
        if value is None:
            return math.nan
        if self.kind == "datetime":
            return float(_days_before(self.name, [value], reference)[0])
        try:
            return float(value)
        except (TypeError, ValueError):
            raise FeatureValueError(
                f"feature {self.name!r} is a {self.kind} but has the value {value!r}"
            ) from None

    def label(self, code: int) -> str:
        """A category code as the user reads it."""
        if code < len(self.categories):
            return self.categories[code]
        return "(other)" if code == self.other_code else "(missing)"

    def to_document(self) -> dict[str, Any]:
        """JSON-safe form."""
        document: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind == "category":
            document["categories"] = list(self.categories)
        return document

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> FeatureEncoding:
        """Read `to_document`'s form back (ValueError/KeyError/TypeError when malformed)."""
        name, kind = document["name"], document["kind"]
        if not isinstance(name, str) or kind not in FEATURE_KINDS:
            raise ValueError(f"bad feature {name!r} of kind {kind!r}")
        categories = tuple(document.get("categories", ()))
        if not all(isinstance(value, str) for value in categories):
            raise ValueError(f"bad categories for feature {name!r}")
        return cls(name, kind, categories)


def fit_encoding(column: FeatureColumn, rows: int) -> FeatureEncoding:
    """The encoding of a feature, learnt from its first `rows` values (the training part)."""
    if column.kind != "category":
        return FeatureEncoding(column.name, column.kind)
    counts = category_counts(column.values[:rows])
    # Most frequent first; ties in a fixed (alphabetical) order so training is reproducible.
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = tuple(key for key, count in ranked[:MAX_CATEGORIES] if count >= MIN_CATEGORY_COUNT)
    return FeatureEncoding(column.name, "category", kept)


def category_counts(values: Sequence[Any]) -> Counter[str]:
    """How many times each category text occurs (missing values not counted)."""
    # Counter counts the raw values in C; only the distinct ones go through category_key.
    counts: Counter[str] = Counter()
    for value, count in Counter(values).items():
        key = category_key(value)
        if key is not None:
            counts[key] += count
    return counts


def factorise(values: Sequence[Any]) -> IntArray:
    """Category values as integers: 0 for missing, 1… for each distinct text."""
    codes: dict[str, int] = {}
    index: dict[Any, int] = {}
    for value in Counter(values):
        key = category_key(value)
        index[value] = 0 if key is None else codes.setdefault(key, len(codes) + 1)
    return np.fromiter(map(index.__getitem__, values), np.int64, len(values))


# Up to this many rows, encoding value by value beats numpy's per-column overhead.
FEW_ROWS = 16


def encode(
    encodings: Sequence[FeatureEncoding],
    columns: Mapping[str, Sequence[Any]],
    reference: datetime,
) -> FloatArray:
    """The model matrix (rows × features, Fortran order: built column by column)."""
    rows = len(columns[encodings[0].name]) if encodings else 0
    coded = any(isinstance(columns[encoding.name], CategoryCodes) for encoding in encodings)
    if rows <= FEW_ROWS and not coded:
        few = [
            [encoding.encode_one(columns[encoding.name][row], reference) for encoding in encodings]
            for row in range(rows)
        ]
        return np.array(few, dtype=np.float64).reshape(rows, len(encodings))
    matrix = np.empty((rows, len(encodings)), dtype=np.float64, order="F")
    for index, encoding in enumerate(encodings):
        matrix[:, index] = encoding.encode(columns[encoding.name], reference)
    return matrix
