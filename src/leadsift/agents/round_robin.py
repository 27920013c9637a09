"""Assignment of prospects to sales agents by smooth weighted round robin; pure.

The state is nginx's smooth weighted round robin: at each pick every eligible member's current
weight grows by its weight and the picked member loses the total weight of the eligible
members, so a current weight is the member's lag behind its weighted share (times the total).
The pick itself is Tijdeman's rule for the chairman assignment problem, because nginx's "largest
current weight" can fall more than one item behind a share (weights 1,1,1,10,10,10,10 over 108
items): among members at least sigma = 1/(2k-2) behind their share after this pick, take the one
whose next pick is due first. Every member's count then stays within 1 - sigma of its share, for
every prefix of the sequence, so picks are spread evenly (2:1:1 gives A B C A, never A A B C). The
current weights are the whole state: persisted between runs, two runs give the same sequence as
one.
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
    eligible = [member for member in members if member.available and remaining[member.user_id] != 0]
    for _ in range(count):
        picked = _pick(eligible, current)
        if picked is not None and (left := remaining[picked]) is not None:
            remaining[picked] = left - 1
            if left == 1:  # at capacity now: out of the rotation
                eligible = [member for member in eligible if member.user_id != picked]
        picks.append(picked)
    # Only present members are kept: someone who left the team leaves the state too.
    return picks, {str(user_id): weight for user_id, weight in current.items()}


def _pick(eligible: Sequence[Member], current: dict[int, int]) -> int | None:
    if not eligible:
        return None
    total = sum(member.weight for member in eligible)
    for member in eligible:
        current[member.user_id] += member.weight
    chosen = _due_first(eligible, current, total)
    current[chosen.user_id] -= total
    return chosen.user_id


def _due_first(eligible: Sequence[Member], current: dict[int, int], total: int) -> Member:
    """Tijdeman's pick, in integers scaled by 2k-2 (sigma = 1/(2k-2)); ties go to the first."""
    scale = 2 * len(eligible) - 2
    if scale == 0:
        return eligible[0]
    # Behind by at least sigma: scale * lag >= total. After a change of members nobody may
    # qualify; the largest lag (nginx's rule) then picks.
    behind = [member for member in eligible if scale * current[member.user_id] >= total]
    if not behind:
        return max(eligible, key=lambda member: current[member.user_id])
    # When the next pick is due, relative to now: (total (1 - sigma) - lag) / weight, scaled.
    return min(
        behind,
        key=lambda member: (total * (scale - 1) - scale * current[member.user_id]) / member.weight,
    )


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
