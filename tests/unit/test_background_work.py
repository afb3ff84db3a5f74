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
import weakref
from dataclasses import dataclass
from typing import Any

from bot.catalog.read import (
    BACKGROUND_SWITCH_INTERVAL,
    RELEASE_STEP,
    SORT_STEP,
    Swapped,
    building_index,
    clear_in_steps,
    indexes_follow,
    release_in_steps,
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


class Slices(list[int]):
    """A list that notes in ``log`` each slice it is emptied by."""

    def __init__(self, items: range, log: list[int]) -> None:
        super().__init__(items)
        self.log = log

    def __delitem__(self, key: Any) -> None:
        self.log.append(len(self))
        super().__delitem__(key)


class Index:
    """An index's shape: containers hanging from its attributes."""

    def __init__(self, n: int, log: list[int]) -> None:
        self.docs = Slices(range(n), log)
        self.by_name = {f"name-{i}": [i] for i in range(n)}
        self.ids = set(range(n))
        self.count = n


def test_clear_in_steps_empties_a_list_a_slice_at_a_time() -> None:
    log: list[int] = []
    items = Slices(range(3 * RELEASE_STEP + 5), log)
    clear_in_steps(items)
    assert items == [] and len(log) == 4


def test_a_replaced_index_is_freed_in_steps_when_nothing_else_holds_it() -> None:
    log: list[int] = []
    index = Index(3 * RELEASE_STEP + 1, log)
    by_name, gone = index.by_name, weakref.ref(index)
    holder: list[Any] = [index]
    del index
    release_in_steps(holder)
    assert holder == [] and gone() is None
    assert len(log) == 4  # its list, emptied in four slices
    assert len(by_name) == 3 * RELEASE_STEP + 1  # held here too: left whole


class Record:
    """A file's record in a sync's plan; logs the function whose code freed it."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def __del__(self) -> None:
        self.log.append(sys._getframe(1).f_code.co_name)


@dataclass(frozen=True)
class Working:
    winners: list[int]


@dataclass(frozen=True)
class SyncPlan:
    """A sync's plan and working state: records in a tuple, a dataclass holding a table."""

    files: tuple[Record, ...]
    work: Working


def test_a_plans_tuples_and_nested_records_are_freed_in_steps() -> None:
    """A tuple cannot be emptied, so its items move to a list emptied a slice at a time (each
    record freed by ``clear_in_steps``, with Python code between the slices, not all by the one
    C call that frees the tuple); a dataclass hanging from an attribute (a reconciler's working
    state) has its own containers emptied in steps too."""
    freed: list[str] = []
    sliced: list[int] = []
    plan = SyncPlan(
        tuple(Record(freed) for _ in range(2 * RELEASE_STEP + 3)),
        Working(Slices(range(3 * RELEASE_STEP + 1), sliced)),
    )
    holder: list[Any] = [plan]
    del plan
    release_in_steps(holder)
    assert len(freed) == 2 * RELEASE_STEP + 3 and set(freed) == {"clear_in_steps"}
    assert len(sliced) == 4  # the working state's list, emptied in four slices


def test_an_index_someone_still_holds_is_left_whole() -> None:
    log: list[int] = []
    index = Index(3 * RELEASE_STEP, log)
    still_used = index  # a search between its two hops, say
    holder: list[Any] = [index]
    del index
    release_in_steps(holder)
    assert holder == [] and log == []
    assert len(still_used.docs) == len(still_used.by_name) == 3 * RELEASE_STEP


def test_a_rebuild_frees_the_value_it_replaces_in_steps() -> None:
    log: list[int] = []
    generation = [1]
    swapped: Swapped[Index] = Swapped(
        lambda: generation[0],
        lambda: (generation[0], Index(3 * RELEASE_STEP, log)),
        lambda index: 0,  # kept out of gc.freeze: nothing to settle here
    )
    first = swapped.current()
    del first
    generation[0] = 2
    swapped.refresh()
    assert len(log) == 3 and swapped.current().count == 3 * RELEASE_STEP
    held = swapped.current()  # a reader still holding it when it is replaced
    generation[0] = 3
    swapped.refresh()
    assert len(log) == 3 and len(held.docs) == 3 * RELEASE_STEP
