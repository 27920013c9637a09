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

With equal weights the rule comes down to "the first member with the largest current weight"
(everyone's lag grows alike), kept in a heap: 100 agents take 50,000 items in 0.05 s instead
of 0.7 s, the same picks.
"""

from __future__ import annotations

import heapq
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
    eligible = [member for member in members if member.available and remaining[member.user_id] != 0]
    if eligible and all(member.weight == eligible[0].weight for member in eligible):
        picks = _equal_turns(count, eligible, current, remaining)
    else:
        picks = _turns(count, eligible, current, remaining)
    # Only present members are kept: someone who left the team leaves the state too.
    return picks, {str(user_id): weight for user_id, weight in current.items()}


def _turns(
    count: int,
    eligible: list[Member],
    current: dict[int, int],
    remaining: dict[int, int | None],
) -> list[int | None]:
    """COUNT picks among ELIGIBLE (CURRENT and REMAINING updated as they go)."""
    picks: list[int | None] = []
    for _ in range(count):
        picked = _pick(eligible, current)
        if picked is not None and (left := remaining[picked]) is not None:
            remaining[picked] = left - 1
            if left == 1:  # at capacity now: out of the rotation
                eligible = [member for member in eligible if member.user_id != picked]
        picks.append(picked)
    return picks


def _equal_turns(
    count: int,
    eligible: list[Member],
    current: dict[int, int],
    remaining: dict[int, int | None],
) -> list[int | None]:
    """`_turns` for members of one weight: the same picks, each in O(log k).

    Every eligible member's current weight grows by the weight at each pick, so the heap
    keeps them less the growth so far (`steps * weight`) and their order never changes but
    for the one picked: the first (in members' order) with the largest current weight.
    """
    weight, size, steps = eligible[0].weight, len(eligible), 0
    heap = [
        (-current[member.user_id], index, member.user_id) for index, member in enumerate(eligible)
    ]
    heapq.heapify(heap)
    picks: list[int | None] = []
    while heap and len(picks) < count:
        lag, index, user_id = heap[0]
        steps += 1
        kept = -lag - weight * size  # its current weight, less the growth of all the picks
        picks.append(user_id)
        left = remaining[user_id]
        if left is not None:
            remaining[user_id] = left - 1
        if left == 1:  # at capacity now: out of the rotation, its weight grows no more
            heapq.heappop(heap)
            current[user_id] = kept + weight * steps
            size -= 1
        else:
            heapq.heapreplace(heap, (-kept, index, user_id))
    for lag, _, user_id in heap:
        current[user_id] = -lag + weight * steps
    return picks + [None] * (count - len(picks))


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
