"""Which read columns training keeps, and the rows it keeps of them (pure helpers)."""

from __future__ import annotations

import gc

import numpy as np

from leadsift.cli import main
from leadsift.scoring.training import _rows, _uninformative


def test_a_text_column_without_values_or_with_one_value_is_set_aside() -> None:
    assert _uninformative([None, None]) == "empty for every contact: nothing to learn"
    assert _uninformative([None, "a", "a", None]) == "the same for every contact: nothing to learn"
    assert _uninformative(["a", None, "a", "b"]) is None
    assert _uninformative([]) == "empty for every contact: nothing to learn"


def test_a_number_column_is_judged_on_its_known_values() -> None:
    nan = float("nan")
    assert _uninformative(np.array([nan, nan])) == "empty for every contact: nothing to learn"
    assert _uninformative(np.array([2.0, nan, 2.0])) == (
        "the same for every contact: nothing to learn"
    )
    assert _uninformative(np.array([2.0, nan, 3.0])) is None


def test_rows_keep_the_labelled_contacts_in_the_order_given() -> None:
    known = np.array([True, False, True, True])
    order = np.array([2, 0, 1])  # positions among the labelled rows
    assert _rows(["a", "b", "c", "d"], known, order) == ["d", "a", "c"]
    numbers = _rows(np.array([1.0, 2.0, 3.0, 4.0]), known, order)
    assert numbers.tolist() == [4.0, 1.0, 3.0]


def test_the_cli_called_in_process_freezes_nothing() -> None:
    # Only the program (main() reading sys.argv) freezes its objects; a caller's garbage
    # must stay collectable. (Objects frozen earlier in this process, e.g. by an app's
    # start-up, may be freed meanwhile: the count can only fall.)
    before = gc.get_freeze_count()
    assert main(["--help"]) == 0
    assert gc.get_freeze_count() <= before
