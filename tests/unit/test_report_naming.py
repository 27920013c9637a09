"""Report rows named by people are ordered with their numbers by value."""

from __future__ import annotations

from leadsift.analytics.naming import natural_key


def test_numbers_inside_names_sort_by_value() -> None:
    names = ["traffic-10", "traffic-2", "Traffic-1", "traffic-1", "email", "traffic-10b", "a9z"]
    assert sorted(names, key=natural_key) == [
        "a9z",
        "email",
        "Traffic-1",
        "traffic-1",
        "traffic-2",
        "traffic-10",
        "traffic-10b",
    ]


def test_the_key_orders_numbers_and_text_without_comparing_them_to_each_other() -> None:
    names = ["2024", "spring", "10", "(none)", ""]
    assert sorted(names, key=natural_key) == ["", "(none)", "spring", "10", "2024"]
