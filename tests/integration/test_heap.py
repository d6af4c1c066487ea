"""The served process settles its heap once built (web/heap.py): what it holds then is frozen out
of the cyclic collector's way and the youngest generation collects less often; a re-index
settles it again; a process that never served (a test's, the CLI's) is left as it was."""

from __future__ import annotations

import gc
import weakref

import pytest

from chatbot.web import heap


@pytest.fixture
def collector_restored():
    thresholds, was = gc.get_threshold(), heap._settled
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    heap._settled = was


def test_the_served_app_has_frozen_what_it_built(live_server):
    state = live_server.health()["heap"]
    # Hundreds of thousands of objects (model, Gradio, the index's tables) outside collections.
    assert state["frozen"] > 100_000
    assert state["thresholds"] == list(heap.THRESHOLDS)


def test_settle_freezes_what_lives_and_a_cycle_made_later_is_still_collected(collector_restored):
    class Node:
        pass

    heap.settle()
    assert gc.get_freeze_count() > 0 and gc.get_threshold() == heap.THRESHOLDS
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: reference counting alone never frees it
    gone = [False]
    weakref.finalize(a, lambda: gone.__setitem__(0, True))
    del a, b
    gc.collect()
    assert gone[0]


def test_resettle_is_nothing_in_a_process_that_never_settled(collector_restored):
    gc.unfreeze()
    heap._settled = False
    before = gc.get_threshold()
    heap.resettle()
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
    heap._settled = True
    heap.resettle()
    assert gc.get_freeze_count() > 0
