"""Keeping the event loop's thread from waiting on background work: a built index answers
as it is while a sync of this process runs, which rebuilds it at its end (``Swapped``,
``indexes_follow``; with a real sync in ``tests/integration/test_index_swap.py``); what a sync
or an index build changes for the whole process (``building_index``: the cyclic collector
paused, the GIL's switch interval shortened); the sort index builds use instead of one long
``sorted`` (``sorted_in_steps``)."""

from __future__ import annotations

import gc
import random
import sys

from bot.catalog.read import (
    BACKGROUND_SWITCH_INTERVAL,
    SORT_STEP,
    Swapped,
    building_index,
    indexes_follow,
    sorted_in_steps,
)


class Counted:
    """A value built from a generation counter, counting builds and generation reads."""

    def __init__(self) -> None:
        self.generation = 1
        self.builds = 0
        self.reads = 0

    def read(self) -> int:
        self.reads += 1
        return self.generation

    def build(self) -> tuple[int, list[int]]:
        self.builds += 1
        return self.generation, [self.generation]


def test_during_a_sync_of_this_process_the_previous_value_answers_without_a_rebuild() -> None:
    source = Counted()
    swapped: Swapped[list[int]] = Swapped(source.read, source.build, len)
    first = swapped.current()
    source.generation = 2  # the sync committed; its index rebuild has not started yet
    with indexes_follow():
        reads = source.reads
        assert swapped.current() is first
        assert source.builds == 1 and source.reads == reads  # not even a generation read
        swapped.refresh()  # the sync's own rebuild, at its end
        assert swapped.current() == [2] and source.builds == 2
    source.generation = 3  # another process's sync: the first reader after it rebuilds
    assert swapped.current() == [3] and source.builds == 3


def test_a_stale_value_with_no_sync_under_way_is_rebuilt_by_its_reader() -> None:
    source = Counted()
    swapped: Swapped[list[int]] = Swapped(source.read, source.build, len)
    with indexes_follow():
        assert swapped.current() == [1]  # nothing built yet: the first reader builds it
    source.generation = 2
    assert swapped.current() == [2] and source.builds == 2


def test_background_work_pauses_the_collector_and_shortens_the_switch_interval() -> None:
    interval, enabled = sys.getswitchinterval(), gc.isenabled()
    sys.setswitchinterval(0.005)
    gc.enable()
    try:
        with building_index():
            assert not gc.isenabled()
            assert sys.getswitchinterval() == BACKGROUND_SWITCH_INTERVAL
            with building_index():  # an index build inside a sync
                pass
            assert sys.getswitchinterval() == BACKGROUND_SWITCH_INTERVAL
        assert gc.isenabled() and sys.getswitchinterval() == 0.005
    finally:
        sys.setswitchinterval(interval)
        if not enabled:
            gc.disable()


def test_sorted_in_steps_sorts_like_sorted_and_is_stable() -> None:
    rng = random.Random(7)
    items = [(rng.choice("abcdefgh"), rng.randrange(10**6)) for _ in range(5 * SORT_STEP + 17)]
    assert sorted_in_steps(items) == sorted(items)
    by_letter = sorted_in_steps(items, key=lambda item: item[0])
    assert by_letter == sorted(items, key=lambda item: item[0])  # equal keys keep their order
    assert sorted_in_steps(iter(items[:5])) == sorted(items[:5])
    assert sorted_in_steps([]) == []
