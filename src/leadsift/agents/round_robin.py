"""Assignment of prospects to sales agents by smooth weighted round robin; pure.

The algorithm is nginx's smooth weighted round robin: at each pick every eligible member's
current weight grows by its weight, the member with the largest current weight is picked and
loses the total weight of the eligible members. Picks are spread evenly (2:1:1 gives A B A C,
not A A B C) and the counts stay within one item of the weighted share. The current weights
are the whole state: persisted between runs, two runs give the same sequence as one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Member:
    """One agent of the rotation: weight, availability and how many more items they may take."""

    user_id: int
    weight: int = 1
    available: bool = True  # False: disabled or absent
    capacity_left: int | None = None  # None: unlimited


def distribute(
    count: int, members: Sequence[Member], state: Mapping[str, int]
) -> tuple[list[int | None], dict[str, int]]:
    """The user id picked for each of COUNT items (None: nobody eligible) and the new state."""
    _check(count, members)
    current = {member.user_id: int(state.get(str(member.user_id), 0)) for member in members}
    remaining = {
        member.user_id: None if member.capacity_left is None else max(member.capacity_left, 0)
        for member in members
    }
    picks: list[int | None] = []
    for _ in range(count):
        eligible = [
            member for member in members if member.available and remaining[member.user_id] != 0
        ]
        picked = _pick(eligible, current)
        if picked is not None:
            left = remaining[picked]
            remaining[picked] = None if left is None else left - 1
        picks.append(picked)
    # Only present members are kept: someone who left the team leaves the state too.
    return picks, {str(user_id): weight for user_id, weight in current.items()}


def _pick(eligible: Sequence[Member], current: dict[int, int]) -> int | None:
    if not eligible:
        return None
    total = sum(member.weight for member in eligible)
    for member in eligible:
        current[member.user_id] += member.weight
    # max() keeps the first of equal values: ties go to the first in the members order.
    chosen = max(eligible, key=lambda member: current[member.user_id])
    current[chosen.user_id] -= total
    return chosen.user_id


def _check(count: int, members: Sequence[Member]) -> None:
    if count < 0:
        raise ValueError(f"cannot distribute a negative number of items ({count})")
    seen: set[int] = set()
    for member in members:
        if member.weight < 1:
            raise ValueError(f"user {member.user_id} has weight {member.weight}: at least 1")
        if member.user_id in seen:
            raise ValueError(f"user {member.user_id} appears twice in the rotation")
        seen.add(member.user_id)
